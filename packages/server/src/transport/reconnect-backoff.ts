/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"): the delay is uniform in [0, min(max, base · 2^attempt)], so a cluster restarting at
 * once does not redial in lockstep. Randomness is injected for tests; production passes
 * Math.random (this is the transport, not the deterministic Raft core).
 */
export interface ReconnectBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Beyond this the cap is reached for any sane base; also keeps 2^attempt finite. */
const attemptExponentMax = 30;

export function reconnectDelayMs(backoff: ReconnectBackoff, attempt: number, random: () => number): number {
  const capMs = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt, attemptExponentMax));
  return Math.floor(random() * capMs);
}
