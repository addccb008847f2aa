import { writeSync } from 'node:fs';
import type { DriverCrashPoint } from '../consensus/raft-driver.js';
import type { Logger } from '../node/logger.js';

/**
 * Crash points, test-only: with `VIGIL_CRASH_AT=<point>[,<point>…]` a member kills itself
 * (SIGKILL, no cleanup) the first time it reaches one of the named points. Each leaves recovery
 * something to finish; with power loss on (power-loss.ts), the restart also loses what was not
 * synced. test/power-loss.test.ts restarts the member without the variable and checks that it
 * catches up with nothing lost.
 */
export const crashAtEnv = 'VIGIL_CRASH_AT';

export const crashPoints: Readonly<Record<DriverCrashPoint, string>> = {
  'snapshot-received': 'a snapshot from the leader is durable (file and metadata), the store not yet replaced by it',
  'snapshot-taken': 'a snapshot of its own is durable and recorded, the log not yet compacted behind it',
  'before-apply': 'committed entries are durable in the log, the store has not applied them',
};

export type CrashPoint = DriverCrashPoint;

/** The points named in `VIGIL_CRASH_AT`; an unknown name is an error, not ignored. */
export function crashPointsFromEnv(env: Readonly<Record<string, string | undefined>>): ReadonlySet<CrashPoint> {
  const text = env[crashAtEnv];
  if (text === undefined || text.trim() === '') return new Set();
  const points = new Set<CrashPoint>();
  for (const name of text.split(',').map((s) => s.trim())) {
    if (!Object.prototype.hasOwnProperty.call(crashPoints, name)) throw new Error(`${crashAtEnv}: unknown crash point "${name}" (known: ${Object.keys(crashPoints).join(', ')})`);
    points.add(name as CrashPoint);
  }
  return points;
}

/** The driver's crash-point hook for `points`: logs the point and kills this process there. */
export function crashAt(points: ReadonlySet<CrashPoint>, log: Logger): ((point: CrashPoint) => void) | undefined {
  if (points.size === 0) return undefined;
  log.error({ points: [...points] }, 'CRASH POINTS on: this member kills itself at the first of them (testing only)');
  return (point) => {
    if (!points.has(point)) return;
    // The logger writes asynchronously and SIGKILL would lose its buffer: stderr, synchronously.
    writeSync(2, `${JSON.stringify({ level: 50, time: Date.now(), point, state: crashPoints[point], msg: 'crash point reached: SIGKILL' })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}
