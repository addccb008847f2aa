import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { connect, isVigilError, Lock, type VigilClient } from '@vigil/client';
import { decodeServerFrame, encodeFrame, errorCatalogue, isErrorCode, webSocketSubprotocol, type ClientFrame, type ServerFrame } from '@vigil/protocol';
import type { Prng } from '@vigil/raft';
import type { EphemeralObservation, EphemeralRecord, FencedWrite, LockHold, WatcherRecord, WatchItem, ZnodeOp } from '@vigil/check';

/** The checkers' records are read-only; the workload fills some of them in as a run goes on. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type EphemeralLife = Mutable<EphemeralRecord>;
type Hold = Mutable<LockHold> & { readonly sessionId: number };
type WatchStream = WatcherRecord & { readonly items: WatchItem[] };

/**
 * What the clients do during a fault run, and what they record: every operation with its invoke
 * and completion time on the monotonic clock, its outcome and result, in the shapes
 * `@vigil/check` reads. Clients live in the root namespace and reach members over the bridge.
 */

export const registersPath = '/fv/r';
/**
 * The registers rotate: every generation uses fresh znodes (`/fv/r/g<generation>k<k>`), as Jepsen's
 * independent keys do, so that no znode's history grows with the run's length — the
 * linearizability search's cost grows faster than linearly in a znode's operations.
 */
export const registerGenerationMs = 20_000;
export const acknowledgedPath = '/fv/a';
export const ephemeralsPath = '/fv/e';
export const lockPath = '/fv/lock';
export const fencedResourcePath = '/fv/fenced';

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly prng: Prng;
  /** Register clients, each one session doing one operation at a time. */
  readonly registerClients: number;
  readonly keys: number;
  readonly sessionTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** Ephemeral owners that crash (drop their socket) after a while. */
  readonly ephemeralOwners: number;
  readonly lockClients: number;
  readonly watchers: number;
}

export interface History {
  /** Date.now() − performance.now() when the run began: maps the history's times onto the members' log times. */
  readonly clockOffsetMs: number;
  readonly ops: ZnodeOp[];
  /** Sequential reads: not linearizable, checked for session order only. */
  readonly sequentialReads: ZnodeOp[];
  /** Creates of unique znodes that nobody deletes: each acknowledged one must survive. */
  readonly acknowledgedCreates: ZnodeOp[];
  readonly watchStreams: WatchStream[];
  readonly ephemerals: EphemeralLife[];
  readonly ephemeralObservations: EphemeralObservation[];
  readonly holds: Hold[];
  readonly fencedWrites: FencedWrite[];
  /** Client-side failures that are not operation outcomes (a recipe's unexpected error). */
  readonly clientErrors: string[];
}

const utf8 = new TextDecoder();
const definiteErrors = new Set(['NO_NODE', 'NODE_EXISTS', 'BAD_VERSION', 'NOT_EMPTY']);
/** Process numbers of the pinned readers (one per member), apart from every other client's. */
const pinnedReaderProcess = 500;
/** Above every pinned reader of the largest cluster the runner makes; the lock clients start at 1000. */
const pinnedReaderProcessEnd = 600;

/**
 * Whether the operations of `process` are a client's that may move between members (given every
 * endpoint), which is what availability measures. A pinned reader models a client bound to one
 * member: while that member is cut off it cannot be served anywhere, by design.
 */
export function failsOver(process: number): boolean {
  return process < pinnedReaderProcess || process >= pinnedReaderProcessEnd;
}

/** A VigilError's outcome for the checkers: see docs/errors.md for what each code promises. */
export function outcomeOf(err: unknown, isWrite: boolean): { outcome: 'error' | 'fail' | 'info'; error: string } {
  const code = isVigilError(err) ? err.code : 'UNKNOWN';
  if (definiteErrors.has(code)) return { outcome: 'error', error: code };
  if (isErrorCode(code) && errorCatalogue[code].retryable) return { outcome: 'fail', error: code };
  // Unknown outcome; a read that failed observed nothing, so it is simply dropped.
  return { outcome: isWrite ? 'info' : 'fail', error: code };
}

export class Workload {
  readonly history: History = {
    clockOffsetMs: Date.now() - performance.now(),
    ops: [],
    sequentialReads: [],
    acknowledgedCreates: [],
    watchStreams: [],
    ephemerals: [],
    ephemeralObservations: [],
    holds: [],
    fencedWrites: [],
    clientErrors: [],
  };
  private readonly stop = new AbortController();
  private readonly running: Promise<void>[] = [];
  /** Every client with the member it starts at, and whether it is pinned to that member alone. */
  private readonly clients: { client: VigilClient; first: number; pinned: boolean }[] = [];
  private readonly liveEphemerals = new Set<string>();
  private nextValue = 0;
  private readonly startedMs = performance.now();
  private endpoints: readonly string[];

