/**
 * One ZooKeeper client's TCP connection (docs/zookeeper-compatibility.md): packets of ZooKeeper's
 * jute encoding in, the same out. Each request becomes the Vigil request that does the same thing
 * (or a local read, for what `vigil.v1` has no op for), and the gateway's ClientConnection runs it
 * with the session, ordering and watch rules every client gets: a ZooKeeper session is a Vigil
 * session, in the same replicated table, so it moves between members as ZooKeeper's does.
 *
 * What ZooKeeper's clients rely on and this channel keeps:
 * - ZooKeeper's consistency: reads are served from this member's state, never older than anything
 *   the session has seen (also across a reconnection: the member first catches up to the client's
 *   last zxid); `sync` waits for a read index, so `sync` then a read is linearizable;
 * - answers leave in request order (the Java client drops a connection whose reply xids are out
 *   of order); pings, auth and setWatches answers use their fixed xids;
 * - a watch event leaves before the answer of any request that reflects its change, and one
 *   change fires one notification per path and type, whatever watches of this session it matched
 *   (ZooKeeper keeps one watch per path and type and connection);
 * - an error whose outcome is unknown (no leader, a timeout, the member stopping) is a lost
 *   connection, as it would be with ZooKeeper: the client reconnects and resumes the session.
 */
import type { Socket } from 'node:net';
import {
  childrenPageMax,
  dataBytesMax,
  frameBytesMax,
  inFlightRequestsMax,
  sessionSecretBytes,
  ttlMsMax,
  wireError,
  type CreateFields,
  type HelloFrame,
  type MultiOp,
  type MultiOpResult,
  type ServerFrame,
  type Stat,
  type WireError,
} from '@vigil/protocol';
import type { Caller, Store } from '@vigil/store';
import type { ChannelInput, ClientChannel, ConnectionRequest, LocalRead, LocalReadContext, Outcome } from '../gateway/client-connection.js';
import type { WatchKind } from '../gateway/watch-hub.js';
import type { Logger } from '../node/logger.js';
import { corkSocketThisTurn } from '../transport/cork.js';
import { storeError } from '../gateway/wire.js';
import { aclFromZk, aclToZk, createModeOf, zkErrorOf } from './zk-translate.js';
import {
  decodeConnectRequest,
  decodeRequest,
  encodeConnectResponse,
  encodeReply,
  encodeWatcherEvent,
  replyBody,
  zkErr,
  zkEvent,
  zkState,
  zkWatcherType,
  zkXid,
  type ZkMultiOp,
  type ZkMultiResult,
  type ZkRequest,
} from './zk-wire.js';

/** A ZooKeeper client's packet may be as large as a vigil.v1 frame (ZooKeeper's own default, jute.maxbuffer, is 1 MiB). */
const packetBytesMax = frameBytesMax;
/** After its last answer, a client gets this long to close its side before the socket is destroyed. */
const closeGraceMs = 10_000;
/** Reading stops while this many requests are unanswered, so that none is ever refused out of order. */
const unansweredMax = Math.floor((inFlightRequestsMax * 3) / 4);
/** An encodeResponse that means "close the connection instead", kept in its place in the answer order. */
const closeHere = new Uint8Array(0);
const nothing = new Uint8Array(0);

/** What the listener counts over all its connections (`srvr`, `mntr`). */
export interface ZooKeeperCounters {
  received: number;
  sent: number;
  /** Requests read and not answered yet. */
  outstanding: number;
  /** Answered requests, from read to answer (pings too, as ZooKeeper counts them). */
  readonly latency: { count: number; totalMs: number; minMs: number; maxMs: number };
}

export function newZooKeeperCounters(): ZooKeeperCounters {
  return { received: 0, sent: 0, outstanding: 0, latency: { count: 0, totalMs: 0, minMs: Number.POSITIVE_INFINITY, maxMs: 0 } };
}

interface Pending {
  readonly xid: number;
  readonly request: ZkRequest | { readonly type: 'malformed' };
  /** performance.now() when it was read. */
  readonly readAtMs: number;
}

/** A request before the connection gives it its id. */
type Unnumbered<T extends ConnectionRequest = ConnectionRequest> = T extends unknown ? Omit<T, 'id'> : never;

type ChildrenValue = { readonly names: string[]; readonly stat: Stat };

