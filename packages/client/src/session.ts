/**
 * The session's state machine (docs/protocol.md §5, docs/design.md): it dials endpoints until one
 * answers `welcome`, numbers and pipelines requests on the current connection, keeps the
 * heartbeat, and when the connection fails it reconnects elsewhere with backoff and resumes the
 * session with `{ id, secret, lastRevision }`.
 *
 *   (first welcome) → connected ─loss→ suspended ─welcome resumed→ reconnected ─loss→ suspended …
 *   suspended ─SESSION_EXPIRED→ expired ─(reopenAfterExpiry) new welcome→ connected
 *   any ─close()→ closed;  any ─AUTH_FAILED (hello refused, or connection closed)→ closed (every call fails with it)
 *
 * What happens to a call when the connection fails: one not yet written waits for the next
 * connection (within its deadline); a written read is written again on the next connection; so is
 * a written write, with the same sequence number (`seq`), for the cluster applies a session's
 * write at most once and answers a resend with the first copy's answer (exactly-once writes,
 * docs/protocol.md §5). A server's TIMEOUT for a write (its outcome unknown there) is treated as
 * a lost connection: the session moves on, resending in order everything still unanswered. Only
 * when the write's deadline passes (TIMEOUT) or the session expires (CONNECTION_LOSS) while its
 * outcome is still unknown does it fail with an unknown-outcome error. At most
 * `sessionWritesInFlightMax` writes, by sequence number, await answers; later ones wait their turn.
 *
 * Watches live in watches.ts; this module tells them, through `SessionHooks`, when the connection
 * changes and hands them their frames.
 */
import {
  VigilError,
  encodeFrame,
  errorCatalogue,
  inFlightRequestBytesMax,
  inFlightRequestsMax,
  isErrorCode,
  isVigilError,
  protocolVersion,
  requestIdMax,
  sessionWritesInFlightMax,
  vigilErrorFromWire,
  type CompactedFrame,
  type HelloFrame,
  type OpResult,
  type Request,
  type RequestBody,
  type Response,
  type WatchFrame,
  type WelcomeFrame,
  type WireError,
} from '@vigil/protocol';
import { backoffDelayMs } from './backoff.js';
import { Connection, type PushedFrame } from './connection.js';
import type { ResolvedOptions } from './options.js';
import type { OpenSocket } from './web-socket.js';

export type ConnectionState = 'connected' | 'suspended' | 'reconnected' | 'expired' | 'closed';

/** Calls waiting for a connection (or for room under the in-flight limits); more fail at once. */
export const queuedCallsMax = 100_000;

/** The writes the session numbers and resends until their outcome is known (exactly-once). */
const sequencedOps: ReadonlySet<RequestBody['op']> = new Set(['create', 'set', 'delete', 'multi', 'setAcl']);

/** A successful response: the op's result and the revision it observed or made. */
export interface Answer {
  readonly result: OpResult;
  readonly revision: number;
}

export interface SessionCallOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /**
   * A read: written again after a reconnect instead of failing with CONNECTION_LOSS. (A write is
   * resent too, under its sequence number, whatever this says.)
   */
  readonly resendable: boolean;
  /**
   * Runs synchronously when the answer arrives, before any later frame of the connection is
   * handled: a watch registered here cannot miss an event that follows its response.
   */
  readonly onAnswer?: ((answer: Answer) => void) | undefined;
  /** For a successful answer that arrives after the call gave up (deadline or abort). */
  readonly onLateAnswer?: ((answer: Answer) => void) | undefined;
}

export interface InternalCallOptions {
  readonly onAnswer?: ((answer: Answer) => void) | undefined;
  readonly onLateAnswer?: ((answer: Answer) => void) | undefined;
}

/** What the watch registry needs to know about the session's life. */
export interface SessionHooks {
  /** A `watch` or `compacted` frame of the current connection. */
  onPush(frame: WatchFrame | CompactedFrame): void;
  /** The connection's watch ids mean nothing any more (loss, expiry or close). */
  onConnectionLost(): void;
  /** A connection is ready (new or resumed session): register what must be registered. */
  onSessionReady(): void;
  /** The session is over (expired or closed): end every watch with this error. */
  onSessionEnded(error: VigilError): void;
}