  constructor(private readonly options: WorkloadOptions) {
    this.endpoints = options.endpoints;
  }

  /** The members changed: every client dials these from now on (as an operator updates a connection string). */
  setEndpoints(endpoints: readonly string[]): void {
    this.endpoints = endpoints;
    for (const { client, first, pinned } of this.clients) client.setEndpoints(this.endpointsFor(first, pinned));
  }

  /** The paths the workload writes under, created once before any fault. */
  static async prepare(endpoints: readonly string[]): Promise<void> {
    const client = await connect({ endpoints, requestTimeoutMs: 10_000 });
    try {
      for (const path of [registersPath, acknowledgedPath, ephemeralsPath, lockPath, fencedResourcePath]) {
        await client.create(path, '', { createParents: true }).catch((err: unknown) => {
          if (!(isVigilError(err) && err.code === 'NODE_EXISTS')) throw err;
        });
      }
    } finally {
      await client.close();
    }
  }

  async start(): Promise<void> {
    const o = this.options;
    for (let w = 0; w < o.watchers; w++) await this.startWatcher(w);
    for (let p = 0; p < o.registerClients; p++) this.spawn(() => this.registerClient(p));
    this.spawn(() => this.acknowledgedCreator(o.registerClients, false));
    // And one pinned to each member, as Jepsen binds a client to each node: whichever member a
    // fault cuts off or makes leader, some writer is on it — a write acknowledged by a cut-off
    // leader without a majority is then lost for certain, and the check below sees it.
    for (let m = 0; m < this.endpoints.length; m++) this.spawn(() => this.acknowledgedCreator(o.registerClients + 1 + m, true, m));
    // Likewise a reader pinned to each member: a member cut off from the leader always has a reader
    // on it until it ends its connections, so a read it answers from its own state is seen stale.
    for (let m = 0; m < this.endpoints.length; m++) this.spawn(() => this.pinnedReader(pinnedReaderProcess + m, m));
    for (let e = 0; e < o.ephemeralOwners; e++) this.spawn(() => this.ephemeralOwner(e));
    if (o.ephemeralOwners > 0) this.spawn(() => this.ephemeralObserver());
    for (let l = 0; l < o.lockClients; l++) this.spawn(() => this.lockClient(1000 + l));
  }

