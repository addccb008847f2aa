/**
 * One client WebSocket, from `hello` to close (docs/protocol.md §3–§8).
 *
 * Ordering rules, which together give the session order of docs/design.md:
 * - Responses leave in the order the requests arrived (a FIFO of answer slots).
 * - Writes are proposed in arrival order and pipelined. A read reads only once every earlier
 *   write of the connection is applied on this server (a linearizable read also once its read
 *   index is), and before any later write of the connection is applied here: the driver stops
 *   its apply loop just before such a write (`pointBeforeWrite`) and the reads still waiting
 *   there read then (decision 42). So a write never waits for the reads before it, and reads and
 *   writes of one connection overlap. A write without a session sequence number (`close`, or a
 *   client that sends none) cannot be recognised in the log: it waits, as before decision 42,
 *   until every earlier read has read, and what follows it waits behind it.
 * - A watch event leaves before any response that reflects it: events are sent as the store
 *   applies them, and a response is only sent after its revision is applied here. A watch's
 *   events wait until the response that announced its id has gone out.
 *
 * A frame that cannot be read is refused alone when its request id is readable (the connection
 * goes on); otherwise the connection gets an `error` frame and is closed. Nothing a client sends
 * can throw out of this class.
 */
import {
  childrenPageMax,
  closeCodeNormal,
  closeCodeOf,
  frameBytesMax,
  handshakeTimeoutMs,
  inFlightRequestBytesMax,
  inFlightRequestsMax,
  outboundBytesMax,
  protocolVersion,
  watchEventsPerFrameMax,
  watchEventsQueuedMax,
  wireError,
  type ClientFrame,
  type ErrorCode,
  type HelloFrame,
  type OpResult,
  type Request,
  type ServerFrame,
  type Stat,
  type WatchEvent as WireWatchEvent,
  type WireError,
} from '@vigil/protocol';
import type { NodeId } from '@vigil/raft';
import { aclProblem, callerDigestsMax, digestId, pathProblem, roles as allRoles, type Caller, type Command, type Store, type WatchEvent } from '@vigil/store';
import { ServerError } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { anonymous, type Authenticator, type Credentials, type Identity } from '../security/authenticator.js';
import { withDeadline } from './deadline.js';
import type { LeaderLink } from './leader-link.js';
import type { SessionKeeper } from './session-keeper.js';
import { isOneShot, matches, type Registration, type WatchHub, type WatchKind, type WatchSink } from './watch-hub.js';
import { commandOf, storeError, thrownError, writeResult, type WriteRequest } from './wire.js';

/** Whether a member is in touch with a leader, and if not, why (for the NO_LEADER message). */
export type LeaderContact = { readonly ok: true } | { readonly ok: false; readonly why: string };

/** What a connection needs from its node; built once by the gateway. */
export interface GatewayServices {
  readonly nodeId: NodeId;
  readonly store: Store;
  readonly link: LeaderLink;
  readonly sessions: SessionKeeper;
  readonly watches: WatchHub;
  linearizableRead(signal: AbortSignal): Promise<number>;
  waitApplied(index: number): Promise<void>;
  /**
   * Whether this member heard from a leader recently enough to vouch for the sessions it hears
   * (answer their pings, resume them): a member cut off from the leader cannot report them, and the
   * leader will expire them while their clients believe them alive.
   */
  leaderContact(): LeaderContact;
  /**
   * Resolves true once `leaderContact()` is ok again, false after `leaderWaitMs` or when the
   * gateway closes: a resume that arrives during an election waits for its end at the door
   * instead of being sent away to dial again, and a ping waits out a lost packet's retransmission.
   */
  untilLeaderContact(): Promise<boolean>;
  readonly sessionTimeoutMsMin: number;
  readonly sessionTimeoutMsMax: number;
  readonly requestTimeoutMs: number;
  /** How long a resuming session waits for this server to reach its lastRevision. */
  readonly catchUpTimeoutMs: number;
  /**
   * The sessions this member serves at once (`--sessions-max`): a connection takes a slot at its
   * hello and gives it back when it closes; a hello that finds none is refused TOO_MANY_SESSIONS.
   */
  readonly sessionSlots: { take(): boolean; release(): void; readonly max: number };
  /** Requests (pings aside) a connection may send a second, in bursts of up to as many; more get TOO_MANY_REQUESTS. */
  readonly requestsPerSecond: number;
  /** Stamped into writes that create ephemeral nodes: the store refuses one past it (TOO_MANY_EPHEMERALS). */
  readonly ephemeralsPerSessionMax: number;
  /** Watches a session may hold here (at most the protocol's watchesPerSessionMax); more get TOO_MANY_WATCHES. */
  readonly watchesPerSessionMax: number;
  /** Who a hello's credentials (or client certificate) name, and what their writes carry (docs/security.md). */
  readonly authenticator: Authenticator;
  /** Bind a session to a connection; an earlier connection of it on this server is told `moved`. */
  attach(sessionId: number, connection: ClientConnection): void;
  detach(sessionId: number, connection: ClientConnection): void;
  readonly logger: Logger;
}

/**
 * How a connection's frames reach its client and how it ends: a WebSocket speaking `vigil.v1`
 * (WebSocketChannel) or a ZooKeeper-protocol TCP socket (zookeeper/zk-channel.ts). The connection
 * decides what to say and in which order; the channel says it in its own encoding.
 */
