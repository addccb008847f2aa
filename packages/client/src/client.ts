/**
 * The operations of docs/design.md on top of the session: argument mapping (namespace, UTF-8 data,
 * options to request fields), deadlines, and results with the namespace stripped again.
 */
import {
  VigilError,
  childrenPageMax,
  type AclEntry,
  type Consistency,
  type CreateFields,
  type CreateMode,
  type MultiOp as WireMultiOp,
  type MultiOpResult as WireMultiOpResult,
  type Op,
  type OpResult,
  type RequestBody,
  type ResultOf,
  type Stat,
} from '@vigil/protocol';
import { wireAcl, type Identity } from './acl.js';
import { resolveEndpoints, resolveOptions, type ConnectOptions, type ResolvedOptions } from './options.js';
import { Namespace } from './paths.js';
import { Session, type Answer, type ConnectionState } from './session.js';
import { EventStream, type WatchStream } from './watch-stream.js';
import { Watches, type OneShotKind, type PersistentWatchEvent, type WatchEvent } from './watches.js';
import { loadOpenSocket } from './web-socket.js';

export interface CallOptions {
  /** Aborting rejects the call with CANCELLED (a sent write may still take effect). */
  readonly signal?: AbortSignal | undefined;
  /** This call's deadline; default: the client's requestTimeoutMs. Past it: TIMEOUT. */
  readonly timeoutMs?: number;
}

export interface ReadOptions extends CallOptions {
  /** 'linearizable' (default) or 'sequential' (served from the connected server's state). */
  readonly consistency?: Consistency;
}

export interface CreateOptions extends CallOptions {
  /** Default 'persistent'. */
  readonly mode?: CreateMode;
  /** Required for the 'ttl' modes. */
  readonly ttlMs?: number;
  /** Create missing ancestors as persistent nodes (they get the same `acl`). */
  readonly createParents?: boolean;
  /**
   * The node's ACL (e.g. `acls.creatorAll`). Absent: `acls.open` on a server without `--auth`,
   * else the creating user alone with every permission.
   */
  readonly acl?: readonly AclEntry[];
}

export interface WatchOptions {
  /** Also every node below the path (created, deleted, dataChanged; no childrenChanged). */
  readonly recursive?: boolean;
  /** Replay the events after this revision first (gapless from a revision you have seen). */
  readonly fromRevision?: number;
}

export type Data = Uint8Array | string;

export type MultiOp =
  | { readonly op: 'create'; readonly path: string; readonly data?: Data; readonly mode?: CreateMode; readonly ttlMs?: number; readonly createParents?: boolean; readonly acl?: readonly AclEntry[] }
  | { readonly op: 'set'; readonly path: string; readonly data: Data; readonly version?: number }
  | { readonly op: 'delete'; readonly path: string; readonly version?: number }
  | { readonly op: 'check'; readonly path: string; readonly version?: number };

export type MultiOpResult = WireMultiOpResult;

type OneShotListener = (event: WatchEvent) => void;

const utf8 = new TextEncoder();

/** Opens a session with one of the endpoints; resolves with a client in state 'connected'. */
export async function connect(options: ConnectOptions): Promise<VigilClient> {
  const resolved = resolveOptions(options);
  const namespace = new Namespace(resolved.namespace);
  const openSocket = await loadOpenSocket(resolved.tls);
  const session = new Session({ ...resolved, openSocket, pathFromServer: (path) => namespace.fromServer(path) });
  const watches = new Watches(session, namespace);
  session.setHooks(watches);
  await session.open();
  return new VigilClient({ session, watches, namespace, options: resolved });
}

/** @internal What `connect()` hands the client. */
export interface ClientParts {
  readonly session: Session;
  readonly watches: Watches;
  readonly namespace: Namespace;
  readonly options: ResolvedOptions;
}

export class VigilClient {
  private readonly session: Session;
  private readonly watches: Watches;
  private readonly namespace: Namespace;
  private readonly options: ResolvedOptions;

  /** @internal Use `connect()`. */
  constructor(parts: ClientParts) {
    this.session = parts.session;
    this.watches = parts.watches;
    this.namespace = parts.namespace;
    this.options = parts.options;
  }