interface PendingCall {
  readonly body: RequestBody;
  readonly resendable: boolean;
  /** The SDK's own request (watch registration, ping, close): bound to one connection, never resent. */
  readonly internal: boolean;
  /** A caller's write: numbered with the session's next `seq` when first written, then resent under it. */
  readonly sequenced: boolean;
  /** Its `seq` once written (0 before). */
  seq: number;
  /** Why its outcome became unknown (a lost connection, a server's TIMEOUT), while it is being resent. */
  inDoubt: VigilError | null;
  readonly onAnswer: ((answer: Answer) => void) | undefined;
  readonly onLateAnswer: ((answer: Answer) => void) | undefined;
  readonly resolve: (answer: Answer) => void;
  readonly reject: (error: VigilError) => void;
  settled: boolean;
  timer: ReturnType<typeof setTimeout> | null;
  detachAbort: (() => void) | null;
  bytes: number;
  /** performance.now() when written to the current connection. */
  sentAtMs: number;
}

export interface SessionOptions extends ResolvedOptions {
  /** Maps a path in a server error to the caller's (namespace stripping). */
  readonly pathFromServer: (path: string) => string;
  /** Injected for tests; endpoint shuffling and backoff jitter. */
  readonly random?: () => number;
  /** The runtime's WebSocket (web-socket.ts). */
  readonly openSocket: OpenSocket;
}

/**
 * A connection silent for this fraction of the session timeout is left. Half, not ZooKeeper's two
 * thirds: the leader learns of a session's pings from its members' reports, which a frozen member
 * stops sending, so the session's last sighting may lag its last ping; the other half of the
 * timeout is what the client has to reach another member and resume (a ping a third of the way
 * in gives a live server a sixth of the timeout to answer).
 */
const deadAfterFraction = 1 / 2;

export class Session {
  private current: ConnectionState | 'opening' = 'opening';
  private sessionIdValue = 0;
  private secret: Uint8Array | null = null;
  private serverIdValue = 0;
  private lastRevisionValue = 0;
  private negotiatedTimeoutMs: number;

  private endpoints: readonly string[];
  private nextEndpoint = 0;
  private attempt = 0;
  private dialing: Connection | null = null;
  private dialTimer: ReturnType<typeof setTimeout> | null = null;
  private lastDialError: VigilError | null = null;

  private connection: Connection | null = null;
  private readonly queue: PendingCall[] = [];
  /** Internal calls go before the caller's, so watches are registered before queued reads run. */
  private readonly priority: PendingCall[] = [];
  private readonly inflight = new Map<number, PendingCall>();
  private inflightBytes = 0;
  private requestIdNext = 1;
  /** The next write's `seq`; numbering starts again with each new session. */
  private seqNext = 1;
  /** `seq`s of the written writes still awaiting an answer (at most sessionWritesInFlightMax). */
  private readonly awaitingSeqs = new Set<number>();

  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSentAtMs = 0;
  /** Pings go every third of the timeout whatever else is sent: they are what proves the session alive. */
  private lastPingAtMs = 0;
  /** When the dial that is under way began: its hello cannot have reached a server earlier. */
  private dialStartedAtMs = 0;
  /**
   * The latest moment a server is known to have heard this session: the send time of the latest
   * request (hello, ping or call) that a server answered. 0 with no session.
   */
  private confirmedAtMsValue = 0;
  private lastReceivedAtMs = 0;
  private draining = false;
  private drainTimer: ReturnType<typeof setTimeout> | null = null;

  private opening: { resolve: () => void; reject: (error: VigilError) => void; timer: ReturnType<typeof setTimeout> } | null = null;
  private closing: Promise<void> | null = null;
  /** Why the client ended without `close()` (AUTH_FAILED): what every call fails with from then on. */
  private fatal: VigilError | null = null;
  private hooks: SessionHooks | null = null;
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly random: () => number;

  constructor(private readonly options: SessionOptions) {
    this.random = options.random ?? Math.random;
    this.endpoints = shuffled(options.endpoints, this.random);
    this.negotiatedTimeoutMs = options.sessionTimeoutMs;
  }

  get state(): ConnectionState {
    return this.current === 'opening' ? 'suspended' : this.current;
  }