export class ZooKeeperChannel implements ClientChannel {
  private input: ChannelInput | null = null;
  private phase: 'connect' | 'handshaking' | 'open' | 'closed' = 'connect';
  private buffer: Buffer = Buffer.alloc(0);
  /** Packets that came before the session was open, or behind an `addauth` being checked. */
  private held: Uint8Array[] = [];
  private authenticating = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** Notifications already sent for the newest revision: one per path and event type. */
  private notifiedRevision = -1;
  private readonly notified = new Set<string>();
  private paused = false;

  constructor(
    private readonly socket: Socket,
    private readonly counters: ZooKeeperCounters,
    private readonly log: Logger,
    /** Bytes that were read before the channel existed (the listener looked for a four-letter word). */
    private readonly firstBytes: Buffer,
  ) {}

  start(input: ChannelInput): void {
    this.input = input;
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('close', () => {
      this.phase = 'closed';
      // Never answered now: no longer outstanding.
      this.counters.outstanding -= this.pending.size;
      this.pending.clear();
      input.channelClosed();
    });
    // An error is followed by 'close', which is what the connection acts on.
    this.socket.on('error', (err) => this.log.debug({ err }, 'zookeeper client socket error'));
    if (this.firstBytes.length > 0) this.onData(this.firstBytes);
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  send(bytes: Uint8Array): void {
    if (bytes === closeHere) {
      this.close(0, 'an answer only a lost connection can give');
      return;
    }
    if (bytes.length === 0 || this.socket.destroyed) return;
    corkSocketThisTurn(this.socket);
    this.socket.write(bytes);
  }

  close(_code: number, _reason: string): void {
    if (this.socket.destroyed) return;
    this.phase = 'closed';
    this.socket.end();
    setTimeout(() => this.socket.destroy(), closeGraceMs).unref();
  }

  // ---- packets in ----

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let at = 0;
    while (this.phase !== 'closed' && this.buffer.length - at >= 4) {
      const length = this.buffer.readInt32BE(at);
      if (length < 0 || length > packetBytesMax) {
        this.log.info({ length }, 'zookeeper client sent a packet length out of bounds; closing');
        this.socket.destroy();
        return;
      }
      if (this.buffer.length - at < 4 + length) break;
      const body = this.buffer.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      this.counters.received++;
      this.onPacket(body);
    }
    this.buffer = at === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(at);
  }

  private onPacket(body: Uint8Array): void {
    const input = this.input as ChannelInput;
    if (this.phase === 'connect') {
      this.phase = 'handshaking';
      this.onConnect(body);
      return;
    }
    if (this.phase !== 'open' || this.authenticating) {
      // Bounded as requests in flight are: a client that floods before its answer is misbehaving.
      if (this.held.length >= unansweredMax) {
        this.log.info({ held: this.held.length }, 'zookeeper client sent too many requests before its session or addauth was answered; closing');
        this.socket.destroy();
        return;
      }
      this.held.push(body);
      return;
    }
    let decoded: ReturnType<typeof decodeRequest>;
    try {
      decoded = decodeRequest(body);
    } catch (err) {
      // Without a readable header there is no xid to answer: the stream cannot be trusted further.
      this.log.info({ err }, 'zookeeper client sent an unreadable request header; closing');
      this.socket.destroy();
      return;
    }
    const { header } = decoded;
    if ('error' in decoded) {
      this.submit(header.xid, { type: 'malformed' }, refusal(wireError('MALFORMED_FRAME', decoded.error.message)), body.length);
      return;
    }
    const request = decoded.request;
    if (request.type === 'auth') {
      void this.addAuth(request.scheme, request.auth);
      return;
    }
    this.submit(header.xid, request, this.translate(request, input), body.length);
  }

  private onConnect(body: Uint8Array): void {
    let connect: ReturnType<typeof decodeConnectRequest>;
    try {
      connect = decodeConnectRequest(body);
    } catch (err) {
      this.log.info({ err }, 'zookeeper client sent an unreadable connect request; closing');
      this.socket.destroy();
      return;
    }
    const resume = connect.sessionId !== 0;
    if (resume && (connect.sessionId === null || connect.passwd.length !== sessionSecretBytes)) {
      // Not a session this cluster could have issued: ZooKeeper's answer to an expired one.
      this.sendExpired();
      return;
    }
    const hello: HelloFrame = {
      t: 'hello',
      protocolVersion: 1,
      sessionTimeoutMs: Math.max(1, connect.timeOut),
      ...(resume ? { session: { id: connect.sessionId as number, secret: connect.passwd, lastRevision: Math.max(0, connect.lastZxidSeen) } } : {}),
    };
    (this.input as ChannelInput).receive({ ok: true, value: hello }, body.length);
  }