  /** The current session's id (a new one after an expiry; 0 while there is none). */
  get sessionId(): number {
    return this.session.sessionId;
  }
  get state(): ConnectionState {
    return this.session.state;
  }
  /** The highest revision seen in any welcome, response or event. */
  get lastRevision(): number {
    return this.session.lastRevision;
  }
  /**
   * Replaces the endpoints the client dials from now on, as ZooKeeper's `updateServerList` does:
   * after members were added or removed, give the client the new list. The current connection
   * stays; the next reconnect (a lost connection, a removed member shutting down) uses the new
   * list. Same rules as connect's `endpoints` (BAD_ARGUMENTS otherwise).
   */
  setEndpoints(endpoints: readonly string[]): void {
    this.session.setEndpoints(resolveEndpoints(endpoints, this.options.tls));
  }

  /** The member id of the server currently connected (0 when none). */
  get serverId(): number {
    return this.session.serverId;
  }

  /** The session timeout the server granted (the requested one until the first welcome). */
  get sessionTimeoutMs(): number {
    return this.session.negotiatedSessionTimeoutMs;
  }

  /**
   * Until when (on the `performance.now()` clock) the current session certainly lives, as far as
   * this client can prove it; 0 with no session. A server in touch with the leader that answers a
   * ping, a write or a linearizable read heard the session no earlier than when the request was
   * sent (a server cut off from the leader answers pings NO_LEADER; sequential reads prove
   * nothing); members report what they hear to the leader well within a timeout, and the leader
   * expires a session only a full timeout after its last reported sighting. Half a timeout after the send time of the latest answered request
   * leaves the other half as margin for a sighting a crashed member never reported. While
   * connected, pings every third of the timeout keep this ahead of the clock; it stops moving
   * while suspended. Recipes abort their leases when it passes (docs/recipes.md).
   */
  get sessionAliveUntilMs(): number {
    const confirmedAtMs = this.session.confirmedAtMs;
    return confirmedAtMs === 0 ? 0 : confirmedAtMs + this.session.negotiatedSessionTimeoutMs / 2;
  }

  /** Listens to connection state changes; returns the unsubscribe. */
  on(event: 'state', listener: (state: ConnectionState) => void): () => void {
    if (event !== 'state') throw new VigilError('BAD_ARGUMENTS', `unknown event ${String(event)}`);
    return this.session.onState(listener);
  }

  async create(path: string, data: Data = new Uint8Array(0), options: CreateOptions = {}): Promise<{ path: string; stat: Stat }> {
    const result = await this.write('create', { op: 'create', ...this.createFields(path, data, options) }, options);
    return { path: this.namespace.fromServer(result.path), stat: result.stat };
  }

  async get(path: string, options: ReadOptions & { readonly watch?: OneShotListener } = {}): Promise<{ data: Uint8Array; stat: Stat }> {
    const serverPath = this.namespace.toServer(path);
    const result = await this.read('get', { op: 'get', path: serverPath, ...readFields(options) }, options, this.arming('data', serverPath, options.watch, () => true));
    return { data: result.data, stat: result.stat };
  }

  async set(path: string, data: Data, options: CallOptions & { readonly version?: number } = {}): Promise<Stat> {
    const body = { op: 'set', path: this.namespace.toServer(path), data: bytesOf(data), ...versionField(options.version) } as const;
    return (await this.write('set', body, options)).stat;
  }

  async delete(path: string, options: CallOptions & { readonly version?: number } = {}): Promise<void> {
    await this.write('delete', { op: 'delete', path: this.namespace.toServer(path), ...versionField(options.version) }, options);
  }

  async exists(path: string, options: ReadOptions & { readonly watch?: OneShotListener } = {}): Promise<Stat | null> {
    const serverPath = this.namespace.toServer(path);
    const arming = this.arming('exists', serverPath, options.watch, (result) => result.op === 'exists' && result.stat !== null);
    return (await this.read('exists', { op: 'exists', path: serverPath, ...readFields(options) }, options, arming)).stat;
  }