  /** The endpoints later dials use (already resolved); the current connection is kept. */
  setEndpoints(endpoints: readonly string[]): void {
    this.endpoints = shuffled(endpoints, this.random);
    this.nextEndpoint = 0;
  }
  get sessionId(): number {
    return this.sessionIdValue;
  }
  get serverId(): number {
    return this.serverIdValue;
  }
  get lastRevision(): number {
    return this.lastRevisionValue;
  }
  get negotiatedSessionTimeoutMs(): number {
    return this.negotiatedTimeoutMs;
  }
  get confirmedAtMs(): number {
    return this.confirmedAtMsValue;
  }
  get isConnected(): boolean {
    return this.connection !== null;
  }
  get isClosed(): boolean {
    return this.closing !== null;
  }

  setHooks(hooks: SessionHooks): void {
    this.hooks = hooks;
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Resolves at the first welcome; rejects (and releases everything) after connectTimeoutMs. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.opening = null;
        const last = this.lastDialError;
        const error = new VigilError(
          last?.code ?? 'TIMEOUT',
          `no endpoint opened a session within ${this.options.connectTimeoutMs}ms${last === null ? '' : ` (last: ${last.message})`}`,
          last === null ? {} : { cause: last },
        );
        void this.close().then(() => reject(error));
      }, this.options.connectTimeoutMs);
      this.opening = { resolve, reject, timer };
      this.scheduleDial();
    });
  }

  /** A call of the caller, with its deadline and abort signal; waits for a connection if need be. */
  call(body: RequestBody, options: SessionCallOptions): Promise<Answer> {
    const refusal = this.refusal();
    if (refusal !== null) return Promise.reject(refusal);
    if (options.signal?.aborted === true) return Promise.reject(new VigilError('CANCELLED', 'the signal was already aborted'));
    if (this.queue.length >= queuedCallsMax) {
      return Promise.reject(new VigilError('TOO_MANY_REQUESTS', `${queuedCallsMax} calls are already waiting to be sent`));
    }
    return new Promise((resolve, reject) => {
      const call = pendingCall(body, { resolve, reject, resendable: options.resendable, internal: false, onAnswer: options.onAnswer, onLateAnswer: options.onLateAnswer });
      call.timer = setTimeout(() => this.giveUp(call, deadlineError(call, options.timeoutMs)), options.timeoutMs);
      const signal = options.signal;
      if (signal !== undefined) {
        const onAbort = (): void => this.giveUp(call, new VigilError('CANCELLED', `${body.op} was aborted`, { cause: signal.reason }));
        signal.addEventListener('abort', onAbort, { once: true });
        call.detachAbort = () => signal.removeEventListener('abort', onAbort);
      }
      this.queue.push(call);
      this.pump();
    });
  }

  /**
   * The SDK's own request on the current connection only: it fails with CONNECTION_LOSS when
   * there is none or when it is lost, and has no deadline (the heartbeat bounds the connection).
   */
  internalCall(body: RequestBody, options: InternalCallOptions = {}): Promise<Answer> {
    if (this.connection === null) return Promise.reject(new VigilError('CONNECTION_LOSS', 'not connected'));
    return new Promise((resolve, reject) => {
      this.priority.push(pendingCall(body, { resolve, reject, resendable: false, internal: true, onAnswer: options.onAnswer, onLateAnswer: options.onLateAnswer }));
      this.pump();
    });
  }

  /** Ends the session (`close` op, bounded wait), then the connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown(new VigilError('CLOSED', 'the client was closed'));
    return this.closing;
  }

  /** Why a new call cannot be accepted now, if it cannot. */
  refusal(): VigilError | null {
    if (this.fatal !== null) return this.fatal;
    if (this.closing !== null) return new VigilError('CLOSED', 'the client was closed');
    if (this.current === 'expired' && !this.options.reopenAfterExpiry) return new VigilError('SESSION_EXPIRED', 'the session expired');
    return null;
  }

  // ---- dialing ----

  private scheduleDial(): void {
    if (this.closing !== null || this.dialTimer !== null || this.dialing !== null || this.connection !== null) return;
    // The very first attempt goes at once; every later one waits a jittered, growing delay.
    const delayMs = this.current === 'opening' && this.attempt === 0 ? 0 : backoffDelayMs(this.attempt, { baseMs: this.options.backoffBaseMs, maxMs: this.options.backoffMaxMs }, this.random);
    this.attempt++;
    this.dialTimer = setTimeout(() => {
      this.dialTimer = null;
      this.dial();
    }, delayMs);
  }

  private dial(): void {
    const endpoint = this.endpoints[this.nextEndpoint % this.endpoints.length] ?? this.options.endpoints[0] ?? '';
    this.nextEndpoint = (this.nextEndpoint + 1) % this.endpoints.length;
    this.dialStartedAtMs = performance.now();
    const hello: HelloFrame = {
      t: 'hello',
      protocolVersion,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      ...(this.secret === null ? {} : { session: { id: this.sessionIdValue, secret: this.secret, lastRevision: this.lastRevisionValue } }),
      ...(this.options.auth === null ? {} : { auth: this.options.auth }),
    };
    // An endpoint that accepts TCP but never answers must not hold the others up for long.
    const handshakeTimeoutMs = Math.max(1_000, Math.floor(this.negotiatedTimeoutMs / this.endpoints.length));
    // A frozen server accepts TCP but never answers the upgrade: that costs a third of this
    // endpoint's share of the session timeout, not all of it (the hello may wait for an election).
    const openTimeoutMs = Math.max(250, Math.min(handshakeTimeoutMs / 2, this.negotiatedTimeoutMs / (3 * this.endpoints.length)));
    const connection: Connection = new Connection({
      endpoint,
      hello,
      handshakeTimeoutMs,
      openTimeoutMs,
      openSocket: this.options.openSocket,
      handlers: {
        onWelcome: (welcome) => this.welcomed(connection, welcome),
        onFrame: (frame) => this.pushed(connection, frame),
        onBadResponse: (id, error) => this.failedResponse(connection, id, error),
        onClosed: (error) => this.connectionClosed(connection, error),
      },
    });
    this.dialing = connection;
  }

  private connectionClosed(connection: Connection, error: VigilError): void {
    if (error.code === 'AUTH_FAILED' && (connection === this.dialing || connection === this.connection)) {
      // Wrong or missing credentials are wrong at every member: trying the others (or again)
      // would only count more failures against this address. The client ends here.
      if (connection === this.dialing) this.dialing = null;
      this.end(error);
      return;
    }
    if (connection === this.dialing) {
      this.dialing = null;
      this.lastDialError = error;
      // Only a resume can be refused as expired; any other refusal (SERVER_BEHIND, SHUTTING_DOWN,
      // a refused socket, …) means: try the next endpoint.
      if (error.code === 'SESSION_EXPIRED' && this.secret !== null) this.expire(error);
      else {
        // A member that answered NO_LEADER is alive and held the resume while it waited for an
        // election to end: that wait paced us, so the next endpoint is tried soon, not later and later.
        if (error.code === 'NO_LEADER') this.attempt = Math.min(this.attempt, 1);
        this.scheduleDial();
      }
    } else if (connection === this.connection) {
      this.lost(error);
    }
  }

  private welcomed(connection: Connection, welcome: WelcomeFrame): void {
    this.dialing = null;
    this.attempt = 0;
    this.lastDialError = null;
    const resuming = this.secret !== null;
    if (resuming && !(welcome.resumed && welcome.sessionId === this.sessionIdValue)) {
      // docs/protocol.md §5 answers a failed resume with SESSION_EXPIRED; a server that opens a
      // new session instead still means ours is gone. Drop this one and start over cleanly.
      connection.terminate();
      this.expire(new VigilError('SESSION_EXPIRED', `${connection.endpoint} did not resume session ${this.sessionIdValue}`));
      return;
    }
    if (!resuming) {
      this.confirmedAtMsValue = 0;
      // A new session has its own reply table: its writes are numbered from 1.
      this.seqNext = 1;
      this.awaitingSeqs.clear();
    }
    this.confirmedAtMsValue = Math.max(this.confirmedAtMsValue, this.dialStartedAtMs);
    this.sessionIdValue = welcome.sessionId;
    this.secret = welcome.secret;
    this.serverIdValue = welcome.serverId;
    this.negotiatedTimeoutMs = welcome.negotiatedTimeoutMs;
    this.observeRevision(welcome.revision);
    this.connection = connection;
    this.draining = false;
    this.lastSentAtMs = this.lastReceivedAtMs = this.lastPingAtMs = performance.now();
    this.scheduleHeartbeat();
    this.hooks?.onSessionReady();
    this.pump();
    if (this.opening !== null) {
      clearTimeout(this.opening.timer);
      this.opening.resolve();
      this.opening = null;
    }
    this.setState(resuming ? 'reconnected' : 'connected');
  }

  // ---- frames ----

  private pushed(connection: Connection, frame: PushedFrame): void {
    if (connection !== this.connection) return;
    this.lastReceivedAtMs = performance.now();
    switch (frame.t) {
      case 'res':
        this.answered(frame);
        break;
      case 'watch':
        for (const event of frame.events) this.observeRevision(event.revision);
        this.hooks?.onPush(frame);
        break;
      case 'compacted':
        this.hooks?.onPush(frame);
        break;
      case 'session':
        if (frame.state === 'expired') this.expire(new VigilError('SESSION_EXPIRED', `${connection.endpoint} expired the session`));
        else if (frame.state === 'draining') this.startDrain();
        // 'moved': the server closes this connection next (4202); its close is the loss.
        break;
    }
  }

  private answered(response: Response): void {
    this.observeRevision(response.revision);
    const pending = this.inflight.get(response.id);
    if (pending !== undefined && !response.ok && response.error.name === 'TIMEOUT' && pending.seq !== 0 && !pending.settled) {
      // This server cannot tell whether the write took effect (its leader was lost, or it is
      // stopping): leave it for another member, resending it and everything after it in order.
      if (pending.sentAtMs > this.confirmedAtMsValue) this.confirmedAtMsValue = pending.sentAtMs;
      const endpoint = this.connection?.endpoint ?? 'the server';
      this.lost(new VigilError('TIMEOUT', `${endpoint} could not tell whether ${pending.body.op} (seq ${pending.seq}) took effect`, { cause: this.errorFromWire(response.error) }));
      return;
    }
    if (pending !== undefined && pending.internal && pending.body.op === 'ping' && !response.ok && response.error.name === 'NO_LEADER') {
      // The server is cut off from the leader and cannot keep the session alive: go elsewhere now.
      const endpoint = this.connection?.endpoint ?? 'the server';
      this.lost(new VigilError('NO_LEADER', `${endpoint} lost touch with the leader`, { cause: this.errorFromWire(response.error) }));
      return;
    }
    const call = this.takeInflight(response.id);
    if (call === undefined) return;
    if (call.sentAtMs > this.confirmedAtMsValue && vouchesForSession(call.body, response)) this.confirmedAtMsValue = call.sentAtMs;
    if (response.ok) {
      const answer: Answer = { result: response, revision: response.revision };
      if (call.settled) {
        call.onLateAnswer?.(answer);
      } else {
        call.onAnswer?.(answer);
        this.settleCall(call);
        call.resolve(answer);
      }
    } else {
      this.rejectCall(call, this.errorFromWire(response.error));
    }
    this.pump();
    this.finishDrainIfIdle();
  }

  private failedResponse(connection: Connection, id: number, error: VigilError): void {
    if (connection !== this.connection) return;
    const call = this.takeInflight(id);
    if (call !== undefined) this.rejectCall(call, error);
    this.pump();
    this.finishDrainIfIdle();
  }

  private takeInflight(id: number): PendingCall | undefined {
    const call = this.inflight.get(id);
    if (call === undefined) return undefined;
    this.inflight.delete(id);
    this.inflightBytes -= call.bytes;
    return call;
  }

  private errorFromWire(error: WireError): VigilError {
    const { path, ...rest } = error;
    return vigilErrorFromWire(path === undefined ? rest : { ...rest, path: this.options.pathFromServer(path) });
  }

  private observeRevision(revision: number): void {
    if (revision > this.lastRevisionValue) this.lastRevisionValue = revision;
  }

  // ---- sending ----

  /** Writes queued calls, internal ones first, within the protocol's in-flight bounds (§8). */
  private pump(): void {
    const connection = this.connection;
    if (connection === null) return;
    for (;;) {
      const fromPriority = this.priority.length > 0;
      const call = fromPriority ? this.priority[0] : this.queue[0];
      if (call === undefined) return;
      const take = (): void => {
        if (fromPriority) this.priority.shift();
        else this.queue.shift();
      };
      if (call.settled) {
        take();
        continue;
      }
      // A draining server gets only what the SDK itself must say (unwatch, close).
      if (this.draining && !call.internal) return;
      if (this.inflight.size >= inFlightRequestsMax) return;
      // A write is numbered when first written; at most sessionWritesInFlightMax numbers await answers.
      const seq = !call.sequenced ? 0 : call.seq !== 0 ? call.seq : this.seqNext;
      const seqFloor = Math.min(seq, this.seqFloor());
      if (call.sequenced && seq - seqFloor >= sessionWritesInFlightMax) return;
      const id = this.requestId();
      let bytes: Uint8Array;
      try {
        bytes = encodeFrame({ t: 'req', id, ...call.body, ...(seq === 0 ? {} : { seq, seqFloor }) } as Request);
      } catch (err) {
        take();
        this.rejectCall(call, isVigilError(err) ? err : new VigilError('BAD_ARGUMENTS', String(err)));
        continue;
      }
      if (this.inflight.size > 0 && this.inflightBytes + bytes.byteLength > inFlightRequestBytesMax) return;
      take();
      if (call.sequenced && call.seq === 0) {
        call.seq = this.seqNext++;
        this.awaitingSeqs.add(call.seq);
      }
      call.bytes = bytes.byteLength;
      this.inflight.set(id, call);
      this.inflightBytes += call.bytes;
      connection.send(bytes);
      this.lastSentAtMs = call.sentAtMs = performance.now();
    }
  }

  /** The lowest `seq` still awaiting an answer, or the next one when none does. */
  private seqFloor(): number {
    let floor = this.seqNext;
    for (const seq of this.awaitingSeqs) if (seq < floor) floor = seq;
    return floor;
  }

  /** A counter wrapping at requestIdMax, skipping ids still unanswered (§3.2). */
  private requestId(): number {
    for (;;) {
      const id = this.requestIdNext;
      this.requestIdNext = id >= requestIdMax ? 0 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
  }

  // ---- heartbeat ----

  private scheduleHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.connection === null) return;
    const timeoutMs = this.negotiatedTimeoutMs;
    const dueAt = Math.min(this.lastPingAtMs + timeoutMs / 3, this.lastReceivedAtMs + timeoutMs * deadAfterFraction);
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), Math.max(1, Math.ceil(dueAt - performance.now())));
  }

  /**
   * Ping when nothing was sent for a third of the timeout (§5). Silence for half of it means the
   * connection is dead even if TCP has not noticed: leave it while the session can still be
   * resumed elsewhere.
   */
  private heartbeat(): void {
    this.heartbeatTimer = null;
    const connection = this.connection;
    if (connection === null) return;
    const now = performance.now();
    const timeoutMs = this.negotiatedTimeoutMs;
    if (now - this.lastReceivedAtMs >= timeoutMs * deadAfterFraction) {
      this.lost(new VigilError('CONNECTION_LOSS', `nothing from ${connection.endpoint} for ${Math.round(now - this.lastReceivedAtMs)}ms`));
      return;
    }
    if (now - this.lastPingAtMs >= timeoutMs / 3) this.sendPing(connection);
    this.scheduleHeartbeat();
  }

  /** Pings skip the queue and the in-flight bounds: they must go even when those are full. */
  private sendPing(connection: Connection): void {
    const id = this.requestId();
    const call = pendingCall({ op: 'ping' }, { resolve: noop, reject: noop, resendable: false, internal: true, onAnswer: undefined, onLateAnswer: undefined });
    const bytes = encodeFrame({ t: 'req', id, op: 'ping' });
    call.bytes = bytes.byteLength;
    this.inflight.set(id, call);
    this.inflightBytes += call.bytes;
    connection.send(bytes);
    this.lastSentAtMs = this.lastPingAtMs = call.sentAtMs = performance.now();
  }

  // ---- draining ----

  /** The server will stop soon: send nothing new, and move once the answers are in (bounded). */
  private startDrain(): void {
    if (this.draining || this.connection === null) return;
    this.draining = true;
    const endpoint = this.connection.endpoint;
    this.drainTimer = setTimeout(() => {
      this.drainTimer = null;
      if (this.connection !== null) this.lost(new VigilError('SHUTTING_DOWN', `${endpoint} is draining`));
    }, this.negotiatedTimeoutMs / 3);
    this.finishDrainIfIdle();
  }

  private finishDrainIfIdle(): void {
    if (!this.draining || this.connection === null || this.inflight.size > 0) return;
    this.lost(new VigilError('SHUTTING_DOWN', `${this.connection.endpoint} is draining`));
  }

  // ---- loss, expiry, close ----

  /** The current connection is gone: suspend, keep what can be kept, and dial the next endpoint. */
  private lost(error: VigilError): void {
    const connection = this.detachConnection();
    if (connection === null) return;
    if (this.closing !== null) return;
    if (error.code === 'SESSION_EXPIRED') {
      this.expire(error);
      return;
    }
    const resend: PendingCall[] = [];
    for (const call of this.inflight.values()) {
      if (call.settled) continue;
      if (call.seq !== 0) call.inDoubt = error;
      if (call.resendable || call.seq !== 0) resend.push(call);
      else this.rejectCall(call, new VigilError('CONNECTION_LOSS', `the connection to ${connection.endpoint} was lost before the answer (${error.message})`, { cause: error }));
    }
    this.clearInflight();
    this.failAll(this.priority, new VigilError('CONNECTION_LOSS', `the connection to ${connection.endpoint} was lost`, { cause: error }));
    this.queue.unshift(...resend);
    this.hooks?.onConnectionLost();
    this.setState('suspended');
    this.scheduleDial();
  }

  /** The session is gone: every call fails, every watch ends; maybe open a new session. */
  private expire(error: VigilError): void {
    this.detachConnection();
    for (const call of this.inflight.values()) this.rejectCall(call, endedError(call, error));
    this.clearInflight();
    this.failAll(this.priority, error);
    for (const call of this.queue.splice(0)) this.rejectCall(call, endedError(call, error));
    this.seqNext = 1;
    this.awaitingSeqs.clear();
    this.sessionIdValue = 0;
    this.secret = null;
    this.confirmedAtMsValue = 0;
    this.hooks?.onConnectionLost();
    this.hooks?.onSessionEnded(error);
    this.setState('expired');
    if (this.options.reopenAfterExpiry) this.scheduleDial();
  }

  /**
   * The client cannot go on (its credentials were refused): as `close()`, but every pending and
   * later call fails with `error`, persistent watches fail with it, and `connect()` rejects with
   * it at once.
   */
  private end(error: VigilError): void {
    if (this.closing !== null) return;
    this.fatal = error;
    // The refused connection is gone already: there is nobody to send `close` to.
    this.detachConnection();
    this.closing = this.shutdown(error);
  }

  /** `closed` is what pending calls (and an unfinished `connect()`) fail with. */
  private async shutdown(closed: VigilError): Promise<void> {
    if (this.dialTimer !== null) clearTimeout(this.dialTimer);
    this.dialTimer = null;
    this.dialing?.terminate();
    this.dialing = null;
    for (const call of this.queue.splice(0)) this.rejectCall(call, this.fatal === null ? closed : fatalError(call, closed));
    if (this.connection !== null) await this.endSession();
    this.confirmedAtMsValue = 0;
    this.detachConnection();
    for (const call of this.inflight.values()) this.rejectCall(call, this.fatal === null ? closed : fatalError(call, closed));
    this.clearInflight();
    this.failAll(this.priority, closed);
    this.hooks?.onConnectionLost();
    this.hooks?.onSessionEnded(closed);
    this.setState('closed');
    if (this.opening !== null) {
      clearTimeout(this.opening.timer);
      this.opening.reject(closed);
      this.opening = null;
    }
  }

  /** `close` ends the session and its ephemerals now; without it they live until the timeout. */
  private endSession(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.options.closeTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.internalCall({ op: 'close' }).then(done, done);
    });
  }

  private detachConnection(): Connection | null {
    const connection = this.connection;
    this.connection = null;
    this.serverIdValue = 0;
    this.draining = false;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    if (this.heartbeatTimer !== null) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = null;
    connection?.terminate();
    return connection;
  }

  private clearInflight(): void {
    this.inflight.clear();
    this.inflightBytes = 0;
  }

  private failAll(calls: PendingCall[], error: VigilError): void {
    for (const call of calls.splice(0)) this.rejectCall(call, error);
  }

  private giveUp(call: PendingCall, error: VigilError): void {
    if (call.settled) return;
    // Not yet written: it leaves the queue. Written: it stays in `inflight` (settled), so its
    // late answer is recognised and ignored, and it still counts against the in-flight bounds.
    const index = this.queue.indexOf(call);
    if (index >= 0) this.queue.splice(index, 1);
    this.rejectCall(call, error);
    // Its seq no longer holds the floor down: a write held back by the cap may go now.
    if (call.seq !== 0) this.pump();
  }

  private rejectCall(call: PendingCall, error: VigilError): void {
    if (call.settled) return;
    this.settleCall(call);
    call.reject(error);
  }

  private settleCall(call: PendingCall): void {
    settle(call);
    if (call.seq !== 0) this.awaitingSeqs.delete(call.seq);
  }

  private setState(state: ConnectionState): void {
    if (this.current === state) return;
    this.current = state;
    for (const listener of [...this.stateListeners]) {
      try {
        listener(state);
      } catch {
        // A listener's failure is its own; it must not break the session or the other listeners.
      }
    }
  }
}