  private sendExpired(): void {
    this.send(encodeConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0, passwd: new Uint8Array(sessionSecretBytes), readOnly: false }));
    this.close(0, 'session expired');
  }

  /** `addauth`: checked before anything the client sent after it (held meanwhile), as ZooKeeper does. */
  private async addAuth(scheme: string, auth: Uint8Array): Promise<void> {
    const input = this.input as ChannelInput;
    const text = Buffer.from(auth).toString('utf8');
    const colon = text.indexOf(':');
    let ok = false;
    if (scheme === 'digest' && colon > 0) {
      this.authenticating = true;
      const checked = await input.authenticate({ user: text.slice(0, colon), secret: text.slice(colon + 1) });
      this.authenticating = false;
      ok = checked.ok;
    }
    if (this.phase !== 'open') return;
    if (!ok) {
      // ZooKeeper's client goes to AUTH_FAILED on this answer, and the server ends the connection.
      this.send(encodeReply(zkXid.auth, 0, zkErr.authFailed));
      this.close(0, 'authentication failed');
      return;
    }
    this.send(encodeReply(zkXid.auth, 0, zkErr.ok));
    this.drainHeld();
  }

  private drainHeld(): void {
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      if (this.phase !== 'open') return;
      if (this.authenticating) {
        this.held.push(...held.slice(i));
        return;
      }
      this.onPacket(held[i] as Uint8Array);
    }
  }

  private submit(xid: number, request: Pending['request'], vigil: Unnumbered, bytes: number): void {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_ffff ? 1 : this.nextId + 1;
    this.pending.set(id, { xid, request, readAtMs: performance.now() });
    this.counters.outstanding++;
    if (!this.paused && this.pending.size >= unansweredMax) {
      this.paused = true;
      this.socket.pause();
    }
    (this.input as ChannelInput).receive({ ok: true, value: { ...vigil, id } as ConnectionRequest }, bytes);
  }

  /** The Vigil request that does what `r` asks. */
  private translate(r: ZkRequest, input: ChannelInput): Unnumbered {
    switch (r.type) {
      case 'ping':
        return { t: 'req', op: 'ping' };
      case 'create':
      case 'create2':
      case 'createContainer':
      case 'createTTL': {
        const fields = createFields(r);
        return typeof fields === 'string' || 'code' in fields ? refusal(typeof fields === 'string' ? wireError('BAD_ARGUMENTS', fields, { path: r.path }) : fields) : { t: 'req', op: 'create', ...fields };
      }
      case 'delete':
        return { t: 'req', op: 'delete', path: r.path, version: r.version };
      case 'exists':
        return { t: 'req', op: 'exists', path: r.path, watch: r.watch, consistency: 'sequential' };
      case 'getData':
        return { t: 'req', op: 'get', path: r.path, watch: r.watch, consistency: 'sequential' };
      case 'setData':
        if (r.data.length > dataBytesMax) return refusal(wireError('BAD_ARGUMENTS', `data is larger than ${dataBytesMax} bytes`, { path: r.path }));
        return { t: 'req', op: 'set', path: r.path, data: r.data, version: r.version };
      case 'getACL':
        return { t: 'req', op: 'getAcl', path: r.path, consistency: 'sequential' };
      case 'setACL': {
        const acl = aclFromZk(r.acl);
        if (typeof acl === 'string') return refusal(wireError('INVALID_ACL', acl, { path: r.path }));
        return { t: 'req', op: 'setAcl', path: r.path, acl, version: r.version };
      }
      case 'sync':
        return { t: 'req', op: 'sync' };
      case 'check':
        return { t: 'req', op: 'multi', ops: [{ op: 'check', path: r.path, version: r.version }] };
      case 'multi':
        return multiRequest(r.ops);
      case 'getChildren':
      case 'getChildren2':
        return localRead(false, (c) => {
          const read = allChildren(c.store, r.path, c.caller);
          if ('error' in read) return read;
          if (r.watch) {
            const watchId = c.arm(r.path, 'children');
            if (typeof watchId !== 'number') return { error: watchId };
          }
          return read;
        });
      case 'multiRead':
        return localRead(false, (c) => ({ value: r.ops.map((op) => readOne(c, op.type, op.path)) }));
      case 'closeSession':
        return { t: 'req', op: 'close' };
      case 'addWatch':
        if (r.mode !== 0 && r.mode !== 1) return refusal(wireError('BAD_ARGUMENTS', `addWatch mode ${r.mode} is neither persistent (0) nor persistent recursive (1)`, { path: r.path }));
        return { t: 'req', op: 'watch', path: r.path, mode: r.mode === 0 ? 'persistent' : 'persistentRecursive' };
      case 'setWatches':
        return localRead(false, (c) => setWatches(c, r));
      case 'removeWatches':
      case 'checkWatches':
        return localRead(false, (c) => {
          const kinds = watcherKinds(r.watcherType);
          const found = c.watches().filter((w) => w.path === r.path && kinds.includes(w.kind));
          if (found.length === 0) return { error: wireError('NO_WATCH', `no watch of type ${r.watcherType} on ${r.path}`, { path: r.path }) };
          if (r.type === 'removeWatches') for (const w of found) c.unwatch(w.watchId);
          return { value: null };
        });
      case 'getEphemerals':
        return localRead(false, (c) => {
          const all = c.store.session(c.sessionId)?.ephemerals ?? [];
          return { value: r.prefixPath === '/' ? [...all] : all.filter((p) => p.startsWith(r.prefixPath)) };
        });
      case 'getAllChildrenNumber':
        return localRead(false, (c) => descendantCount(c.store, r.path, c.caller));
      case 'whoAmI':
        return localRead(false, (c) => {
          const names = new Set((c.caller?.digests ?? []).map((d) => d.slice(0, d.indexOf(':'))));
          const user = input.user?.user;
          if (user !== undefined) names.add(user);
          // ZooKeeper's order: the digests as added, then the address.
          return { value: [...[...names].map((name) => ({ authScheme: 'digest', user: name })), { authScheme: 'ip', user: this.socket.remoteAddress ?? '' }] };
        });
      case 'auth':
      case 'unsupported':
        return refusal(wireError('UNKNOWN_OP', `ZooKeeper request ${r.type === 'auth' ? 'auth' : r.opCode} is not served here`));
    }
  }

  // ---- frames out ----

  private counted(answered: Pending): void {
    this.counters.outstanding--;
    const ms = performance.now() - answered.readAtMs;
    const latency = this.counters.latency;
    latency.count++;
    latency.totalMs += ms;
    latency.minMs = Math.min(latency.minMs, ms);
    latency.maxMs = Math.max(latency.maxMs, ms);
  }

  encodeResponse(id: number, _op: ConnectionRequest['op'] | undefined, outcome: Outcome): Uint8Array {
    const pending = this.pending.get(id);
    if (pending === undefined) return nothing;
    this.pending.delete(id);
    this.counted(pending);
    if (this.paused && this.pending.size < unansweredMax / 2) {
      this.paused = false;
      this.socket.resume();
    }
    this.counters.sent++;
    const { xid, request } = pending;
    const zxid = outcome.revision;
    if ('error' in outcome) {
      const err = zkErrorOf(outcome.error);
      if (err === null) return closeHere;
      if (request.type === 'multi' && outcome.error.opIndex !== undefined) {
        // ZooKeeper's failed multi: the ops before the failing one "would have worked", those after were not tried.
        const at = outcome.error.opIndex;
        const results: ZkMultiResult[] = request.ops.map((_, i) => ({ type: 'error', err: i < at ? zkErr.ok : i === at ? err : zkErr.runtimeInconsistency }));
        return encodeReply(xid, zxid, zkErr.ok, replyBody.multi(results));
      }
      return encodeReply(xid, zxid, err);
    }
    const result = outcome.result;
    switch (request.type) {
      case 'ping':
      case 'delete':
      case 'check':
      case 'closeSession':
      case 'removeWatches':
      case 'checkWatches':
        return encodeReply(xid, zxid, zkErr.ok);
      case 'addWatch':
        return encodeReply(xid, zxid, zkErr.ok, replyBody.addWatch());
      case 'create':
        return result.op === 'create' ? encodeReply(xid, zxid, zkErr.ok, replyBody.create(result.path)) : nothing;
      case 'create2':
      case 'createContainer':
      case 'createTTL':
        return result.op === 'create' ? encodeReply(xid, zxid, zkErr.ok, replyBody.create2(result.path, result.stat)) : nothing;
      case 'exists':
        if (result.op !== 'exists') return nothing;
        return result.stat === null ? encodeReply(xid, zxid, zkErr.noNode) : encodeReply(xid, zxid, zkErr.ok, replyBody.stat(result.stat));
      case 'getData':
        return result.op === 'get' ? encodeReply(xid, zxid, zkErr.ok, replyBody.getData(result.data, result.stat)) : nothing;
      case 'setData':
      case 'setACL':
        return result.op === 'set' || result.op === 'setAcl' ? encodeReply(xid, zxid, zkErr.ok, replyBody.stat(result.stat)) : nothing;
      case 'getACL':
        return result.op === 'getAcl' ? encodeReply(xid, zxid, zkErr.ok, replyBody.getACL(aclToZk(result.acl), result.stat)) : nothing;
      case 'sync':
        return encodeReply(xid, zxid, zkErr.ok, replyBody.sync(request.path));
      case 'multi':
        return result.op === 'multi' ? encodeReply(xid, zxid, zkErr.ok, replyBody.multi(multiResults(request.ops, result.results))) : nothing;
      case 'getChildren':
      case 'getChildren2': {
        if (result.op !== 'local') return nothing;
        const { names, stat } = result.value as ChildrenValue;
        return encodeReply(xid, zxid, zkErr.ok, request.type === 'getChildren' ? replyBody.getChildren(names) : replyBody.getChildren2(names, stat));
      }
      case 'multiRead':
        return result.op === 'local' ? encodeReply(xid, zxid, zkErr.ok, replyBody.multi(result.value as ZkMultiResult[])) : nothing;
      case 'setWatches': {
        if (result.op !== 'local') return nothing;
        // Changes the client missed while away fire at once, before the answer, as ZooKeeper's do.
        const fired = (result.value as { type: number; path: string }[]).map((e) => encodeWatcherEvent(e.type, zkState.syncConnected, e.path));
        return Buffer.concat([...fired, encodeReply(xid, zxid, zkErr.ok)]);
      }
      case 'getEphemerals':
        return result.op === 'local' ? encodeReply(xid, zxid, zkErr.ok, replyBody.getEphemerals(result.value as string[])) : nothing;
      case 'getAllChildrenNumber':
        return result.op === 'local' ? encodeReply(xid, zxid, zkErr.ok, replyBody.allChildrenNumber(result.value as number)) : nothing;
      case 'whoAmI':
        return result.op === 'local' ? encodeReply(xid, zxid, zkErr.ok, replyBody.whoAmI(result.value as { authScheme: string; user: string }[])) : nothing;
      default:
        return nothing;
    }
  }

  encodeFrame(frame: ServerFrame): Uint8Array {
    switch (frame.t) {
      case 'welcome':
        this.phase = 'open';
        // What arrived during the handshake is read once the answer to it has gone.
        if (this.held.length > 0) queueMicrotask(() => this.drainHeld());
        return encodeConnectResponse({ protocolVersion: 0, timeOut: frame.negotiatedTimeoutMs, sessionId: frame.sessionId, passwd: frame.secret, readOnly: false });
      case 'watch': {
        const packets: Buffer[] = [];
        for (const e of frame.events) {
          if (e.revision > this.notifiedRevision) {
            this.notifiedRevision = e.revision;
            this.notified.clear();
          }
          const key = `${e.kind}\0${e.path}`;
          if (e.revision === this.notifiedRevision) {
            if (this.notified.has(key)) continue;
            this.notified.add(key);
          }
          packets.push(encodeWatcherEvent(eventTypes[e.kind], zkState.syncConnected, e.path));
        }
        this.counters.sent += packets.length;
        return packets.length === 1 ? (packets[0] as Buffer) : Buffer.concat(packets);
      }
      case 'error':
        // A refused resume of a session that is gone is told as ZooKeeper tells it; any other refusal is a lost connection.
        if (this.phase === 'handshaking' && frame.error.name === 'SESSION_EXPIRED') {
          return encodeConnectResponse({ protocolVersion: 0, timeOut: 0, sessionId: 0, passwd: new Uint8Array(sessionSecretBytes), readOnly: false });
        }
        return nothing;
      default:
        return nothing;
    }
  }
}