  /**
   * All children (following `next` pages); a watch is armed with the first page. `revision` is
   * the revision the last page observed: a listing of one page is the state at that revision, and
   * `watch(path, { fromRevision: revision })` continues it without a gap.
   */
  async children(
    path: string,
    options: ReadOptions & { readonly withStats?: boolean; readonly watch?: OneShotListener } = {},
  ): Promise<{ names: string[]; stats?: Stat[]; revision: number }> {
    const serverPath = this.namespace.toServer(path);
    const deadline = this.deadline(options);
    const names: string[] = [];
    const stats: Stat[] = [];
    let after: string | undefined;
    let revision = 0;
    let arming = this.arming('children', serverPath, options.watch, () => true);
    // Each page strictly advances `after`, so the loop ends; a page count bound would only
    // limit how many children a node may have, which is the store's business.
    for (;;) {
      const body: RequestBody<'children'> = {
        op: 'children',
        path: serverPath,
        limit: childrenPageMax,
        ...(options.withStats === true ? { withStats: true } : {}),
        ...(after === undefined ? {} : { after }),
        ...readFields(arming === undefined ? { consistency: options.consistency } : options),
      };
      const { result: page, revision: pageRevision } = await this.readAt('children', body, { ...options, timeoutMs: deadline.remainingMs() }, arming);
      revision = pageRevision;
      arming = undefined;
      names.push(...page.names);
      if (page.stats !== undefined) stats.push(...page.stats);
      if (page.next === undefined) break;
      if (page.next === after) throw new VigilError('INTERNAL', `children of ${path}: the server repeated the page after ${JSON.stringify(after)}`);
      after = page.next;
    }
    return options.withStats === true ? { names, stats, revision } : { names, revision };
  }

  /** Atomic: all ops take effect at one revision, or none (the error names the failing op's `opIndex`). */
  async multi(ops: readonly MultiOp[], options: CallOptions = {}): Promise<MultiOpResult[]> {
    const wireOps = ops.map((op): WireMultiOp => {
      switch (op.op) {
        case 'create':
          return { op: 'create', ...this.createFields(op.path, op.data ?? new Uint8Array(0), op) };
        case 'set':
          return { op: 'set', path: this.namespace.toServer(op.path), data: bytesOf(op.data), ...versionField(op.version) };
        case 'delete':
        case 'check':
          return { op: op.op, path: this.namespace.toServer(op.path), ...versionField(op.version) };
      }
    });
    const result = await this.write('multi', { op: 'multi', ops: wireOps }, options);
    return result.results.map((r) => (r.op === 'create' ? { ...r, path: this.namespace.fromServer(r.path) } : r));
  }

  /** The node's ACL and stat (`stat.aversion` is the ACL's version). Needs READ or ADMIN on the node. */
  async getAcl(path: string, options: ReadOptions = {}): Promise<{ acl: AclEntry[]; stat: Stat }> {
    const body = { op: 'getAcl', path: this.namespace.toServer(path), ...readFields(options) } as const;
    const result = await this.read('getAcl', body, options, undefined);
    return { acl: [...result.acl], stat: result.stat };
  }

  /**
   * Replaces the node's ACL; needs ADMIN on it. `version`: the expected `aversion` (BAD_VERSION if
   * it differs). Exactly-once like every write (§3).
   */
  async setAcl(path: string, acl: readonly AclEntry[], options: CallOptions & { readonly version?: number } = {}): Promise<Stat> {
    const body = { op: 'setAcl', path: this.namespace.toServer(path), acl: wireAcl(acl), ...versionField(options.version) } as const;
    return (await this.write('setAcl', body, options)).stat;
  }

  /** Who the server takes this connection for: user, superuser, admin roles, address. */
  async whoami(options: CallOptions = {}): Promise<Identity> {
    const { user, superuser, roles, address } = await this.read('whoami', { op: 'whoami' }, options, undefined);
    return { ...(user === undefined ? {} : { user }), superuser, roles: [...roles], address };
  }

  /** Waits until the connected server has applied everything the leader had committed. */
  async sync(options: CallOptions = {}): Promise<void> {
    await this.read('sync', { op: 'sync' }, options, undefined);
  }