export interface ClientChannel {
  /** Called once, by the connection's constructor: the channel feeds it what arrives from now on. */
  start(connection: ChannelInput): void;
  /**
   * A response's bytes, made when the request is answered (they may wait for the answers before
   * them). `op` is the request's op, undefined when it was unreadable.
   */
  encodeResponse(id: number, op: ConnectionRequest['op'] | undefined, outcome: Outcome): Uint8Array;
  /** The bytes of a frame the server sends of its own accord (`welcome`, `watch`, `session`, `error`…). */
  encodeFrame(frame: ServerFrame): Uint8Array;
  send(bytes: Uint8Array): void;
  /** Bytes handed to `send` and not yet written to the socket. */
  readonly bufferedAmount: number;
  /** Ends the connection after what was sent, with this close code and reason where the channel has them. */
  close(code: number, reason: string): void;
}

/** What a channel hands its connection. */
export interface ChannelInput {
  /** A frame as decoded (or the reason it could not be), of `bytes` bytes on the wire. */
  receive(decoded: { readonly ok: true; readonly value: ClientFrame | LocalRead } | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly id?: number; readonly op?: Request['op'] } }, bytes: number): void;
  /** The channel cannot go on (a protocol violation it saw itself): tell the client why and close. */
  fail(code: ErrorCode, message: string): void;
  /** The socket closed. */
  channelClosed(): void;
  /** Who the connection acts as (null before its hello is accepted). */
  readonly user: Identity | null;
  /** Credentials that come after the hello (ZooKeeper's `addauth`): if they hold, the connection acts as their user from then on. */
  authenticate(credentials: Credentials): Promise<{ readonly ok: true } | { readonly ok: false; readonly why: string }>;
}

/**
 * A read that only another channel's protocol has (ZooKeeper's getChildren2, getEphemerals,
 * setWatches…): it takes its place in the connection's order like any read, and `run` reads this
 * server's state at that moment. Its value goes back to the channel as the result's `value`.
 */
export interface LocalRead {
  readonly t: 'req';
  readonly op: 'local';
  readonly id: number;
  /** Whether it first waits for a read index (as `sync` and linearizable reads do). */
  readonly linearizable: boolean;
  run(context: LocalReadContext): { readonly value: unknown } | { readonly error: WireError };
}

export interface LocalReadContext {
  readonly store: Store;
  /** What reads are checked with (undefined: not checked, a vigil.v1 connection to a member without --auth). */
  readonly caller: Caller | undefined;
  readonly sessionId: number;
  /** Registers a watch announced by this read's response: its id, or why not. */
  arm(path: string, kind: WatchKind): number | WireError;
  /** The connection's watches, for a protocol that names them by path (ZooKeeper's removeWatches). */
  watches(): readonly Registration[];
  /** Removes one of them; whether it was there. */
  unwatch(watchId: number): boolean;
}

/** Every request a connection takes: the protocol's, and reads of other channels. */
export type ConnectionRequest = Request | LocalRead;

/** How a request ended: its result or its error, at a revision. */
export type Outcome = { readonly revision: number } & ({ readonly result: OpResult | { readonly op: 'local'; readonly value: unknown } } | { readonly error: WireError });

interface Slot {
  readonly id: number;
  bytes: Uint8Array | null;
  /** A watch this response announces: its events may go once the response has. */
  announces: ConnectionWatch | null;
}

interface ConnectionWatch extends Registration {
  announced: boolean;
  /** Events (or a compaction floor) waiting for the announcing response. */
  readonly held: (WatchEvent | { readonly floor: number })[];
}

/** A request in the connection's order: a write until it is answered, a read until it has read. */
interface Queued {
  readonly request: ConnectionRequest;
  readonly slot: Slot;
  readonly bytes: number;
  readonly isRead: boolean;
  /** A read that must first see a read index applied here: `sync`, and get/exists/children unless sequential. */
  readonly linearizable: boolean;
  /** A write's session sequence number; 0 when it has none. */
  readonly seq: number;
  /** A write proposed; a linearizable read's read index asked for. */
  started: boolean;
  /** A linearizable read whose read index this server has applied. */
  readIndexApplied: boolean;
}

const readOps: ReadonlySet<ConnectionRequest['op']> = new Set(['get', 'exists', 'children', 'sync', 'watch', 'getAcl', 'local']);

/** Per-name and per-stat msgpack overhead, for keeping a children page within a frame. */
const nameOverheadBytes = 8;
const statBytes = 11 * 12 + 16;
export class ClientConnection implements WatchSink, ChannelInput {
  sessionId = 0;
  private phase: 'awaitingHello' | 'handshaking' | 'open' | 'closed' = 'awaitingHello';
  /** Taken at hello, given back at close (GatewayServices.sessionSlots). */
  private holdsSessionSlot = false;
  /** The rate limit's bucket: requests this connection may send now, refilled at requestsPerSecond. */
  private requestTokens: number;
  private requestTokensAtMs = performance.now();
  private readonly handshakeTimer: NodeJS.Timeout;
  private readonly slots: Slot[] = [];
  /** Requests in arrival order: writes until answered, reads until they have read. */
  private readonly queue: Queued[] = [];
  /** How many of them are reads: the driver asks `pointBeforeWrite` for every write it applies. */
  private queuedReads = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly watches = new Map<number, ConnectionWatch>();
  private nextWatchId = 1;
  /** Events for announced watches, sent as one frame per run of one watch. */
  private outgoing: { watchId: number; events: WireWatchEvent[] }[] = [];
  private outgoingCount = 0;
  private flushQueued = false;
  /** `close` was requested: the session's end is this connection's doing, not news to it. */
  private closingSession = false;
  private readonly log: Logger;
  /** Who the connection acts as, from its hello on. */
  private identity: Identity | null = null;
  /** What its writes carry and its reads are checked with (undefined: not checked — a vigil.v1 connection to a member without --auth). */
  private caller: Caller | undefined = undefined;
  /** ZooKeeper digest identities added with `addauth` (a `zookeeper` connection's). */
  private readonly digests: string[] = [];
  /**
   * The `seq` a `zookeeper` connection gives its next write (ZooKeeper's clients number nothing):
   * numbered, its writes pipeline past the reads before them as the SDK's do (decision 42). It
   * numbers within the range it claimed at its handshake, up to `seqLast` (decision 61).
   */
  private nextSeq = 0;
  private seqLast = 0;