function pendingCall(
  body: RequestBody,
  fields: Pick<PendingCall, 'resolve' | 'reject' | 'resendable' | 'internal' | 'onAnswer' | 'onLateAnswer'>,
): PendingCall {
  const sequenced = !fields.internal && sequencedOps.has(body.op);
  return { body, ...fields, sequenced, seq: 0, inDoubt: null, settled: false, timer: null, detachAbort: null, bytes: 0, sentAtMs: 0 };
}

/** The deadline passed: for a write being resent, its outcome is unknown. */
function deadlineError(call: PendingCall, timeoutMs: number): VigilError {
  if (call.inDoubt === null) return new VigilError('TIMEOUT', `no answer to ${call.body.op} within ${timeoutMs}ms`);
  return new VigilError('TIMEOUT', `no answer to ${call.body.op} within ${timeoutMs}ms; it was being resent after ${call.inDoubt.message}, so whether it took effect is unknown`, { cause: call.inDoubt });
}

/** The session ended: a write being resent fails with the unknown-outcome error, anything else with `error`. */
function endedError(call: PendingCall, error: VigilError): VigilError {
  if (call.inDoubt === null) return error;
  return new VigilError('CONNECTION_LOSS', `${call.body.op} was being resent after ${call.inDoubt.message} when the session ended (${error.message}); whether it took effect is unknown`, { cause: error });
}

