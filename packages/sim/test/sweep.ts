import { expect } from 'vitest';
import { replayCommand, runSeed } from '@vigil/sim';

/** The sweep is split over this many files of this many seeds, so that vitest runs them on every core. */
const FILES = 4;
export const SEEDS_PER_FILE = 500;
const DAY_MS = 86_400_000;

/**
 * The first seed of today's sweep. The range rotates: each UTC day sweeps a fresh 2,000 seeds,
 * so that CI keeps exploring schedules no earlier run tried, while every run of the same day (the
 * four files, each in its own process, and a rerun) sweeps the same seeds.
 * `VIGIL_SIM_SEED_BASE=N` sweeps N … N + 1,999 instead (1: the fixed range used before rotation).
 */
export function seedBase(env: string | undefined = process.env.VIGIL_SIM_SEED_BASE, now = Date.now()): number {
  const span = FILES * SEEDS_PER_FILE;
  if (env !== undefined && env !== '') {
    const n = env.startsWith('0x') ? Number.parseInt(env.slice(2), 16) : Number(env);
    if (!Number.isSafeInteger(n) || n < 0 || n + span - 1 > 0xffff_ffff) throw new Error(`VIGIL_SIM_SEED_BASE=${env}: not a seed from 0 to ${0xffff_ffff - span + 1}`);
    return n;
  }
  // Seeds are 32-bit: 2,000,000 days of disjoint ranges (5,000 years) before they repeat.
  return (Math.floor(now / DAY_MS) % 2_000_000) * span + 1;
}

export interface SweepRange {
  readonly part: number;
  readonly base: number;
  readonly from: number;
  readonly count: number;
}

/** The seeds of sweep file `part` (1 … 4), fixed once per file (a run may cross midnight). */
export function sweepRange(part: number): SweepRange {
  const base = seedBase();
  return { part, base, from: base + (part - 1) * SEEDS_PER_FILE, count: SEEDS_PER_FILE };
}

/**
 * Run one sweep file's seeds and fail with the replay command of every failing seed. Each seed
 * draws its own profile and parameters, so the seed alone replays its run.
 */
export function sweep({ part, base, from, count }: SweepRange): void {
  const rerun = `VIGIL_SIM_SEED_BASE=${base} npx vitest run packages/sim/test/sweep-${part}.test.ts`;
  console.log(`sim sweep ${part}/${FILES}: seeds ${from}..${from + count - 1} (to sweep them again: ${rerun})`);
  const failures: string[] = [];
  let acked = 0;
  let reads = 0;
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed(seed);
    acked += r.acked;
    reads += r.reads;
    if (!r.ok) failures.push(`seed ${seed} (${r.profile}): ${r.violation}\n  replay: ${replayCommand(seed)}`);
  }
  if (failures.length > 0) console.log(`sim sweep ${part}/${FILES}: ${failures.length} failing seeds; each replays alone with the command shown, the whole range with: ${rerun}`);
  expect(failures).toEqual([]);
  // The workload really ran: writes were acknowledged and reads were checked in every batch.
  expect(acked).toBeGreaterThan(count * 100);
  expect(reads).toBeGreaterThan(count * 20);
}