  /** Stops issuing operations and waits for those in flight to end (each has a deadline). */
  async finish(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.running);
  }

  /** Observes every ephemeral not yet seen gone until all are, or `timeoutMs` passes. */
  async awaitEphemeralsGone(timeoutMs: number): Promise<void> {
    const client = await this.client();
    const deadline = performance.now() + timeoutMs;
    const pending = new Set(this.history.ephemerals.filter((e) => e.ownerGoneMs !== undefined).map((e) => e.path));
    while (pending.size > 0 && performance.now() < deadline) {
      for (const path of [...pending]) {
        const exists = await this.observe(client, path);
        if (exists === false) pending.delete(path);
      }
      if (pending.size > 0) await delay(250);
    }
  }

  /** After healing: the acknowledged creates, as the cluster lists them now. */
  async listAcknowledged(): Promise<Set<string>> {
    const client = await this.client();
    const present = new Set<string>();
    const { names: parents } = await client.children(acknowledgedPath, { timeoutMs: 20_000 });
    for (const parent of parents) {
      const { names } = await client.children(`${acknowledgedPath}/${parent}`, { timeoutMs: 20_000 });
      for (const n of names) present.add(`${acknowledgedPath}/${parent}/${n}`);
    }
    return present;
  }

  /** Final linearizable reads of every register, recorded like any other read. */
  async readRegisters(): Promise<void> {
    const client = await this.client();
    for (let g = 0; g <= this.generation(); g++) {
      for (let k = 0; k < this.options.keys; k++) await this.op(client, -1, { f: 'get', key: registerPath(g, k) });
    }
  }

  private generation(): number {
    return Math.floor((performance.now() - this.startedMs) / registerGenerationMs);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled(this.clients.map(({ client }) => client.close()));
  }

  private spawn(task: () => Promise<void>): void {
    this.running.push(
      task().catch((err: unknown) => {
        const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        this.history.clientErrors.push(err instanceof Error ? `${err.message}${cause}` : String(err));
      }),
    );
  }

  /** Each client starts at a different member, so every member serves some of them; a pinned one dials only its own. */
  private endpointsFor(first: number, pinned: boolean): string[] {
    const e = this.endpoints;
    return pinned ? [e[first % e.length]!] : e.map((_, i) => e[(first + i) % e.length]!);
  }

  private async client(first = 0, pinned = false): Promise<VigilClient> {
    const client = await connect({
      endpoints: this.endpointsFor(first, pinned),
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      requestTimeoutMs: this.options.requestTimeoutMs,
      reopenAfterExpiry: true,
    });
    this.clients.push({ client, first, pinned });
    return client;
  }

  private value(process: number): string {
    return `${process}.${this.nextValue++}`;
  }

  private async registerClient(process: number): Promise<void> {
    const { prng, keys } = this.options;
    const client = await this.client(process);
    const versions = new Map<string, number>();
    while (!this.stop.signal.aborted) {
      const key = registerPath(this.generation(), prng.nextInt(keys));
      const roll = prng.nextInt(100);
      const known = versions.get(key) ?? 0;
      const op =
        roll < 35 ? ({ f: 'get', key } as const)
        : roll < 45 ? ({ f: 'get', key, sequential: true } as const)
        : roll < 62 ? ({ f: 'set', key, value: this.value(process) } as const)
        : roll < 72 ? ({ f: 'set', key, value: this.value(process), expectedVersion: known } as const)
        : roll < 88 ? ({ f: 'create', key, value: this.value(process) } as const)
        : roll < 94 ? ({ f: 'delete', key } as const)
        : ({ f: 'delete', key, expectedVersion: known } as const);
      const recorded = await this.op(client, process, op);
      if (recorded.outcome === 'ok' && recorded.resultVersion !== undefined) versions.set(key, recorded.resultVersion);
    }
  }

  /** Linearizable reads of the registers, on one member only. */
  private async pinnedReader(process: number, member: number): Promise<void> {
    const { prng, keys } = this.options;
    const client = await this.client(member, true);
    while (!this.stop.signal.aborted) await this.op(client, process, { f: 'get', key: registerPath(this.generation(), prng.nextInt(keys)) });
  }

  private async op(
    client: VigilClient,
    process: number,
    op: { f: ZnodeOp['f']; key: string; value?: string; expectedVersion?: number; sequential?: boolean },
  ): Promise<ZnodeOp> {
    const base = {
      process,
      sessionId: client.sessionId,
      key: op.key,
      f: op.f,
      ...(op.value !== undefined ? { value: op.value } : {}),
      ...(op.expectedVersion !== undefined ? { expectedVersion: op.expectedVersion } : {}),
    };
    const invokeMs = performance.now();
    let recorded: ZnodeOp;
    try {
      switch (op.f) {
        case 'get': {
          const { data, stat } = await client.get(op.key, op.sequential === true ? { consistency: 'sequential' } : {});
          recorded = { ...base, outcome: 'ok', resultValue: utf8.decode(data), resultVersion: stat.version, revision: stat.mzxid, invokeMs, completeMs: performance.now() };
          break;
        }
        case 'set': {
          const stat = await client.set(op.key, op.value ?? '', op.expectedVersion !== undefined ? { version: op.expectedVersion } : {});
          recorded = { ...base, outcome: 'ok', resultVersion: stat.version, revision: stat.mzxid, invokeMs, completeMs: performance.now() };
          break;
        }
        case 'create': {
          const { stat } = await client.create(op.key, op.value ?? '');
          recorded = { ...base, outcome: 'ok', resultVersion: stat.version, revision: stat.czxid, invokeMs, completeMs: performance.now() };
          break;
        }
        case 'delete': {
          // The SDK does not return a delete's revision: recorded without one.
          await client.delete(op.key, op.expectedVersion !== undefined ? { version: op.expectedVersion } : {});
          recorded = { ...base, outcome: 'ok', invokeMs, completeMs: performance.now() };
          break;
        }
      }
    } catch (err) {
      const { outcome, error } = outcomeOf(err, op.f !== 'get');
      recorded = { ...base, outcome, error, invokeMs, completeMs: performance.now() };
    }
    if (op.sequential === true) this.history.sequentialReads.push(recorded);
    else this.history.ops.push(recorded);
    return recorded;
  }

  /** Unique persistent nodes, never deleted: each acknowledged one must be there after healing. */
  private async acknowledgedCreator(process: number, pinned: boolean, member = process): Promise<void> {
    const client = await this.client(member, pinned);
    for (let n = 0; !this.stop.signal.aborted; n++) {
      // Each creator under a parent of its own, so that no listing outgrows a frame in long runs.
      const key = `${acknowledgedPath}/p${process}/c${n}`;
      const invokeMs = performance.now();
      try {
        const { stat } = await client.create(key, '', { createParents: true });
        this.history.acknowledgedCreates.push({ process, sessionId: client.sessionId, key, f: 'create', outcome: 'ok', revision: stat.czxid, invokeMs, completeMs: performance.now() });
      } catch (err) {
        const { outcome, error } = outcomeOf(err, true);
        this.history.acknowledgedCreates.push({ process, sessionId: client.sessionId, key, f: 'create', outcome, error, invokeMs, completeMs: performance.now() });
      }
    }
  }

  private async startWatcher(w: number): Promise<void> {
    const client = await this.client(w + 1);
    const { revision } = await client.children(registersPath);
    const sessionId = client.sessionId;
    const record: WatchStream = { id: `watcher ${w}`, path: registersPath, recursive: true, startRevision: revision, items: [] };
    this.history.watchStreams.push(record);
    // The client's recent connection states, so that a session lost in a run can be explained.
    const states: string[] = [];
    client.on('state', (state) => {
      states.push(`${performance.now().toFixed(0)} ${state} (member ${client.serverId})`);
      if (states.length > 16) states.shift();
    });
    const stream = client.watch(registersPath, { recursive: true, fromRevision: revision, signal: this.stop.signal });
    this.spawn(async () => {
      try {
        for await (const event of stream) {
          if (event.kind === 'historyCompacted') record.items.push({ kind: 'compacted', floor: event.floor });
          else record.items.push({ path: event.path, kind: event.kind, revision: event.revision });
        }
      } catch (err) {
        if (!this.stop.signal.aborted) throw new Error(`watcher ${w} (session ${sessionId}, last connected to member ${client.serverId}) ended at ${performance.now().toFixed(0)} ms; its last states: ${states.join(', ')}`, { cause: err });
      }
    });
    await stream.ready;
  }

  /**
   * Owners speak the protocol directly, so that they can crash: the socket is dropped without a
   * close, and the session must expire by itself one timeout later, taking its ephemeral along.
   */
  private async ephemeralOwner(owner: number): Promise<void> {
    const { prng, sessionTimeoutMs } = this.options;
    for (let n = 0; !this.stop.signal.aborted; n++) {
      const path = `${ephemeralsPath}/o${owner}-${n}`;
      const endpoint = this.endpoints[prng.nextInt(this.endpoints.length)]!;
      const life = await RawSession.open(endpoint, sessionTimeoutMs).catch(() => null);
      if (life === null) {
        await pause(200, this.stop.signal);
        continue;
      }
      try {
        const createInvokeMs = performance.now();
        const created = await life.request({ op: 'create', path, data: new Uint8Array(0), mode: 'ephemeral' });
        if (created === null || !created.ok) continue;
        const record: EphemeralLife = { path, sessionId: life.sessionId, createInvokeMs, createdMs: performance.now(), timeoutMs: life.timeoutMs, ownerAliveUntilMs: life.aliveAtMs };
        this.history.ephemerals.push(record);
        this.liveEphemerals.add(path);
        const livesMs = 500 + prng.nextInt(3_000);
        const until = performance.now() + livesMs;
        while (performance.now() < until && !this.stop.signal.aborted && !life.closed) {
          const pong = await life.request({ op: 'ping' });
          if (pong !== null && pong.ok) record.ownerAliveUntilMs = life.aliveAtMs;
          await pause(Math.min(300, life.timeoutMs / 4), this.stop.signal);
        }
      } finally {
        life.crash();
        const record = this.history.ephemerals.find((e) => e.path === path);
        if (record !== undefined) record.ownerGoneMs = life.goneMs ?? performance.now();
      }
    }
  }

  private async ephemeralObserver(): Promise<void> {
    const client = await this.client(2);
    while (!this.stop.signal.aborted) {
      for (const path of [...this.liveEphemerals]) {
        const exists = await this.observe(client, path);
        const life = this.history.ephemerals.find((e) => e.path === path);
        // Watched until seen gone after its owner went.
        if (exists === false && life?.ownerGoneMs !== undefined) this.liveEphemerals.delete(path);
      }
      await pause(100, this.stop.signal);
    }
  }

  private async observe(client: VigilClient, path: string): Promise<boolean | undefined> {
    const invokeMs = performance.now();
    try {
      const stat = await client.exists(path);
      this.history.ephemeralObservations.push({ path, invokeMs, completeMs: performance.now(), exists: stat !== null });
      return stat !== null;
    } catch {
      return undefined;
    }
  }

  private async lockClient(process: number): Promise<void> {
    const { prng } = this.options;
    const client = await this.client(process);
    const lock = new Lock(client, lockPath);
    while (!this.stop.signal.aborted) {
      const acquireInvokeMs = performance.now();
      let lease;
      try {
        lease = await lock.acquire({ timeoutMs: this.options.requestTimeoutMs * 2, signal: this.stop.signal });
      } catch {
        continue;
      }
      const hold: Hold = { process, sessionId: client.sessionId, token: lease.token, acquireInvokeMs, acquiredMs: performance.now() };
      this.history.holds.push(hold);
      lease.signal.addEventListener('abort', () => {
        if (hold.releaseInvokeMs === undefined) hold.lostMs = performance.now();
      }, { once: true });
      try {
        const results = await client.multi([lease.fence(), { op: 'set', path: fencedResourcePath, data: String(lease.token) }]);
        const set = results[1];
        if (set !== undefined && set.op === 'set') this.history.fencedWrites.push({ token: lease.token, ok: true, revision: set.stat.mzxid });
      } catch {
        // A fenced write that failed changed nothing the checker reads.
      }
      await pause(prng.nextInt(150), this.stop.signal);
      hold.releaseInvokeMs = performance.now();
      await lease.release().catch(() => undefined);
    }
  }
}

