/**
 * The queue under every waiting recipe (locks, elections, semaphores): each participant is an
 * ephemeral child of the recipe's directory, and participants are ordered by the revision that
 * created them (`czxid`), which is also the fencing token a holder gets.
 *
 * Names are `<prefix><uuid>` with a fresh uuid per attempt, not ZooKeeper's sequential suffix:
 * the creation revision already orders participants totally, and a fixed name makes a create
 * whose reply was lost safe to send again — the retry finds its own node (NODE_EXISTS, owned by
 * this session) instead of leaving an orphan that would sit in the queue until the session ends
 * (Curator's `withProtection` problem, solved by construction).
 */
import { randomUUID } from 'node:crypto';
import { isVigilError, VigilError, type Stat, type VigilClient } from '../index.js';

/** One participant's node as created by this client. */
export interface Participant {
  readonly path: string;
  readonly name: string;
  /** The creation revision: the queue position and the fencing token. */
  readonly token: number;
  /** The session that owns the node; a different current session means the node is gone. */
  readonly sessionId: number;
  /**
   * The create was sent more than once (a reply was lost): an earlier copy may still be on its
   * way inside the cluster, so a node given up must be watched for a late re-creation.
   */
  readonly resent: boolean;
}

/** A child of the recipe directory, as a listing sees it. */
export interface QueueEntry {
  readonly name: string;
  readonly path: string;
  readonly stat: Stat;
}

/** Attempts to create one participant while replies are being lost; the deadline bounds it too. */
export const createAttemptsMax = 16;

/** Write errors after which the write may or may not have taken effect. */
export function outcomeUnknown(err: unknown): boolean {
  return isVigilError(err) && (err.code === 'CONNECTION_LOSS' || err.code === 'TIMEOUT');
}

/** Errors worth another attempt of an idempotent step (the write certainly did not happen, or it is idempotent). */
export function transient(err: unknown): boolean {
  return outcomeUnknown(err) || (isVigilError(err) && err.retryable);
}

export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * Creates this client's participant node `<dir>/<prefix><uuid>` (ephemeral, parents created),
 * sending the create again when its outcome is unknown. Resolves with the node and its token.
 */
export async function enterQueue(
  client: VigilClient,
  options: { readonly dir: string; readonly name: string; readonly data?: Uint8Array | string; readonly signal?: AbortSignal | undefined },
): Promise<Participant> {
  const name = options.name;
  const path = childPath(options.dir, name);
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    const sessionId = client.sessionId;
    try {
      const created = await client.create(path, options.data ?? '', { mode: 'ephemeral', createParents: true, signal: options.signal });
      return { path, name, token: created.stat.czxid, sessionId, resent: attempt > 1 };
    } catch (err) {
      if (isVigilError(err) && err.code === 'NODE_EXISTS') {
        // An earlier attempt took effect after all: adopt it if this session owns it.
        const stat = await client.exists(path, { signal: options.signal });
        if (stat !== null && stat.ephemeralOwner === client.sessionId && client.sessionId !== 0) {
          return { path, name, token: stat.czxid, sessionId: client.sessionId, resent: true };
        }
        // Owned by a session that has since expired (or just deleted): start over under a new name.
        return enterQueue(client, { ...options, name: participantName(options.name.slice(0, options.name.length - uuidLength)) });
      }
      // After an expiry the client opens a new session (reopenAfterExpiry): the node belongs there.
      const expired = isVigilError(err) && err.code === 'SESSION_EXPIRED' && sessionId !== 0;
      if ((!transient(err) && !expired) || attempt >= createAttemptsMax) throw err;
      await pause(retryDelayMs * attempt, options.signal);
    }
  }
}

const uuidLength = 36;

/** A fresh participant name: `prefix` and a random uuid. */
export function participantName(prefix: string): string {
  return `${prefix}${randomUUID()}`;
}

/**
 * Gives up a participant: deletes its node. When a copy of its create may still be on its way
 * (`mayReappear`: the create's outcome was unknown, or it was sent more than once), also deletes
 * it again should a late create bring it back — the one-shot watch that does so stays with the
 * session until then, so it is armed only in that rare case.
 */
