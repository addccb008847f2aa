/**
 * Reconnect delays: exponential with full jitter (a uniform draw in [0, min(max, base·2^attempt))),
 * so that the clients of a failed server do not all come back in the same instant.
 */
export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Past this exponent the cap is maxMs anyway; it keeps 2^attempt finite. */
const exponentMax = 30;

export function backoffDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const capMs = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt, exponentMax));
  return Math.floor(random() * capMs);
}