  /**
   * `address`: the client's IP as `ip` ACLs match it; `certificateName`: the CN of a client
   * certificate the cluster's CA verified, or null.
   */
  constructor(
    private readonly channel: ClientChannel,
    private readonly s: GatewayServices,
    remote: string,
    private readonly address: string,
    private readonly certificateName: string | null,
    /**
     * ZooKeeper's rules: credentials come after the session is open (`addauth`), so a hello
     * without them opens or resumes the session as anonymous, even under `--auth`; ACLs are
     * checked whether or not the member runs with `--auth`, as ZooKeeper always checks them; and
     * a read waits for the linearizable reads before it (ZooKeeper processes a session's requests
     * in order, so a read after a `sync` sees what the sync saw).
     */
    private readonly zookeeper = false,
  ) {
    this.log = s.logger.child({ remote });
    this.requestTokens = s.requestsPerSecond;
    this.handshakeTimer = setTimeout(() => this.fail('HANDSHAKE_TIMEOUT', `no hello within ${handshakeTimeoutMs} ms`), handshakeTimeoutMs);
    channel.start(this);
  }

  /** Who the connection acts as (null before its hello is accepted). */
  get user(): Identity | null {
    return this.identity;
  }

  /**
   * Checks credentials that come after the hello (ZooKeeper's `addauth`); if they hold, the
   * connection acts as their user from its next request on.
   */
  async authenticate(credentials: Credentials): Promise<{ readonly ok: true } | { readonly ok: false; readonly why: string }> {
    const digest = digestId(credentials.user, credentials.secret);
    if (!this.digests.includes(digest) && this.digests.length >= callerDigestsMax) return { ok: false, why: `a connection holds at most ${callerDigestsMax} identities` };
    // With --auth the name and password must be a user's of the users table (or the superuser's);
    // without, ZooKeeper's digest auth checks nothing: the identity is what the ACLs' hashes match.
    if (this.s.authenticator.required) {
      const authenticated = await this.s.authenticator.authenticate(credentials, null, this.address);
      if (!authenticated.ok) {
        this.log.info({ user: credentials.user, why: authenticated.why }, 'authentication refused');
        return authenticated;
      }
      this.identity = authenticated.identity;
    }
    if (!this.digests.includes(digest)) this.digests.push(digest);
    this.caller = this.callerOf(this.identity ?? anonymous);
    return { ok: true };
  }

  /** What the connection's writes carry and its reads are checked with, acting as `identity`. */
  private callerOf(identity: Identity): Caller | undefined {
    const caller = this.s.authenticator.caller(identity, this.address);
    if (!this.zookeeper) return caller;
    return { ...(caller ?? { address: this.address }), ...(this.digests.length === 0 ? {} : { digests: [...this.digests] }) };
  }

  channelClosed(): void {
    this.onClosed();
  }

  get isOpen(): boolean {
    return this.phase === 'open';
  }

  /** The server is stopping or cannot serve: tell the client why and close. */
  fail(code: ErrorCode, message: string): void {
    if (this.phase === 'closed') return;
    this.flushEvents();
    this.sendFrame({ t: 'error', error: wireError(code, message) });
    this.close(closeCodeOf(code), code);
  }

  /** The session ended elsewhere (expired by the leader, or closed by another connection). */
  sessionEnded(): void {
    if (this.phase !== 'open' || this.closingSession) return;
    this.flushEvents();
    this.sendFrame({ t: 'session', state: 'expired' });
    this.close(closeCodeOf('SESSION_EXPIRED'), 'SESSION_EXPIRED');
  }

  /** Another connection resumed this session. */
  moved(): void {
    if (this.phase !== 'open') return;
    this.sendFrame({ t: 'session', state: 'moved' });
    this.close(closeCodeOf('SESSION_MOVED'), 'SESSION_MOVED');
  }

  // ---- watch sink ----

  deliver(watchId: number, event: WatchEvent): void {
    const w = this.watches.get(watchId);
    if (w === undefined || this.phase === 'closed') return;
    if (isOneShot(w.kind)) this.watches.delete(watchId);
    // A persistent watch hears only of nodes the connection may read; a one-shot one was checked when armed.
    else if (this.caller !== undefined && !this.s.store.mayRead(event.path, this.caller)) return;
    if (!w.announced) {
      w.held.push(event);
      this.countQueued(1);
      return;
    }
    this.queueEvent(watchId, event);
  }

