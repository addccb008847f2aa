/**
 * Helpers for the peer tests (peer-*.test.ts): deadlines, captured log lines, and waiting for a
 * condition without sleeping as synchronisation (docs/testing.md, "Rules for tests").
 */
import { pino, type Logger } from 'pino';

export const deadlineMs = 5_000;

/** Resolves with the promise's value, or rejects once the deadline passes. */
export async function within<T>(promise: Promise<T>, what: string, ms = deadlineMs): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` on the event loop until it holds; fails with `what` at the deadline. */
export async function until(check: () => boolean, what: string, ms = deadlineMs): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export type LogLine = Record<string, unknown> & { msg: string; level: number };

/** pino's numeric levels. */
export const levels = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A pino logger whose lines the test can read and wait for. */
export function capturedLogs(): {
  logger: Logger;
  lines: LogLine[];
  waitFor: (pred: (l: LogLine) => boolean, what: string) => Promise<LogLine>;
} {
  const lines: LogLine[] = [];
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  const logger = pino({ level: 'debug' }, {
    write(text: string) {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
  });
  const waitFor = (pred: (l: LogLine) => boolean, what: string): Promise<LogLine> => {
    const seen = lines.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return within(new Promise<LogLine>((resolve) => waiters.push({ pred, resolve })), what);
  };
  return { logger, lines, waitFor };
}

/** The seed of a randomized test: VIGIL_PEER_SEED replays one, else a new one each run. */
export function testSeed(): number {
  const given = process.env.VIGIL_PEER_SEED;
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`VIGIL_PEER_SEED must be a non-negative integer (got ${given})`);
    return seed;
  }
  return Math.floor(Math.random() * 0x1_0000_0000);
}
