// The slice of node-zookeeper-client 1.x (which ships no types) that the benchmark and the
// ZooKeeper-protocol tests (test/zookeeper-node-client.test.ts) use.
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
  /** A znode's stat; the 64-bit fields (zxids, times, owner) arrive as 8-byte big-endian Buffers. */
  export interface Stat {
    czxid: Buffer;
    mzxid: Buffer;
    ctime: Buffer;
    mtime: Buffer;
    version: number;
    cversion: number;
    aversion: number;
    ephemeralOwner: Buffer;
    dataLength: number;
    numChildren: number;
    pzxid: Buffer;
  }
  export interface Id {
    scheme: string;
    id: string;
  }
  export interface ACL {
    permission: number;
    id: Id;
    toRecord(): unknown;
  }
  /** One result of a transaction: `err` set (and type -1) for a failed or rolled-back op. */
  export interface OpResult {
    type: number;
    path?: string;
    stat?: Stat;
    err?: number;
  }
  export interface Transaction {
    create(path: string, data?: Buffer, mode?: number): Transaction;
    create(path: string, data: Buffer, acls: ACL[], mode: number): Transaction;
    /** Beware: the client turns version 0 into -1 (`version || -1`), so a check of version 0 checks nothing. */
    check(path: string, version: number): Transaction;
    setData(path: string, data: Buffer, version: number): Transaction;
    remove(path: string, version: number): Transaction;
    commit(callback: (error: ZkException | null, results: OpResult[]) => void): void;
  }
  export type Callback = (error: ZkException | null) => void;

  export interface QueuedRequest {
    header: { type: number; xid: number; serialize(buffer: Buffer, offset: number): number };
    payload: unknown;
  }

  export interface ConnectionManager {
    queue(request: QueuedRequest, callback: (error: ZkException | null, response?: unknown) => void): void;
  }

  export interface Client extends EventEmitter {
    connect(): void;
    close(): void;
    connectionManager: ConnectionManager;
    create(path: string, data: Buffer, mode: number, callback: (error: ZkException | null, path: string) => void): void;
    create(path: string, data: Buffer, acls: ACL[], mode: number, callback: (error: ZkException | null, path: string) => void): void;
    getSessionId(): Buffer;
    getSessionPassword(): Buffer;
    getState(): { name: string; code: number };
    addAuthInfo(scheme: string, auth: Buffer): void;
    getACL(path: string, callback: (error: ZkException | null, acls: ACL[], stat: Stat) => void): void;
    setACL(path: string, acls: ACL[], version: number, callback: (error: ZkException | null, stat: Stat) => void): void;
    transaction(): Transaction;
    getChildren(path: string, watcher: (event: ZkEvent) => void, callback: (error: ZkException | null, children: string[], stat: Stat) => void): void;
    setData(path: string, data: Buffer, version: number, callback: (error: ZkException | null, stat: Stat) => void): void;
    getData(path: string, callback: (error: ZkException | null, data: Buffer, stat: Stat) => void): void;
    getData(path: string, watcher: (event: ZkEvent) => void, callback: (error: ZkException | null, data: Buffer, stat: Stat) => void): void;
    getChildren(path: string, callback: (error: ZkException | null, children: string[], stat: Stat) => void): void;
    /** With a watcher: a data watch when the node exists, an existence watch (fires on create) when not. */
    exists(path: string, watcher: (event: ZkEvent) => void, callback: (error: ZkException | null, stat: Stat | null) => void): void;
    exists(path: string, callback: (error: ZkException | null, stat: Stat | null) => void): void;
    remove(path: string, version: number, callback: (error: ZkException | null) => void): void;
    mkdirp(path: string, callback: (error: ZkException | null, path: string) => void): void;
    mkdirp(path: string, data: Buffer, mode: number, callback: (error: ZkException | null, path: string) => void): void;
    /** The negotiated session timeout, ms. */
    getSessionTimeout(): number;
  }

  interface ZooKeeperModule {
    createClient(connectionString: string, options?: ClientOptions): Client;
    CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number; EPHEMERAL: number; EPHEMERAL_SEQUENTIAL: number };
    Exception: {
      OK: number; NODE_EXISTS: number; NO_NODE: number; CONNECTION_LOSS: number; BAD_VERSION: number; NOT_EMPTY: number;
      NO_AUTH: number; RUNTIME_INCONSISTENCY: number; NO_CHILDREN_FOR_EPHEMERALS: number; INVALID_ACL: number; BAD_ARGUMENTS: number;
    };
    Event: { NODE_CREATED: number; NODE_DELETED: number; NODE_DATA_CHANGED: number; NODE_CHILDREN_CHANGED: number };
    Permission: { READ: number; WRITE: number; CREATE: number; DELETE: number; ADMIN: number; ALL: number };
    ACL: (new (permission: number, id: Id) => ACL) & { OPEN_ACL_UNSAFE: ACL[]; CREATOR_ALL_ACL: ACL[]; READ_ACL_UNSAFE: ACL[] };
    Id: new (scheme: string, id: string) => Id;
  }
  const zookeeper: ZooKeeperModule;
  export default zookeeper;
}

declare module 'node-zookeeper-client/lib/jute/index.js' {
  import type { QueuedRequest } from 'node-zookeeper-client';

  interface JuteModule {
    OP_CODES: { SYNC: number; DELETE: number; GET_DATA: number; CREATE: number; SET_DATA: number; CHECK: number; ERROR: number };
    protocol: {
      RequestHeader: new () => QueuedRequest['header'];
      GetACLRequest: new () => { path: string };
      CreateRequest: new () => { path: string; data: Buffer; acl: unknown[]; flags: number };
    };
    Request: new (header: QueuedRequest['header'], payload: unknown) => QueuedRequest;
  }
  const jute: JuteModule;
  export default jute;
}
