/**
 * A graceful stop is a sequence of steps, each with a bound of its own. A step that overruns is
 * logged by name and left behind, and the next step starts: whatever one step waits for (an HTTP
 * request waiting on the Raft driver, a client that never answers a close frame, a peer that does
 * not finish its closing handshake) cannot hold the process past its shutdown deadline. Leaving a
 * step behind is safe: everything acknowledged is already on a majority's synced logs, and the
 * process exits right after the last step (docs/operations.md, Shutdown).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from './logger.js';

/** Each step's bound, in the order the steps run (the leader transfer before them has its own). */
export const shutdownStepMaxMs = {
  /** Requests in flight may still finish while the Raft driver runs; none are taken any more. */
  httpDrain: 1_000,
  /** The Ready in flight, the store's writes and a snapshot being written; then pending requests fail. */
  raftDriver: 1_000,
  /** HTTP requests the driver's close just answered; past this every client-port socket is cut. */
  httpClose: 500,
  /** After the cut, the HTTP server's own close. */
  httpCut: 200,
  peerTransport: 1_000,
  store: 1_000,
  /** The Raft log's last appends, and its file closed. */
  raftLog: 1_000,
  database: 1_000,
} as const;

export type ShutdownStep = keyof typeof shutdownStepMaxMs;

/**
 * Past the deadline every remaining step still gets this long: unless stuck they take a few
 * milliseconds, and the CLI allows a second beyond the deadline before it gives up.
 */
export const shutdownStepMinMs = 100;

/**
 * Runs `run` for at most its step's bound (cut to what is left before `deadlineAtMs`, a
 * `performance.now()` time, but never below shutdownStepMinMs). Resolves true if it finished in
 * time, false if it failed (logged under `err`) or overran (logged with the step's name); never
 * rejects.
 */
export async function runShutdownStep(options: { step: ShutdownStep; deadlineAtMs: number; log: Logger }, run: () => Promise<unknown> | void): Promise<boolean> {
  const { step, log } = options;
  const boundMs = Math.max(shutdownStepMinMs, Math.min(shutdownStepMaxMs[step], Math.floor(options.deadlineAtMs - performance.now())));
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<'overran'>((resolve) => {
    timer = setTimeout(() => resolve('overran'), boundMs);
  });
  const finished = Promise.resolve()
    .then(run)
    .then(
      () => 'done' as const,
      (err: unknown) => {
        log.error({ err, step }, 'error while closing');
        return 'failed' as const;
      },
    );
  const outcome = await Promise.race([finished, overran]);
  clearTimeout(timer);
  if (outcome === 'overran') log.warn({ step, boundMs }, 'shutdown step overran its bound; going on');
  return outcome === 'done';
}
