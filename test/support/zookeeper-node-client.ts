// node-zookeeper-client (callbacks) as promises, for the ZooKeeper-protocol tests. Every wait has a
// deadline, so a server that never answers fails the test instead of hanging it.
import zookeeper, { type ACL, type Client, type OpResult, type Stat, type Transaction, type ZkEvent, type ZkException } from 'node-zookeeper-client';
import jute from 'node-zookeeper-client/lib/jute/index.js';
import { withDeadline } from '../../scripts/bench/processes.js';

export { zookeeper };
export type { ACL, Client, OpResult, Stat, ZkEvent };

export const sessionTimeoutMs = 4_000;
export const replyDeadlineMs = 10_000;
const connectDeadlineMs = 15_000;

/** A connected session. `spinDelay` is how long the client waits before dialling the next server. */
export async function openClient(connectString: string, options: { sessionTimeoutMs?: number; spinDelayMs?: number } = {}): Promise<Client> {
  const client = zookeeper.createClient(connectString, { sessionTimeout: options.sessionTimeoutMs ?? sessionTimeoutMs, spinDelay: options.spinDelayMs ?? 100, retries: 0 });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  try {
    await withDeadline(connected, connectDeadlineMs, `a session on ${connectString}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/** Close the session (the server ends it at once: its ephemerals go) and wait for the socket to drop. */
export async function closeClient(client: Client): Promise<void> {
  const disconnected = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
  client.close();
  await withDeadline(disconnected, 5_000, 'the session to close').catch(() => undefined);
}

function call<T>(what: string, start: (done: (error: ZkException | null, value: T) => void) => void): Promise<T> {
  return withDeadline(new Promise<T>((resolve, reject) => start((error, value) => (error === null || error === undefined ? resolve(value) : reject(error)))), replyDeadlineMs, what);
}

/** The ZooKeeper error code a failed call ended with (OK = 0 when it succeeded). */
export async function codeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return zookeeper.Exception.OK;
  } catch (err) {
    const code = (err as Partial<ZkException>).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

export function create(c: Client, path: string, data: string | Buffer = '', mode: number = zookeeper.CreateMode.PERSISTENT, acls: ACL[] = zookeeper.ACL.OPEN_ACL_UNSAFE): Promise<string> {
  return call(`create ${path}`, (done) => c.create(path, Buffer.from(data), acls, mode, done));
}

export function mkdirp(c: Client, path: string, data: string = ''): Promise<string> {
  return call(`mkdirp ${path}`, (done) => c.mkdirp(path, Buffer.from(data), zookeeper.CreateMode.PERSISTENT, done));
}

export function getData(c: Client, path: string, watcher?: (event: ZkEvent) => void): Promise<{ data: string; stat: Stat }> {
  return call(`getData ${path}`, (done) => {
    const cb = (error: ZkException | null, data: Buffer, stat: Stat): void => done(error, { data: data === undefined || data === null ? '' : data.toString(), stat });
    if (watcher === undefined) c.getData(path, cb);
    else c.getData(path, watcher, cb);
  });
}

export function setData(c: Client, path: string, data: string, version = -1): Promise<Stat> {
  return call(`setData ${path}`, (done) => c.setData(path, Buffer.from(data), version, done));
}

export function remove(c: Client, path: string, version = -1): Promise<void> {
  return call(`delete ${path}`, (done) => c.remove(path, version, (error) => done(error, undefined)));
}

/** The stat, or null when the node does not exist. With a watcher: NodeCreated when absent, NodeDataChanged/NodeDeleted when present. */
export function exists(c: Client, path: string, watcher?: (event: ZkEvent) => void): Promise<Stat | null> {
  return call(`exists ${path}`, (done) => {
    if (watcher === undefined) c.exists(path, done);
    else c.exists(path, watcher, done);
  });
}

/** getChildren2: the names (sorted here; the server's order is unspecified) and the parent's stat. */
export function getChildren(c: Client, path: string, watcher?: (event: ZkEvent) => void): Promise<{ children: string[]; stat: Stat }> {
  return call(`getChildren ${path}`, (done) => {
    const cb = (error: ZkException | null, children: string[], stat: Stat): void => done(error, { children: error === null ? [...children].sort() : [], stat });
    if (watcher === undefined) c.getChildren(path, cb);
    else c.getChildren(path, watcher, cb);
  });
}

export function getACL(c: Client, path: string): Promise<{ acls: ACL[]; stat: Stat }> {
  return call(`getACL ${path}`, (done) => c.getACL(path, (error, acls, stat) => done(error, { acls, stat })));
}

export function setACL(c: Client, path: string, acls: ACL[], version = -1): Promise<Stat> {
  return call(`setACL ${path}`, (done) => c.setACL(path, acls, version, done));
}

/** Commit a transaction: the error (null on success) and the per-op results either way. */
export function commit(build: (t: Transaction) => Transaction, c: Client): Promise<{ error: ZkException | null; results: OpResult[] }> {
  return withDeadline(new Promise((resolve) => build(c.transaction()).commit((error, results) => resolve({ error, results }))), replyDeadlineMs, 'multi');
}

/**
 * A request node-zookeeper-client 1.x has no method for: the payload of a request it knows goes
 * out under another op code (the same trick as scripts/bench/systems/zookeeper.ts), and the
 * reply is decoded as the known request's (the client frames replies by length, so a longer
 * reply's unread tail is harmless).
 */
function disguised<T>(what: string, c: Client, ops: { wire: number; decodeAs: number }, payload: unknown, value: (response: unknown) => T): Promise<T> {
  const header = new jute.protocol.RequestHeader();
  header.type = ops.decodeAs;
  const serialize = header.serialize.bind(header);
  header.serialize = (buffer: Buffer, offset: number): number => {
    header.type = ops.wire;
    try {
      return serialize(buffer, offset);
    } finally {
      header.type = ops.decodeAs;
    }
  };
  return call(what, (done) => c.connectionManager.queue(new jute.Request(header, payload), (error, response) => done(error, error === null ? value(response) : (undefined as T))));
}

/** ZooKeeper's sync(path): SyncRequest and GetACLRequest are both `{ ustring path }`; the reply is read as a DELETE's (no body). */
export function sync(c: Client, path: string): Promise<void> {
  const payload = new jute.protocol.GetACLRequest();
  payload.path = path;
  return disguised(`sync ${path}`, c, { wire: jute.OP_CODES.SYNC, decodeAs: jute.OP_CODES.DELETE }, payload, () => undefined);
}

/** ZooKeeper's createContainer op (19): a CreateRequest with flags 4, answered by a Create2Response read as a CreateResponse. */
export const opCreateContainer = 19;
export const containerFlags = 4;
export function createContainer(c: Client, path: string, data = ''): Promise<string> {
  const payload = new jute.protocol.CreateRequest();
  payload.path = path;
  payload.data = Buffer.from(data);
  payload.acl = zookeeper.ACL.OPEN_ACL_UNSAFE.map((acl) => acl.toRecord());
  payload.flags = containerFlags;
  return disguised(`createContainer ${path}`, c, { wire: opCreateContainer, decodeAs: jute.OP_CODES.CREATE }, payload, (response) => (response as { payload: { path: string } }).payload.path);
}

/** A one-shot watcher and the promise of its event (bounded). */
export function watcher(what: string): { fn: (event: ZkEvent) => void; event: Promise<ZkEvent> } {
  let fire: (event: ZkEvent) => void = () => undefined;
  const event = withDeadline(new Promise<ZkEvent>((resolve) => (fire = resolve)), replyDeadlineMs, `the ${what} watch`);
  // A watch that never fires is only an error when the test awaits it.
  event.catch(() => undefined);
  return { fn: (e) => fire(e), event };
}

/** A 64-bit stat field (zxid, time, session id) as a bigint. */
export function long(value: Buffer): bigint {
  return value.readBigInt64BE(0);
}

export function sessionIdOf(c: Client): bigint {
  return c.getSessionId().readBigInt64BE(0);
}