/**
 * The client ended (AUTH_FAILED): a write already sent and not answered (in flight, or being
 * resent) keeps the code but says its outcome is unknown.
 */
function fatalError(call: PendingCall, error: VigilError): VigilError {
  if (call.seq === 0) return error;
  const after = call.inDoubt === null ? 'was sent' : `was being resent after ${call.inDoubt.message}`;
  return new VigilError(error.code, `${call.body.op} ${after} when the client ended (${error.message}); whether it took effect is unknown`, { cause: error });
}

function settle(call: PendingCall): void {
  call.settled = true;
  if (call.timer !== null) clearTimeout(call.timer);
  call.timer = null;
  call.detachAbort?.();
  call.detachAbort = null;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

function noop(): void {}

/**
 * Whether an answer proves the session was heard, after the request was sent, by a member in
 * touch with the leader (client.sessionAliveUntilMs): a ping (a member cut off from the leader
 * answers NO_LEADER instead), and a write or linearizable read that went through the leader and
 * came back with a result or a tree error. A sequential read, or any other error, proves nothing:
 * a member cut off from the leader still answers those.
 */
function vouchesForSession(body: RequestBody, response: Response): boolean {
  if (!response.ok && !(isErrorCode(response.error.name) && errorCatalogue[response.error.name].wire < 200)) return false;
  switch (body.op) {
    case 'ping':
    case 'create':
    case 'set':
    case 'delete':
    case 'multi':
    case 'setAcl':
    case 'sync':
      return true;
    case 'get':
    case 'exists':
    case 'children':
    case 'getAcl':
      return body.consistency !== 'sequential';
    default:
      return false;
  }
}