const eventTypes = { created: zkEvent.nodeCreated, deleted: zkEvent.nodeDeleted, dataChanged: zkEvent.nodeDataChanged, childrenChanged: zkEvent.nodeChildrenChanged } as const;

/** A request refused before it reaches the store, answered in its place in the order. */
function refusal(error: WireError): Unnumbered<LocalRead> {
  return localRead(false, () => ({ error }));
}

/** ZooKeeper's reads are sequential (the member's state, never older than what the session saw); `sync` is the linearizable one. */
function localRead(linearizable: boolean, run: LocalRead['run']): Unnumbered<LocalRead> {
  return { t: 'req', op: 'local', linearizable, run };
}

/**
 * A create's fields in Vigil's terms; a string says why it is BAD_ARGUMENTS. As in ZooKeeper, the
 * op decides what flags can mean: only createContainer makes a container (container flags on a
 * plain create make a persistent node), and only createTTL takes the TTL modes.
 */
function createFields(r: Extract<ZkMultiOp, { flags: number }>): CreateFields | string | WireError {
  const flagged = createModeOf(r.flags);
  if (flagged === undefined) return `unknown create mode ${r.flags}`;
  const ttlMode = flagged === 'ttl' || flagged === 'persistent-sequential-ttl';
  if (ttlMode !== (r.type === 'createTTL')) return r.type === 'createTTL' ? `createTTL needs a TTL mode, not ${r.flags}` : `the TTL mode ${r.flags} needs createTTL`;
  const mode = r.type === 'createContainer' ? 'container' : flagged === 'container' ? 'persistent' : flagged;
  if (r.data.length > dataBytesMax) return `data is larger than ${dataBytesMax} bytes`;
  const ttl = mode === 'ttl' || mode === 'persistent-sequential-ttl';
  if (ttl && (!Number.isSafeInteger(r.ttl) || r.ttl < 1 || r.ttl > ttlMsMax)) return `a TTL node needs a ttl of 1..${ttlMsMax} ms, not ${r.ttl}`;
  const acl = aclFromZk(r.acl);
  if (typeof acl === 'string') return wireError('INVALID_ACL', acl, { path: r.path });
  return { path: r.path, data: r.data, mode, ...(ttl ? { ttlMs: r.ttl } : {}), acl };
}