  private queueEvent(watchId: number, event: WatchEvent): void {
    const last = this.outgoing.at(-1);
    const wire: WireWatchEvent = { path: event.path, kind: event.kind, revision: event.revision };
    if (last !== undefined && last.watchId === watchId && last.events.length < watchEventsPerFrameMax) last.events.push(wire);
    else this.outgoing.push({ watchId, events: [wire] });
    this.countQueued(1);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flushEvents());
    }
  }

  private countQueued(n: number): void {
    this.outgoingCount += n;
    if (this.outgoingCount > watchEventsQueuedMax) this.slowConsumer(`more than ${watchEventsQueuedMax} watch events queued`);
  }

  private flushEvents(): void {
    this.flushQueued = false;
    if (this.outgoing.length === 0) return;
    const frames = this.outgoing;
    this.outgoing = [];
    this.outgoingCount = 0;
    for (const f of frames) this.sendFrame({ t: 'watch', watchId: f.watchId, events: f.events });
  }

  // ---- frames in ----

  receive(decoded: Parameters<ChannelInput['receive']>[0], bytes: number): void {
    if (this.phase === 'closed') return;
    if (!decoded.ok) {
      const { error } = decoded;
      if (error.id !== undefined && this.phase === 'open') {
        this.answerAtOnce(error.id, { revision: this.s.store.appliedIndex, error: wireError(error.code, error.message) }, error.op);
        return;
      }
      this.fail(error.code, error.message);
      return;
    }
    const frame = decoded.value;
    if (this.phase === 'awaitingHello') {
      if (frame.t !== 'hello') {
        this.fail('PROTOCOL_VIOLATION', 'the first frame must be hello');
        return;
      }
      if (!this.s.sessionSlots.take()) {
        this.fail('TOO_MANY_SESSIONS', `this server serves ${this.s.sessionSlots.max} sessions at once; try another`);
        return;
      }
      this.holdsSessionSlot = true;
      this.phase = 'handshaking';
      clearTimeout(this.handshakeTimer);
      void this.handshake(frame);
      return;
    }
    if (frame.t !== 'req' || this.phase !== 'open') {
      this.fail('PROTOCOL_VIOLATION', frame.t === 'hello' ? 'a second hello' : 'a request before welcome');
      return;
    }
    this.s.sessions.touch(this.sessionId);
    this.onRequest(frame, bytes);
  }

  private async handshake(hello: HelloFrame): Promise<void> {
    if (hello.protocolVersion !== protocolVersion) {
      this.fail('UNSUPPORTED_VERSION', `this server speaks protocol version ${protocolVersion}, not ${hello.protocolVersion}`);
      return;
    }
    const authenticated = hello.auth === undefined && this.certificateName === null && this.zookeeper ? { ok: true as const, identity: anonymous } : await this.s.authenticator.authenticate(hello.auth, this.certificateName, this.address);
    if (this.left()) return;
    if (!authenticated.ok) {
      this.log.info({ user: hello.auth?.user, why: authenticated.why }, 'authentication refused');
      this.fail('AUTH_FAILED', authenticated.why);
      return;
    }
    this.identity = authenticated.identity;
    this.caller = this.callerOf(authenticated.identity);
    const timeoutMs = Math.min(this.s.sessionTimeoutMsMax, Math.max(this.s.sessionTimeoutMsMin, hello.sessionTimeoutMs));
    let welcome: { sessionId: number; secret: Uint8Array; timeoutMs: number; resumed: boolean };
    try {
      if (hello.session !== undefined) {
        const { id, secret, lastRevision } = hello.session;
        const contact = await this.leaderContactAtTheDoor();
        if (this.phase === 'closed') return;
        if (!contact.ok) {
          this.fail('NO_LEADER', `${contact.why}: this member cannot resume the session, try another`);
          return;
        }
        if (!(await this.caughtUp(lastRevision))) {
          this.fail('SERVER_BEHIND', `this server has not applied revision ${lastRevision} yet`);
          return;
        }
        const record = this.s.store.session(id);
        if (record === undefined || !this.s.sessions.verify(id, secret)) {
          this.fail('SESSION_EXPIRED', 'the session is expired, closed or unknown');
          return;
        }
        const refused = this.zookeeper ? await this.claimSeqRange(id) : null;
        if (this.left()) return;
        if (refused !== null) {
          this.fail(refused.name, refused.message);
          return;
        }
        welcome = { sessionId: id, secret, timeoutMs: record.timeoutMs, resumed: true };
      } else {
        const opened = await this.s.sessions.open(timeoutMs, AbortSignal.timeout(this.s.requestTimeoutMs));
        await this.s.waitApplied(opened.revision);
        welcome = { sessionId: opened.sessionId, secret: opened.secret, timeoutMs, resumed: false };
      }
    } catch (err) {
      const e = thrownError(err);
      this.log.debug({ err }, 'handshake failed');
      this.fail(e.name as ErrorCode, e.message);
      return;
    }
    if (this.phase !== 'handshaking') return; // the client left meanwhile
    this.sessionId = welcome.sessionId;
    this.phase = 'open';
    if (this.zookeeper && !welcome.resumed) {
      // A new session: no earlier connection numbered anything.
      this.nextSeq = 1;
      this.seqLast = zookeeperSeqRange;
    }
    this.s.sessions.touch(this.sessionId);
    this.s.attach(this.sessionId, this);
    this.sendFrame({
      t: 'welcome',
      protocolVersion,
      sessionId: welcome.sessionId,
      secret: welcome.secret,
      negotiatedTimeoutMs: welcome.timeoutMs,
      serverId: this.s.nodeId,
      revision: this.s.store.appliedIndex,
      resumed: welcome.resumed,
      ...(this.identity.user === undefined ? {} : { user: this.identity.user }),
    });
  }

  /**
   * A resumed `zookeeper` connection claims the range of `seq`s it will number (decision 61): a
   * sequenced no-op (`check /`) at P, where P lies a whole range above the highest `seq` the session
   * recorded as of a read index. Every earlier connection claimed its range through the log before
   * it numbered a write, so the read index sees the latest claim, and P is above every `seq` those
   * connections can ever send: their writes that land later are refused STALE_SEQUENCE, never
   * applied after this connection's, and this connection's are never answered with theirs. A claim
   * that meets P already used (a rival resume) is made again above it. Returns the store's refusal
   * (the session expired meanwhile), or null once claimed; the deadline's failures are thrown.
   */
  private async claimSeqRange(sessionId: number): Promise<WireError | null> {
    await withDeadline(this.s.requestTimeoutMs, (signal) => this.s.linearizableRead(signal));
    for (let attempt = 1; ; attempt++) {
      const record = this.s.store.session(sessionId);
      if (record === undefined) return wireError('SESSION_EXPIRED', 'the session is expired, closed or unknown');
      const claim = Math.max(record.seqFloor, record.replies.at(-1)?.seq ?? 0) + zookeeperSeqRange + 1;
      const command: Command = { type: 'check', path: '/', sessionId, seq: claim, seqFloor: claim, seqOnce: true };
      const p = await withDeadline(this.s.requestTimeoutMs, (signal) => this.s.link.propose(command, signal));
      if (!(await this.caughtUp(p.index))) throw new ServerError('TIMEOUT', `the session's claim was committed at ${p.index} but this server has not applied it yet`);
      if (p.result.ok) {
        this.nextSeq = claim + 1;
        this.seqLast = claim + zookeeperSeqRange;
        return null;
      }
      if (p.result.error.code !== 'STALE_SEQUENCE' || attempt === seqClaimAttemptsMax) return storeError(p.result.error);
    }
  }

  /** Whether the client left while its handshake waited (phase is not narrowed across awaits). */
  private left(): boolean {
    return this.phase !== 'handshaking';
  }

  private takeRequestToken(): boolean {
    const rate = this.s.requestsPerSecond;
    const now = performance.now();
    this.requestTokens = Math.min(rate, this.requestTokens + ((now - this.requestTokensAtMs) * rate) / 1000);
    this.requestTokensAtMs = now;
    if (this.requestTokens < 1) return false;
    this.requestTokens -= 1;
    return true;
  }

  private async caughtUp(revision: number): Promise<boolean> {
    if (this.s.store.appliedIndex >= revision) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.s.catchUpTimeoutMs)));
    const ok = await Promise.race([this.s.waitApplied(revision).then(() => true), timedOut]);
    clearTimeout(timer);
    return ok;
  }

  // ---- requests ----

  private onRequest(received: ConnectionRequest, bytes: number): void {
    let request = received;
    if (this.zookeeper && zookeeperNumbered.has(request.op) && !('seq' in request && request.seq !== undefined)) {
      if (this.nextSeq > this.seqLast) {
        this.fail('STALE_SEQUENCE', `this connection numbered the ${zookeeperSeqRange} writes of its range: reconnect to go on`);
        return;
      }
      // Its own floor: a ZooKeeper client never resends, so no earlier answer need be kept.
      request = { ...(request as WriteRequest), seq: this.nextSeq, seqFloor: this.nextSeq };
      this.nextSeq++;
    }
    if (this.identity !== null && !this.s.authenticator.stillValid(this.identity)) {
      this.fail('AUTH_FAILED', `user ${this.identity.user ?? ''} was removed or given another secret or roles: authenticate again`);
      return;
    }
    // Pings are not counted: they keep the session alive, whatever else the client sends.
    if (request.op !== 'ping' && !this.takeRequestToken()) {
      const error = wireError('TOO_MANY_REQUESTS', `more than ${this.s.requestsPerSecond} requests a second on this connection`);
      this.answerAtOnce(request.id, { revision: this.s.store.appliedIndex, error }, request.op);
      return;
    }
    if (this.inFlight >= inFlightRequestsMax || this.inFlightBytes + bytes > inFlightRequestBytesMax) {
      const error = wireError('TOO_MANY_REQUESTS', `more than ${inFlightRequestsMax} requests or ${inFlightRequestBytesMax} bytes in flight`);
      this.answerAtOnce(request.id, { revision: this.s.store.appliedIndex, error }, request.op);
      return;
    }
    this.inFlight++;
    this.inFlightBytes += bytes;
    const slot: Slot = { id: request.id, bytes: null, announces: null };
    this.slots.push(slot);
    switch (request.op) {
      case 'ping':
        void this.answerPing(slot, request, bytes);
        return;
      case 'unwatch':
        this.finish(slot, request, this.unwatch(request.watchId), bytes);
        return;
      case 'whoami':
        this.finish(slot, request, this.whoami(), bytes);
        return;
      default: {
        const isRead = readOps.has(request.op);
        const linearizable = request.op === 'local' ? request.linearizable : request.op === 'sync' || ((request.op === 'get' || request.op === 'exists' || request.op === 'children' || request.op === 'getAcl') && request.consistency !== 'sequential');
        const seq = !isRead && 'seq' in request && request.seq !== undefined ? request.seq : 0;
        this.queue.push({ request, slot, bytes, isRead, linearizable, seq, started: false, readIndexApplied: false });
        if (isRead) this.queuedReads++;
        this.pump();
      }
    }
  }

  /**
   * Whether this member can vouch for a session, after waiting at the door (up to `leaderWaitMs`)
   * for a leader if it has not heard one lately: an election under way, a lost packet's
   * retransmission. Resumes and pings ask it; a member that cannot report a session does not
   * vouch for it (decisions 29, 33 and 40).
   */
  private async leaderContactAtTheDoor(): Promise<LeaderContact> {
    const contact = this.s.leaderContact();
    if (contact.ok || !(await this.s.untilLeaderContact())) return contact;
    return this.s.leaderContact();
  }

  private async answerPing(slot: Slot, request: ConnectionRequest, bytes: number): Promise<void> {
    const contact = await this.leaderContactAtTheDoor();
    const answer = contact.ok ? { result: { op: 'ping' } as const } : { error: wireError('NO_LEADER', `${contact.why}: this member cannot keep the session alive, try another`) };
    this.finish(slot, request, { revision: this.s.store.appliedIndex, ...answer }, bytes);
  }

  /**
   * Starts every queued request the ordering rules allow, and reads every read that may read now:
   * one with no unanswered write before it (and, if linearizable, its read index applied).
   */
  private pump(): void {
    let writeBefore = false;
    let readBefore = false;
    /** A linearizable read before this one still waits for its read index (it matters to `zookeeper` connections). */
    let syncBefore = false;
    for (let i = 0; i < this.queue.length && this.phase === 'open'; ) {
      const q = this.queue[i] as Queued;
      if (q.isRead) {
        if (q.linearizable && !q.started) {
          q.started = true;
          void this.untilReadIndex(q);
        }
        if (!writeBefore && !(this.zookeeper && syncBefore) && (!q.linearizable || q.readIndexApplied)) {
          this.readNow(q); // leaves the queue
          continue;
        }
        readBefore = true;
        if (q.linearizable) syncBefore = true;
      } else {
        if (!q.started) {
          // Unrecognisable in the log, it cannot stop the apply loop for the reads before it.
          if (readBefore && q.seq === 0) return;
          q.started = true;
          void this.runWrite(q);
        }
        writeBefore = true;
      }
      i++;
    }
  }

  /**
   * The driver is about to apply this session's write `seq` (decision 42): what to run first, so
   * that the reads queued before that write read a store without it. Every write before those
   * reads is applied by then (a session's writes enter the log in the order they were proposed),
   * and the write itself, proposed after they arrived, stands in for a read index: every entry
   * committed before they arrived lies below it, and the state just before it was current at a
   * moment between their arrival and their answer. Null when no read waits before it.
   */
  pointBeforeWrite(seq: number): (() => void) | null {
    if (this.phase !== 'open' || this.queuedReads === 0) return null;
    const at = this.queue.findIndex((q) => !q.isRead && q.started && q.seq === seq);
    if (at < 0) return null;
    const reads = this.queue.slice(0, at).filter((q) => q.isRead);
    if (reads.length === 0) return null;
    return () => {
      for (const q of reads) if (this.phase === 'open' && this.queue.includes(q)) this.readNow(q);
    };
  }

  private async untilReadIndex(q: Queued): Promise<void> {
    try {
      await withDeadline(this.s.requestTimeoutMs, (signal) => this.s.linearizableRead(signal));
      q.readIndexApplied = true;
    } catch (err) {
      // Unless a later write's point has already read it.
      if (this.take(q)) this.finish(q.slot, q.request, { revision: this.s.store.appliedIndex, error: thrownError(err) }, q.bytes);
    }
    this.pump();
  }

  /** Reads `q` now and answers it; it leaves the queue. */
  private readNow(q: Queued): void {
    this.take(q);
    let outcome: Outcome;
    try {
      outcome = this.read(q.request, q.slot);
    } catch (err) {
      // Also inside the driver's apply loop (pointBeforeWrite): nothing may escape into it.
      this.log.error({ err, op: q.request.op }, 'a read failed');
      outcome = { revision: this.s.store.appliedIndex, error: thrownError(err) };
    }
    this.finish(q.slot, q.request, outcome, q.bytes);
  }

  /** Removes `q` from the queue; whether it was there. */
  private take(q: Queued): boolean {
    const i = this.queue.indexOf(q);
    if (i < 0) return false;
    this.queue.splice(i, 1);
    if (q.isRead) this.queuedReads--;
    return true;
  }

  private async runWrite(q: Queued): Promise<void> {
    const request = q.request as WriteRequest | Extract<Request, { op: 'close' }>;
    const invalid = request.op === 'close' ? null : invalidAcl(request);
    if (invalid !== null) {
      // Refused here, never proposed: the store would refuse it alike (as BAD_ARGUMENTS).
      this.take(q);
      this.finish(q.slot, request, { revision: this.s.store.appliedIndex, error: invalid }, q.bytes);
      this.pump();
      return;
    }
    let outcome: Outcome;
    try {
      if (request.op === 'close') this.closingSession = true;
      // A ZooKeeper connection's numbers are sent once (decision 61): a seq found recorded is another write's.
      const command: Command = request.op === 'close' ? { type: 'sessionClose', sessionId: this.sessionId } : commandOf(request, this.sessionId, this.s.ephemeralsPerSessionMax, this.caller, this.zookeeper);
      const p = await withDeadline(this.s.requestTimeoutMs, (signal) => this.s.link.propose(command, signal));
      // Answer only once this server has applied the write: read-your-writes on this connection,
      // and the write's watch events leave before its response.
      if (!(await this.caughtUp(p.index))) throw new ServerError('TIMEOUT', `the write was committed at ${p.index} but this server has not applied it yet`);
      if (request.op === 'close') {
        // A session already gone is closed all the same.
        outcome = { revision: p.index, result: { op: 'close' } };
      } else {
        outcome = p.result.ok ? { revision: p.index, result: writeResult(request, p.result.value) } : { revision: p.index, error: storeError(p.result.error) };
      }
    } catch (err) {
      outcome = { revision: this.s.store.appliedIndex, error: thrownError(err) };
      if (request.op === 'close') this.closingSession = false;
    }
    this.take(q);
    this.finish(q.slot, request, outcome, q.bytes);
    if (request.op === 'close' && 'result' in outcome) this.close(closeCodeNormal, 'session closed');
    this.pump();
  }

  /** Reads this server's state now (the caller saw to consistency), arming a watch if asked. */
  private read(request: ConnectionRequest, slot: Slot): Outcome {
    const store = this.s.store;
    const revision = store.appliedIndex;
    switch (request.op) {
      case 'get': {
        const r = store.get(request.path, this.caller);
        if (!r.ok) return { revision, error: storeError(r.error) };
        const watchId = request.watch === true ? this.arm(request.path, 'data', slot) : undefined;
        if (typeof watchId === 'object') return { revision, error: watchId };
        return { revision, result: { op: 'get', data: r.value.data, stat: r.value.stat, ...(watchId === undefined ? {} : { watchId }) } };
      }
      case 'exists': {
        const r = store.exists(request.path);
        if (!r.ok) return { revision, error: storeError(r.error) };
        const watchId = request.watch === true ? this.arm(request.path, 'exists', slot) : undefined;
        if (typeof watchId === 'object') return { revision, error: watchId };
        return { revision, result: { op: 'exists', stat: r.value, ...(watchId === undefined ? {} : { watchId }) } };
      }
      case 'children': {
        const r = store.children(
          request.path,
          {
            ...(request.withStats === true ? { withStats: true } : {}),
            ...(request.after === undefined ? {} : { after: request.after }),
            limit: request.limit ?? childrenPageMax,
          },
          this.caller,
        );
        if (!r.ok) return { revision, error: storeError(r.error) };
        const page = fitPage(r.value.names, r.value.stats, r.value.next);
        const watchId = request.watch === true ? this.arm(request.path, 'children', slot) : undefined;
        if (typeof watchId === 'object') return { revision, error: watchId };
        return { revision, result: { op: 'children', ...page, ...(watchId === undefined ? {} : { watchId }) } };
      }
      case 'sync':
        return { revision, result: { op: 'sync' } };
      case 'local': {
        const context: LocalReadContext = {
          store,
          caller: this.caller,
          sessionId: this.sessionId,
          arm: (path, kind) => this.arm(path, kind, slot),
          watches: () => [...this.watches.values()],
          unwatch: (watchId) => 'result' in this.unwatch(watchId),
        };
        const done = request.run(context);
        return 'error' in done ? { revision, error: done.error } : { revision, result: { op: 'local', value: done.value } };
      }
      case 'getAcl': {
        const r = store.getAcl(request.path, this.caller);
        if (!r.ok) return { revision, error: storeError(r.error) };
        return { revision, result: { op: 'getAcl', acl: r.value.acl, stat: r.value.stat } };
      }
      case 'watch': {
        const problem = pathProblem(request.path);
        if (problem !== null) return { revision, error: wireError('BAD_ARGUMENTS', problem, { path: request.path }) };
        if (!store.mayRead(request.path, this.caller)) return { revision, error: wireError('NO_AUTH', `not authorised to read ${request.path}`, { path: request.path }) };
        const watchId = this.arm(request.path, request.mode, slot);
        if (typeof watchId === 'object') return { revision, error: watchId };
        if (request.fromRevision !== undefined && request.fromRevision < revision) {
          const w = this.watches.get(watchId) as ConnectionWatch;
          // A watch on one path fires only on events of that path: those alone are looked up.
          const onPath = w.kind === 'persistentRecursive' ? undefined : w.path;
          let since = store.eventsSince(request.fromRevision, onPath);
          if (since.compacted) {
            // Say what may be missing, then replay everything still held above the floor.
            w.held.push({ floor: since.floor });
            since = store.eventsSince(since.floor, onPath);
          }
          if (!since.compacted) {
            for (const e of since.events) if (e.revision <= revision && matches(w, e) && store.mayRead(e.path, this.caller)) w.held.push(e);
          }
          this.countQueued(w.held.length);
        }
        return { revision, result: { op: 'watch', watchId } };
      }
      default:
        return { revision, error: wireError('UNKNOWN_OP', `${request.op} is not a read`) };
    }
  }

  /** Registers a watch announced by `slot`'s response; its id, or why not. */
  private arm(path: string, kind: WatchKind, slot: Slot): number | WireError {
    if (this.watches.size >= this.s.watchesPerSessionMax) return wireError('TOO_MANY_WATCHES', `this session holds ${this.s.watchesPerSessionMax} watches, as many as this server allows`);
    const watchId = this.nextWatchId++;
    const w: ConnectionWatch = { watchId, path, kind, sink: this, announced: false, held: [] };
    this.watches.set(watchId, w);
    this.s.watches.add(w);
    slot.announces = w;
    return watchId;
  }

  private whoami(): Outcome {
    const identity = this.identity as Identity;
    const roles = identity.superuser ? [...allRoles] : [...identity.roles];
    return {
      revision: this.s.store.appliedIndex,
      result: { op: 'whoami', ...(identity.user === undefined ? {} : { user: identity.user }), superuser: identity.superuser, roles, address: this.address },
    };
  }

  private unwatch(watchId: number): Outcome {
    const revision = this.s.store.appliedIndex;
    const w = this.watches.get(watchId);
    if (w === undefined) return { revision, error: wireError('NO_WATCH', `no watch ${watchId} on this connection`) };
    this.watches.delete(watchId);
    this.s.watches.remove(w);
    return { revision, result: { op: 'unwatch' } };
  }

  // ---- frames out ----

  private finish(slot: Slot, request: ConnectionRequest, outcome: Outcome, bytes: number): void {
    this.inFlight--;
    this.inFlightBytes -= bytes;
    if (this.phase === 'closed') return;
    if ('error' in outcome && slot.announces !== null) {
      this.s.watches.remove(slot.announces);
      this.watches.delete(slot.announces.watchId);
      slot.announces = null;
    }
    slot.bytes = this.channel.encodeResponse(slot.id, request.op, outcome);
    // Answers leave in request order.
    while (this.slots.length > 0 && (this.slots[0] as Slot).bytes !== null) {
      const head = this.slots.shift() as Slot;
      this.flushEvents();
      this.send(head.bytes as Uint8Array);
      if (head.announces !== null) this.announce(head.announces);
    }
  }

  private announce(w: ConnectionWatch): void {
    w.announced = true;
    const held = w.held.splice(0);
    this.outgoingCount -= held.length;
    for (const e of held) {
      if ('floor' in e) {
        this.flushEvents();
        this.sendFrame({ t: 'compacted', watchId: w.watchId, floor: e.floor });
      } else this.queueEvent(w.watchId, e);
    }
  }

  /** A response outside the FIFO (the request never took a slot). */
  private answerAtOnce(id: number, outcome: Outcome, op: ConnectionRequest['op'] | undefined): void {
    this.send(this.channel.encodeResponse(id, op, outcome));
  }

  private sendFrame(frame: ServerFrame): void {
    this.send(this.channel.encodeFrame(frame));
  }

  private send(bytes: Uint8Array): void {
    if (this.phase === 'closed') return;
    if (this.channel.bufferedAmount > outboundBytesMax) {
      this.slowConsumer(`more than ${outboundBytesMax} bytes unflushed`);
      return;
    }
    this.channel.send(bytes);
  }

  private slowConsumer(why: string): void {
    if (this.phase === 'closed') return;
    this.log.warn({ sessionId: this.sessionId, why }, 'closing a slow consumer');
    this.outgoing = [];
    this.outgoingCount = 0;
    // The error frame goes behind everything unflushed; the close follows it.
    this.channel.send(this.channel.encodeFrame({ t: 'error', error: wireError('SLOW_CONSUMER', why) }));
    this.close(closeCodeOf('SLOW_CONSUMER'), 'SLOW_CONSUMER');
  }

  private close(code: number, reason: string): void {
    if (this.phase === 'closed') return;
    this.onClosed();
    this.channel.close(code, reason);
  }

  private onClosed(): void {
    if (this.phase === 'closed') return;
    const wasOpen = this.phase === 'open';
    this.phase = 'closed';
    clearTimeout(this.handshakeTimer);
    for (const w of this.watches.values()) this.s.watches.remove(w);
    this.watches.clear();
    this.queue.length = 0;
    this.queuedReads = 0;
    this.outgoing = [];
    if (wasOpen) this.s.detach(this.sessionId, this);
    if (this.holdsSessionSlot) {
      this.holdsSessionSlot = false;
      this.s.sessionSlots.release();
    }
  }
}

