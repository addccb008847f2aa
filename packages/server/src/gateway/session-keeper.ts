/**
 * Session liveness (docs/design.md). Every member notes which sessions it heard from (any complete
 * frame counts) and reports them in a `sessionHeartbeat` command every `reportEveryMs`; the
 * committed heartbeat stamps the session's `lastSeenMs` with the proposing leader's clock on every
 * replica. The leader alone expires sessions: one whose last committed sighting is older than its
 * timeout gets a `sessionExpire` proposal, which deletes its ephemerals in the same entry.
 *
 * A new leader measures from the later of the committed `lastSeenMs` and the moment it took over:
 * a session silent under the old leader gets at most one fresh timeout, never an endless one.
 *
 * An expiry is the decision of one leader in one term, and dies with it: it is proposed on this
 * member only, never forwarded, so a leader that was paused (and deposed meanwhile) and wakes up
 * believing every session silent cannot have its stale verdicts carried to the new leader, whose
 * log drops them with its old term. A leader whose own timers ran late (it was paused or starved)
 * does not count the time it was not running as the sessions' silence: what it could not hear
 * while stopped says nothing about them. Each such stall delays expiries by its own length, no
 * more.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { sessionSecretBytes } from '@vigil/protocol';
import { heartbeatSessionsMax, type Command, type Store } from '@vigil/store';
import type { Logger } from '../node/logger.js';
import type { Proposed } from './leader-link.js';

export interface SessionKeeperOptions {
  readonly store: Pick<Store, 'sessionRecords' | 'session' | 'hasSession'>;
  /** Propose through the leader (forwarding as needed). */
  readonly propose: (command: Command, signal: AbortSignal) => Promise<Proposed>;
  /** Propose on this member only: fails unless it is the leader, and is dropped if it stops being one. */
  readonly proposeHere: (command: Command, signal: AbortSignal) => Promise<unknown>;
  readonly isLeader: () => boolean;
  readonly reportEveryMs: number;
  readonly checkEveryMs: number;
  /** A check this much later than due means the member was not running (paused, starved). */
  readonly stallMs: number;
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  /** Known-bad switch (testing/known-bad.ts): never expire a session, so its ephemerals stay. */
  readonly neverExpire?: boolean;
}

/** At most this many stalls are remembered (older ones go first). */
const stallsKept = 64;

/** The largest session id: random ids below 2^48 stay exact in every msgpack implementation. */
const sessionIdMax = 2 ** 48;