export async function abandonParticipant(client: VigilClient, path: string, mayReappear: boolean): Promise<void> {
  await leaveQueue(client, path).catch(() => undefined);
  if (!mayReappear) return;
  client
    .exists(path, { watch: (event) => void (event.kind === 'created' && leaveQueue(client, path).catch(() => undefined)) })
    .then((stat) => (stat === null ? undefined : leaveQueue(client, path)))
    .catch(() => undefined);
}

export interface ListOptions {
  readonly prefixes?: readonly string[];
  readonly signal?: AbortSignal | undefined;
  /**
   * 'sequential' for a participant deciding on its own turn: the SDK never reads older than the
   * session's `lastRevision`, which is at least the participant's own creation, and a listing at
   * any revision after that can only show *more* of the older participants than there are now
   * (unique names never come back, and no older node can be created later). So a stale listing
   * may make a participant wait for a node already gone — it then finds it gone and lists again —
   * but never lets it through early. It saves a ReadIndex round on every handover.
   * Default 'linearizable' (an observer asking who holds).
   */
  readonly consistency?: 'linearizable' | 'sequential';
}

/** The queue's participants with one of `prefixes` (all when omitted), oldest first. */
export async function listQueue(client: VigilClient, dir: string, options: ListOptions = {}): Promise<QueueEntry[]> {
  return (await listQueueAt(client, dir, options)).entries;
}

/** `listQueue` with the revision the listing observed (0 when the directory does not exist). */
export async function listQueueAt(client: VigilClient, dir: string, options: ListOptions = {}): Promise<{ entries: QueueEntry[]; revision: number }> {
  let listing: { names: string[]; stats?: Stat[]; revision: number };
  try {
    listing = await client.children(dir, { withStats: true, signal: options.signal, consistency: options.consistency ?? 'linearizable' });
  } catch (err) {
    if (isVigilError(err) && err.code === 'NO_NODE') return { entries: [], revision: 0 };
    throw err;
  }
  const entries: QueueEntry[] = [];
  listing.names.forEach((name, i) => {
    const stat = listing.stats?.[i];
    if (stat === undefined) return;
    if (options.prefixes !== undefined && !options.prefixes.some((p) => name.startsWith(p))) return;
    entries.push({ name, path: childPath(dir, name), stat });
  });
  return { entries: entries.sort((a, b) => a.stat.czxid - b.stat.czxid), revision: listing.revision };
}

/**
 * Deletes this client's node, sending the delete again while its outcome is unknown (a delete of
 * a node already gone is done). Never throws for NO_NODE; gives up on CLOSED.
 */
export async function leaveQueue(client: VigilClient, path: string): Promise<void> {
  for (let attempt = 1; attempt <= createAttemptsMax; attempt++) {
    try {
      await client.delete(path);
      return;
    } catch (err) {
      if (!isVigilError(err)) throw err;
      if (err.code === 'NO_NODE' || err.code === 'CLOSED' || err.code === 'SESSION_EXPIRED') return;
      if (!transient(err) || attempt === createAttemptsMax) throw err;
      await pause(retryDelayMs * attempt, undefined);
    }
  }
}

/** The step between attempts of an idempotent write (times the attempt number). */
const retryDelayMs = 25;

/** Waits `ms`, or less if `signal` aborts (never rejects). */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new VigilError('CANCELLED', 'the signal was aborted', { cause: signal.reason });
}

/** A signal that aborts with `signal` or after `timeoutMs` (TIMEOUT), whichever comes first. */
export function deadlineSignal(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  const parts: AbortSignal[] = [];
  if (signal !== undefined) parts.push(signal);
  if (timeoutMs !== undefined) {
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new VigilError('BAD_ARGUMENTS', `timeoutMs: a number of ms ≥ 0, not ${String(timeoutMs)}`);
    parts.push(AbortSignal.timeout(timeoutMs));
  }
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : AbortSignal.any(parts);
}

/** The error for a wait that `signal` ended: TIMEOUT for a deadline, CANCELLED otherwise. */
export function abortError(signal: AbortSignal | undefined, what: string): VigilError {
  const reason: unknown = signal?.reason;
  if (reason instanceof DOMException && reason.name === 'TimeoutError') return new VigilError('TIMEOUT', `${what}: the deadline passed`);
  return new VigilError('CANCELLED', `${what}: the signal was aborted`, { cause: reason });
}
