// The `zookeeper` npm package (Node bindings of ZooKeeper's own C client, built from source by
// node-gyp at install) through its promise API, typed for the tests: every call has a deadline.
import { createRequire } from 'node:module';
import { withDeadline } from '../../scripts/bench/processes.js';

/** The C client's stat: zxids as numbers, times as Dates, ephemeralOwner as a hex string. */
export interface CStat {
  czxid: number;
  mzxid: number;
  pzxid: number;
  ctime: Date;
  mtime: Date;
  version: number;
  cversion: number;
  aversion: number;
  dataLength: number;
  numChildren: number;
  ephemeralOwner: string;
  createdInThisSession: boolean;
}
export interface CAcl {
  perms: number;
  scheme: string;
  auth: string;
}
export type CWatcher = (type: number, state: number, path: string) => void;

/** The slice of lib/zk_promise.js the tests use. Failures reject with Error(`${rc} ${message}`). */
export interface CClient {
  readonly client_id: string;
  readonly client_password: string;
  readonly timeout: number;
  readonly state: number;
  init(config: object): CClient;
  once(event: 'connect' | 'close', listener: () => void): void;
  setEncoding(encoding: string): void;
  close(): void;
  create(path: string, data: string, flags: number, ttl?: number): Promise<string>;
  exists(path: string, watch: boolean): Promise<CStat>;
  w_exists(path: string, watcher: CWatcher): Promise<CStat>;
  get(path: string, watch: boolean): Promise<[CStat, string]>;
  w_get(path: string, watcher: CWatcher): Promise<[CStat, string]>;
  get_children(path: string, watch: boolean): Promise<string[]>;
  w_get_children(path: string, watcher: CWatcher): Promise<string[]>;
  get_children2(path: string, watch: boolean): Promise<[string[], CStat]>;
  w_get_children2(path: string, watcher: CWatcher): Promise<[string[], CStat]>;
  set(path: string, data: string, version: number): Promise<CStat>;
  delete_(path: string, version: number): Promise<void>;
  get_acl(path: string): Promise<[CAcl[], CStat]>;
  set_acl(path: string, version: number, acl: CAcl[]): Promise<void>;
  sync(path: string): Promise<string>;
  add_auth(scheme: string, auth: string, callback: (rc: number, error: string) => void): number;
  mkdirp(path: string, callback: (error: Error | null) => void): void;
}

interface CClientModule {
  new (config: object): CClient;
  readonly constants: Readonly<Record<string, number>>;
}

const require = createRequire(import.meta.url);
export const ZooKeeperC = require('zookeeper') as CClientModule;
export const zk = ZooKeeperC.constants;
export const replyDeadlineMs = 10_000;

/** A connected session; the C library's own log (stderr) is off: debug_level 0. */
export async function openCClient(connectString: string, sessionTimeoutMs = 4_000): Promise<CClient> {
  const client = new ZooKeeperC({ connect: connectString, timeout: sessionTimeoutMs, debug_level: 0, host_order_deterministic: false });
  client.setEncoding('utf8');
  const connected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.init({});
  try {
    await withDeadline(connected, 15_000, `a C-client session on ${connectString}`);
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

export function bounded<T>(promise: Promise<T>, what = 'a C-client call'): Promise<T> {
  return withDeadline(promise, replyDeadlineMs, what);
}

/** The ZooKeeper return code a call ended with: 0 (ZOK) on success, else the rc of its rejection. */
export async function rcOf(promise: Promise<unknown>): Promise<number> {
  try {
    await bounded(promise);
    return 0;
  } catch (err) {
    const rc = /^(-?\d+) /.exec((err as Error).message)?.[1];
    if (rc === undefined) throw err;
    return Number(rc);
  }
}

export function addAuth(client: CClient, scheme: string, auth: string): Promise<void> {
  return bounded(new Promise<void>((resolve, reject) => {
    const rc = client.add_auth(scheme, auth, (code, error) => (code === 0 ? resolve() : reject(new Error(`${code} ${error}`))));
    if (rc !== 0) reject(new Error(`${rc} add_auth`));
  }), 'add_auth');
}

export function mkdirp(client: CClient, path: string): Promise<void> {
  return bounded(new Promise<void>((resolve, reject) => client.mkdirp(path, (error) => (error === null || error === undefined ? resolve() : reject(error)))), 'mkdirp');
}

/** A one-shot C-client watcher and the promise of its (type, path). */
export function cWatcher(what: string): { fn: CWatcher; event: Promise<{ type: number; path: string }> } {
  let fire: (e: { type: number; path: string }) => void = () => undefined;
  const event = withDeadline(new Promise<{ type: number; path: string }>((resolve) => (fire = resolve)), replyDeadlineMs, `the ${what} watch`);
  event.catch(() => undefined);
  return { fn: (type, _state, path) => fire({ type, path }), event };
}
