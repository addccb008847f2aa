import { expect } from 'vitest';
import { replayCommand, runSeed } from '@vigil/sim';

/** Run seeds [from, from + count) and fail with the replay command of every failing seed. */
export function sweep(from: number, count: number): void {
  const failures: string[] = [];
  let acked = 0;
  let reads = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed(seed);
    acked += r.acked;
    reads += r.reads;
    if (!r.ok) failures.push(`${r.violation}\n  replay: ${replayCommand(seed)}`);
  }
  expect(failures).toEqual([]);
  // The workload really ran: writes were acknowledged and reads were checked in every batch.
  expect(acked).toBeGreaterThan(count * 100);
  expect(reads).toBeGreaterThan(count * 20);
}