  /** A persistent watch as an async iterator (`for await … of`); `close()` or `break` unsubscribes. */
  watch(path: string, options?: WatchOptions & { readonly signal?: AbortSignal }): WatchStream;
  /** A persistent watch delivered to a listener; returns the unsubscribe. */
  watch(path: string, options: WatchOptions, listener: (event: PersistentWatchEvent) => void): () => void;
  watch(
    path: string,
    options: WatchOptions & { readonly signal?: AbortSignal } = {},
    listener?: (event: PersistentWatchEvent) => void,
  ): WatchStream | (() => void) {
    const serverPath = this.namespace.toServer(path);
    if (options.fromRevision !== undefined && (!Number.isSafeInteger(options.fromRevision) || options.fromRevision < 0)) {
      throw new VigilError('BAD_ARGUMENTS', `fromRevision: a revision (integer ≥ 0), not ${String(options.fromRevision)}`);
    }
    const refusal = this.session.refusal();
    if (refusal !== null) throw refusal;
    const base = { serverPath, userPath: path, recursive: options.recursive === true, fromRevision: options.fromRevision };
    if (listener !== undefined) {
      return this.watches.addPersistent({
        ...base,
        sink: {
          event: (event) => {
            try {
              listener(event);
            } catch {
              // The listener's failure is its own; the watch goes on.
            }
          },
          registered: () => undefined,
          end: () => undefined,
        },
      });
    }
    const stream = new EventStream();
    stream.bind(this.watches.addPersistent({ ...base, sink: stream }));
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) stream.close();
      else signal.addEventListener('abort', () => stream.close(), { once: true });
    }
    return stream;
  }

  /** Ends the session (its ephemerals are deleted) and the connection. Idempotent; later calls reject CLOSED. */
  close(): Promise<void> {
    return this.session.close();
  }

  // ---- plumbing ----

  private createFields(path: string, data: Data, options: CreateOptions | Extract<MultiOp, { op: 'create' }>): CreateFields {
    return {
      path: this.namespace.toServer(path),
      data: bytesOf(data),
      mode: options.mode ?? 'persistent',
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      ...(options.createParents === true ? { createParents: true } : {}),
      ...(options.acl === undefined ? {} : { acl: wireAcl(options.acl) }),
    };
  }

  /**
   * Writes are exactly-once: the session numbers each and, when its outcome is unknown (a lost
   * connection, a server's TIMEOUT), resends it under the same number after reconnecting, within
   * the deadline; the cluster applies it at most once and answers a resend with the first answer.
   * Only a deadline passing or the session expiring before an answer leaves the outcome unknown
   * (TIMEOUT, CONNECTION_LOSS).
   */
  private async write<O extends Op>(op: O, body: RequestBody<O>, options: CallOptions): Promise<ResultOf<O>> {
    const answer = await this.session.call(body, { timeoutMs: this.deadline(options).remainingMs(), signal: options.signal, resendable: false });
    return resultOf(op, answer);
  }

  /** Reads are resent after a reconnect, within their deadline. */
  private async read<O extends Op>(op: O, body: RequestBody<O>, options: CallOptions, onAnswer: ((answer: Answer) => void) | undefined): Promise<ResultOf<O>> {
    return (await this.readAt(op, body, options, onAnswer)).result;
  }

  /** A read with the revision it observed. */
  private async readAt<O extends Op>(op: O, body: RequestBody<O>, options: CallOptions, onAnswer: ((answer: Answer) => void) | undefined): Promise<{ result: ResultOf<O>; revision: number }> {
    const answer = await this.session.call(body, { timeoutMs: this.deadline(options).remainingMs(), signal: options.signal, resendable: true, onAnswer });
    return { result: resultOf(op, answer), revision: answer.revision };
  }

  /** The hook that registers a one-shot watch synchronously with its read's answer. */
  private arming(kind: OneShotKind, serverPath: string, listener: OneShotListener | undefined, existed: (result: OpResult) => boolean): ((answer: Answer) => void) | undefined {
    if (listener === undefined) return undefined;
    return (answer) => {
      const result = answer.result;
      const watchId = 'watchId' in result ? result.watchId : undefined;
      // No id: the server armed nothing (it answers `watchId` whenever `watch: true` was asked).
      if (watchId === undefined) return;
      this.watches.armOneShot({ kind, serverPath, listener, watchId, armedRevision: answer.revision, existed: existed(result) });
    };
  }

  private deadline(options: CallOptions): { remainingMs: () => number } {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new VigilError('BAD_ARGUMENTS', `timeoutMs: a positive number of ms, not ${String(timeoutMs)}`);
    const endsAt = Date.now() + timeoutMs;
    return { remainingMs: () => Math.max(1, endsAt - Date.now()) };
  }
}

function readFields(options: { readonly watch?: unknown; readonly consistency?: Consistency | undefined }): { watch?: true; consistency?: Consistency } {
  return {
    ...(options.watch === undefined ? {} : { watch: true as const }),
    ...(options.consistency === undefined ? {} : { consistency: options.consistency }),
  };
}

function versionField(version: number | undefined): { version?: number } {
  return version === undefined ? {} : { version };
}

function bytesOf(data: Data): Uint8Array {
  if (typeof data === 'string') return utf8.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new VigilError('BAD_ARGUMENTS', 'data: a Uint8Array or a string');
}

/** The server echoes the op in every response; anything else is a server bug, reported as INTERNAL. */
function resultOf<O extends Op>(op: O, answer: Answer): ResultOf<O> {
  if (answer.result.op !== op) throw new VigilError('INTERNAL', `asked ${op}, the server answered ${answer.result.op}`);
  return answer.result as ResultOf<O>;
}
