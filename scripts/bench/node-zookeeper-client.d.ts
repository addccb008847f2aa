// The slice of node-zookeeper-client 1.x (which ships no types) that the benchmark uses.
declare module 'node-zookeeper-client' {
  import type { EventEmitter } from 'node:events';

  export interface ClientOptions {
    sessionTimeout?: number;
    spinDelay?: number;
    retries?: number;
  }
  export interface ZkEvent {
    type: number;
    name: string;
    path: string;
  }
  export interface ZkException extends Error {
    code: number;
    name: string;
  }
  export interface Stat {
    version: number;
  }
  export type Callback = (error: ZkException | null) => void;

  export interface QueuedRequest {
    header: { type: number; xid: number; serialize(buffer: Buffer, offset: number): number };
    payload: unknown;
  }

  export interface ConnectionManager {
    queue(request: QueuedRequest, callback: (error: ZkException | null) => void): void;
  }

  export interface Client extends EventEmitter {
    connect(): void;
    close(): void;
    connectionManager: ConnectionManager;
    create(path: string, data: Buffer, mode: number, callback: (error: ZkException | null, path: string) => void): void;
    setData(path: string, data: Buffer, version: number, callback: (error: ZkException | null, stat: Stat) => void): void;
    getData(path: string, callback: (error: ZkException | null, data: Buffer, stat: Stat) => void): void;
    getData(path: string, watcher: (event: ZkEvent) => void, callback: (error: ZkException | null, data: Buffer, stat: Stat) => void): void;
    getChildren(path: string, callback: (error: ZkException | null, children: string[], stat: Stat) => void): void;
    /** With a watcher: a data watch when the node exists, an existence watch (fires on create) when not. */
    exists(path: string, watcher: (event: ZkEvent) => void, callback: (error: ZkException | null, stat: Stat | null) => void): void;
    remove(path: string, version: number, callback: (error: ZkException | null) => void): void;
    mkdirp(path: string, callback: (error: ZkException | null, path: string) => void): void;
    /** The negotiated session timeout, ms. */
    getSessionTimeout(): number;
  }

  interface ZooKeeperModule {
    createClient(connectionString: string, options?: ClientOptions): Client;
    CreateMode: { PERSISTENT: number; EPHEMERAL: number; EPHEMERAL_SEQUENTIAL: number };
    Exception: { NODE_EXISTS: number; NO_NODE: number; CONNECTION_LOSS: number };
  }
  const zookeeper: ZooKeeperModule;
  export default zookeeper;
}

declare module 'node-zookeeper-client/lib/jute/index.js' {
  import type { QueuedRequest } from 'node-zookeeper-client';

  interface JuteModule {
    OP_CODES: { SYNC: number; DELETE: number; GET_DATA: number };
    protocol: {
      RequestHeader: new () => QueuedRequest['header'];
      GetACLRequest: new () => { path: string };
    };
    Request: new (header: QueuedRequest['header'], payload: unknown) => QueuedRequest;
  }
  const jute: JuteModule;
  export default jute;
}