function multiRequest(ops: readonly ZkMultiOp[]): Unnumbered {
  const vigilOps: MultiOp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as ZkMultiOp;
    switch (op.type) {
      case 'create':
      case 'create2':
      case 'createContainer':
      case 'createTTL': {
        const fields = createFields(op);
        if (typeof fields === 'string') return refusal(wireError('BAD_ARGUMENTS', fields, { path: op.path, opIndex: i }));
        if ('code' in fields) return refusal({ ...fields, opIndex: i });
        vigilOps.push({ op: 'create', ...fields });
        break;
      }
      case 'delete':
        vigilOps.push({ op: 'delete', path: op.path, version: op.version });
        break;
      case 'setData':
        vigilOps.push({ op: 'set', path: op.path, data: op.data, version: op.version });
        break;
      case 'check':
        vigilOps.push({ op: 'check', path: op.path, version: op.version });
        break;
    }
  }
  return { t: 'req', op: 'multi', ops: vigilOps };
}

function multiResults(ops: readonly ZkMultiOp[], results: readonly MultiOpResult[]): ZkMultiResult[] {
  return results.map((r, i) => {
    const op = ops[i] as ZkMultiOp;
    switch (r.op) {
      case 'create':
        return op.type === 'create' ? { type: 'create', path: r.path } : { type: 'create2', path: r.path, stat: r.stat };
      case 'set':
        return { type: 'setData', stat: r.stat };
      case 'delete':
        return { type: 'delete' };
      default:
        return { type: 'check' };
    }
  });
}