export class SessionKeeper {
  private readonly o: SessionKeeperOptions;
  private heard = new Set<number>();
  /** Wall-clock ms this member last heard each session itself (it may not have reported it yet). */
  private readonly heardAt = new Map<number, number>();
  private readonly expiring = new Set<number>();
  private leaderSinceMs: number | null = null;
  private lastCheckMs: number | null = null;
  /** Stretches of wall-clock time this member was not running, most recent last (bounded). */
  private readonly stalls: { readonly fromMs: number; readonly toMs: number }[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(options: SessionKeeperOptions) {
    this.o = options;
  }

  start(): void {
    this.timers.push(setInterval(() => this.report(), this.o.reportEveryMs));
    this.timers.push(setInterval(() => this.check(), this.o.checkEveryMs));
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
  }

  /** A frame of this session arrived. */
  touch(sessionId: number): void {
    this.heard.add(sessionId);
    this.heardAt.set(sessionId, Date.now());
  }

  /** Opens a session through Raft; resolves once it is committed and applied on this member. */
  async open(timeoutMs: number, signal: AbortSignal): Promise<{ sessionId: number; secret: Uint8Array; revision: number }> {
    for (;;) {
      const sessionId = randomInt(1, sessionIdMax);
      const secret = new Uint8Array(randomBytes(sessionSecretBytes));
      const p = await this.o.propose({ type: 'sessionOpen', sessionId, timeoutMs, secret }, signal);
      if (p.result.ok) {
        this.touch(sessionId);
        return { sessionId, secret, revision: p.index };
      }
      // Only a random id that is already in use fails here: draw another.
      if (p.result.error.code !== 'BAD_ARGUMENTS') throw new Error(`session open failed: ${p.result.error.message}`);
    }
  }

  /** The session exists and `secret` is its secret (constant-time compare). */
  verify(sessionId: number, secret: Uint8Array): boolean {
    const s = this.o.store.session(sessionId);
    if (s === undefined || s.secret.byteLength !== secret.byteLength) return false;
    let diff = 0;
    for (let i = 0; i < secret.byteLength; i++) diff |= (s.secret[i] as number) ^ (secret[i] as number);
    return diff === 0;
  }

  private report(): void {
    if (this.heard.size === 0) return;
    const ids = [...this.heard];
    this.heard = new Set();
    for (let i = 0; i < ids.length; i += heartbeatSessionsMax) {
      const batch = ids.slice(i, i + heartbeatSessionsMax);
      this.o.propose({ type: 'sessionHeartbeat', sessionIds: batch }, AbortSignal.timeout(this.o.requestTimeoutMs)).catch((err: unknown) => {
        // Report them again next time; the leader also consults its own sightings before expiring.
        for (const id of batch) this.heard.add(id);
        this.o.logger.debug({ err, sessions: batch.length }, 'session heartbeat not committed');
      });
    }
  }

  private check(): void {
    const now = Date.now();
    const lateMs = this.lastCheckMs === null ? 0 : now - this.lastCheckMs - this.o.checkEveryMs;
    this.lastCheckMs = now;
    if (!this.o.isLeader()) {
      this.leaderSinceMs = null;
      this.stalls.length = 0;
      this.pruneHeard(now);
      return;
    }
    if (this.leaderSinceMs !== null && lateMs > this.o.stallMs) {
      this.o.logger.warn({ lateMs }, 'this member stalled while leading; the stall does not count as silence');
      this.stalls.push({ fromMs: now - lateMs, toMs: now });
      if (this.stalls.length > stallsKept) this.stalls.shift();
    }
    this.leaderSinceMs ??= now;
    let oldestLastSeen = now;
    for (const s of this.o.store.sessionRecords()) {
      if (this.expiring.has(s.sessionId)) continue;
      const lastSeen = Math.max(s.lastSeenMs, this.leaderSinceMs, this.heardAt.get(s.sessionId) ?? 0);
      oldestLastSeen = Math.min(oldestLastSeen, lastSeen);
      const silentMs = now - lastSeen - this.stalledMs(lastSeen, now);
      if (silentMs <= s.timeoutMs || this.o.neverExpire === true) continue;
      this.expiring.add(s.sessionId);
      this.o.logger.info({ sessionId: s.sessionId, silentMs, timeoutMs: s.timeoutMs }, 'expiring session');
      this.o
        .proposeHere({ type: 'sessionExpire', sessionId: s.sessionId }, AbortSignal.timeout(this.o.requestTimeoutMs))
        .catch((err: unknown) => this.o.logger.warn({ err, sessionId: s.sessionId }, 'session expiry not committed; decided again if this member still leads'))
        .finally(() => this.expiring.delete(s.sessionId));
    }
    // A stall over before every session's last sighting can no longer count for any.
    while (this.stalls.length > 0 && (this.stalls[0] as { toMs: number }).toMs < oldestLastSeen) this.stalls.shift();
    this.pruneHeard(now);
  }

  /** How much of [fromMs, toMs] this member spent stalled. */
  private stalledMs(fromMs: number, toMs: number): number {
    let total = 0;
    for (const stall of this.stalls) total += Math.max(0, Math.min(toMs, stall.toMs) - Math.max(fromMs, stall.fromMs));
    return total;
  }

  /** Forget sightings of sessions that are gone. */
  private pruneHeard(now: number): void {
    if (this.heardAt.size < 1024) return;
    for (const [id, at] of this.heardAt) if (!this.o.store.hasSession(id) && now - at > 60_000) this.heardAt.delete(id);
  }
}