/** Register `k` of generation `g`. */
export function registerPath(g: number, k: number): string {
  return `${registersPath}/g${g}k${k}`;
}

/** A register's number within the run (for per-znode session order), from its path. */
export function registerNumber(path: string): number {
  const m = /\/g(\d+)k(\d+)$/.exec(path);
  return m === null ? -1 : Number(m[1]) * 1_000 + Number(m[2]);
}

/** Waits `ms`, or less if the run stops meanwhile. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}

type Response = Extract<ServerFrame, { t: 'res' }>;

/** A session over a bare WebSocket: one request at a time, and a crash that sends no close. */
class RawSession {
  sessionId = 0;
  timeoutMs = 0;
  /** Send time of the latest answered request: the session was alive on the cluster then. */
  aliveAtMs = 0;
  goneMs: number | undefined;
  private nextId = 1;
  private waiting: { id: number; sentMs: number; resolve: (r: Response | null) => void } | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const decoded = decodeServerFrame(new Uint8Array(data as Buffer));
      if (!decoded.ok || decoded.value.t !== 'res') return;
      const w = this.waiting;
      if (w === null || decoded.value.id !== w.id) return;
      this.waiting = null;
      this.aliveAtMs = w.sentMs;
      w.resolve(decoded.value);
    });
    ws.on('close', () => this.gone());
    ws.on('error', () => this.gone());
  }

  get closed(): boolean {
    return this.goneMs !== undefined;
  }

  static async open(endpoint: string, sessionTimeoutMs: number): Promise<RawSession> {
    const ws = new WebSocket(endpoint, webSocketSubprotocol);
    const welcome = await new Promise<ServerFrame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no welcome')), 3_000);
      ws.once('open', () => ws.send(encodeFrame({ t: 'hello', protocolVersion: 1, sessionTimeoutMs } satisfies ClientFrame)));
      ws.once('message', (data) => {
        clearTimeout(timer);
        const decoded = decodeServerFrame(new Uint8Array(data as Buffer));
        if (decoded.ok) resolve(decoded.value);
        else reject(new Error(decoded.error.message));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    }).catch((err: unknown) => {
      ws.terminate();
      throw err;
    });
    if (welcome.t !== 'welcome') {
      ws.terminate();
      throw new Error(`expected a welcome, got ${welcome.t}`);
    }
    const session = new RawSession(ws);
    session.sessionId = welcome.sessionId;
    session.timeoutMs = welcome.negotiatedTimeoutMs;
    session.aliveAtMs = performance.now();
    return session;
  }

  /** The answer, or null when the connection ended or 2 s passed first. */
  request(body: Record<string, unknown> & { op: string }): Promise<Response | null> {
    if (this.closed) return Promise.resolve(null);
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.waiting?.id === id) this.waiting = null;
        resolve(null);
      }, 2_000);
      this.waiting = {
        id,
        sentMs: performance.now(),
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.ws.send(encodeFrame({ t: 'req', id, ...body } as unknown as ClientFrame));
    });
  }

  crash(): void {
    this.ws.terminate();
    this.gone();
  }

  private gone(): void {
    this.goneMs ??= performance.now();
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(null);
  }
}