/** Every child of `path` at this moment and its Stat. */
function allChildren(store: Store, path: string, caller: Caller | undefined): { value: ChildrenValue } | { error: WireError } {
  const names = childNames(store, path, caller);
  if (!Array.isArray(names)) return { error: names };
  const stat = store.exists(path);
  if (!stat.ok || stat.value === null) return { error: wireError('NO_NODE', 'no such node', { path }) };
  return { value: { names, stat: stat.value } };
}

/** The names of every child of `path` (pages of the store read back to back, in one turn), or why not. */
function childNames(store: Store, path: string, caller: Caller | undefined): string[] | WireError {
  const names: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = store.children(path, { limit: childrenPageMax, ...(after === undefined ? {} : { after }) }, caller);
    if (!page.ok) return storeError(page.error);
    names.push(...page.value.names);
    if (page.value.next === undefined) return names;
    after = page.value.next;
  }
}

function readOne(c: LocalReadContext, type: 'getData' | 'getChildren', path: string): ZkMultiResult {
  if (type === 'getData') {
    const r = c.store.get(path, c.caller);
    if (!r.ok) return { type: 'error', err: zkErrorOf(storeError(r.error)) ?? zkErr.systemError };
    return { type: 'getData', data: r.value.data, stat: r.value.stat };
  }
  const names = childNames(c.store, path, c.caller);
  if (!Array.isArray(names)) return { type: 'error', err: zkErrorOf(names) ?? zkErr.systemError };
  return { type: 'getChildren', children: names };
}