/** The writes a `zookeeper` connection numbers. */
const zookeeperNumbered: ReadonlySet<ConnectionRequest['op']> = new Set(['create', 'set', 'delete', 'multi', 'setAcl']);

/**
 * How many `seq`s a `zookeeper` connection may number (decision 61): 2^24 writes, after which it is
 * closed and the client's reconnection claims a new range. A session's `seq`s stay safe integers
 * for 2^29 reconnections.
 */
export const zookeeperSeqRange = 2 ** 24;

/** Claims of a range that meet a rival's before this connection gives up (SESSION_MOVED-like races). */
const seqClaimAttemptsMax = 3;

/** An ACL of a write that the store would refuse (INVALID_ACL here, with the op's index in a multi), or null. */
function invalidAcl(request: WriteRequest): WireError | null {
  if (request.op === 'setAcl') {
    const problem = aclProblem(request.acl);
    return problem === null ? null : wireError('INVALID_ACL', problem, { path: request.path });
  }
  if (request.op === 'create' && request.acl !== undefined) {
    const problem = aclProblem(request.acl);
    return problem === null ? null : wireError('INVALID_ACL', problem, { path: request.path });
  }
  if (request.op === 'multi') {
    for (let i = 0; i < request.ops.length; i++) {
      const op = request.ops[i] as (typeof request.ops)[number];
      const problem = op.op === 'create' && op.acl !== undefined ? aclProblem(op.acl) : null;
      if (problem !== null) return wireError('INVALID_ACL', problem, { path: op.path, opIndex: i });
    }
  }
  return null;
}

/** Cuts a children page so that its response stays within a frame; `next` says where to go on. */
function fitPage(names: readonly string[], stats: readonly Stat[] | undefined, next: string | undefined): { names: string[]; stats?: Stat[]; next?: string } {
  const budget = frameBytesMax - 4096;
  let bytes = 0;
  let n = 0;
  for (; n < names.length; n++) {
    bytes += Buffer.byteLength(names[n] as string) + nameOverheadBytes + (stats === undefined ? 0 : statBytes);
    if (bytes > budget) break;
  }
  if (n === names.length) return { names: [...names], ...(stats === undefined ? {} : { stats: [...stats] }), ...(next === undefined ? {} : { next }) };
  return { names: names.slice(0, n), ...(stats === undefined ? {} : { stats: stats.slice(0, n) }), next: names[n - 1] as string };
}