/** How many nodes lie below `path` (ZooKeeper's getAllChildrenNumber). */
function descendantCount(store: Store, path: string, caller: Caller | undefined): { value: number } | { error: WireError } {
  const top = childNames(store, path, caller);
  if (!Array.isArray(top)) return { error: top };
  let count = 0;
  const stack = top.map((n) => (path === '/' ? `/${n}` : `${path}/${n}`));
  while (stack.length > 0) {
    const p = stack.pop() as string;
    count++;
    // Below the top, every node is counted whatever its ACL, as ZooKeeper counts them.
    const below = childNames(store, p, undefined);
    if (Array.isArray(below)) for (const n of below) stack.push(`${p}/${n}`);
  }
  return { value: count };
}

/**
 * ZooKeeper's setWatches after a reconnect: a watch whose node changed since the client's last
 * zxid fires at once, the others are armed again. A path the connection may not read is left out,
 * as a read with a watch on it would have been refused; past the session's watch limit the rest
 * is refused (QUOTAEXCEEDED) rather than dropped unsaid.
 */
function setWatches(c: LocalReadContext, r: Extract<ZkRequest, { type: 'setWatches' }>): { value: { type: number; path: string }[] } | { error: WireError } {
  const fired: { type: number; path: string }[] = [];
  const stat = (path: string): Stat | null => {
    const s = c.store.exists(path);
    return s.ok ? s.value : null;
  };
  const wanted: [readonly string[], (path: string) => number | WatchKind][] = [
    [r.dataWatches, (path) => {
      const s = stat(path);
      return s === null ? zkEvent.nodeDeleted : s.mzxid > r.relativeZxid ? zkEvent.nodeDataChanged : 'data';
    }],
    [r.existWatches, (path) => (stat(path) !== null ? zkEvent.nodeCreated : 'exists')],
    [r.childWatches, (path) => {
      const s = stat(path);
      return s === null ? zkEvent.nodeDeleted : s.pzxid > r.relativeZxid ? zkEvent.nodeChildrenChanged : 'children';
    }],
    [r.persistentWatches, () => 'persistent'],
    [r.persistentRecursiveWatches, () => 'persistentRecursive'],
  ];
  for (const [paths, decide] of wanted) {
    for (const path of paths) {
      if (!c.store.mayRead(path, c.caller)) continue;
      const what = decide(path);
      if (typeof what === 'number') fired.push({ type: what, path });
      else {
        const armed = c.arm(path, what);
        if (typeof armed !== 'number') return { error: armed };
      }
    }
  }
  return { value: fired };
}

/** The watch kinds a removeWatches / checkWatches type names. */
function watcherKinds(type: number): readonly string[] {
  switch (type) {
    case zkWatcherType.children:
      return ['children'];
    case zkWatcherType.data:
      return ['data', 'exists'];
    case zkWatcherType.any:
      return ['data', 'exists', 'children', 'persistent', 'persistentRecursive'];
    case 4:
      return ['persistent'];
    case 5:
      return ['persistentRecursive'];
    default:
      return [];
  }
}
