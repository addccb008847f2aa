import { describe, expect, it } from 'vitest';
import { checkLinearizable, checkSessionOrder, searchStepsMaxDefault, type ZnodeOp } from '../src/index.js';
import { createPrng } from './prng.js';
import { simulateHistory } from './register-simulation.js';

const seeds = Array.from({ length: 40 }, (_, i) => 1_000 + i);

/** A copy of the history with one 'ok' read's result replaced. */
function mutateOneRead(ops: readonly ZnodeOp[], seed: number, change: (op: ZnodeOp) => ZnodeOp): ZnodeOp[] | undefined {
  const reads = ops.flatMap((op, i) => (op.f === 'get' && op.outcome === 'ok' ? [i] : []));
  if (reads.length === 0) return undefined;
  const at = createPrng(seed).pick(reads);
  return ops.map((op, i) => (i === at ? change(op) : op));
}

/**
 * A copy where a read from the second half returns data that was certainly overwritten before it
 * was sent: written by an acknowledged write w1, replaced by a write that began after w1 completed
 * and completed before the read began.
 */
function makeOneReadStale(ops: readonly ZnodeOp[]): ZnodeOp[] | undefined {
  const changes = ops.filter((op) => op.outcome === 'ok' && op.f !== 'get');
  const reads = ops.filter((op) => op.f === 'get' && op.outcome === 'ok');
  for (const read of reads.slice(Math.floor(reads.length / 2))) {
    const overwritten = changes
      .filter((w1) => w1.f !== 'delete' && w1.key === read.key && changes.some((w2) => w2.key === read.key && w2.invokeMs > w1.completeMs && w2.completeMs < read.invokeMs))
      .sort((a, b) => b.completeMs - a.completeMs)[0];
    if (overwritten === undefined) continue;
    return ops.map((op) => (op === read ? { ...op, resultValue: overwritten.value ?? '', resultVersion: overwritten.resultVersion ?? 0 } : op));
  }
  return undefined;
}

describe('checkLinearizable on simulated registers', () => {
  it('accepts every history a real znode produced, with unknown and failed outcomes', () => {
    for (const seed of seeds) {
      const ops = simulateHistory({ seed, processes: 5, ops: 80, keys: 2 });
      const report = checkLinearizable(ops);
      expect(report.violations, `seed ${seed}`).toEqual([]);
      expect(report.valid, `seed ${seed}`).toBe(true);
      expect(checkSessionOrder(ops).valid, `seed ${seed}`).toBe(true);
    }
  });

  it('rejects each of them once one read returns data nobody wrote', () => {
    for (const seed of seeds) {
      const ops = simulateHistory({ seed, processes: 5, ops: 80, keys: 2 });
      const mutated = mutateOneRead(ops, seed, (op) => ({ ...op, resultValue: 'never-written' }));
      if (mutated === undefined) continue;
      const report = checkLinearizable(mutated);
      expect(report.valid, `seed ${seed}`).toBe(false);
      expect(report.violations.flatMap((v) => v.candidates.map((c) => c.op.resultValue))).toContain('never-written');
    }
  });

  it('rejects each of them once one read returns a version its data never had', () => {
    for (const seed of seeds) {
      const ops = simulateHistory({ seed, processes: 5, ops: 80, keys: 2 });
      // Values are unique and every write with a known outcome recorded its version, so data fixes the version.
      const mutated = mutateOneRead(ops, seed, (op) => ({ ...op, resultVersion: (op.resultVersion ?? 0) + 1_000 }));
      if (mutated === undefined) continue;
      expect(checkLinearizable(mutated).valid, `seed ${seed}`).toBe(false);
    }
  });

  it('rejects each of them once one read returns data already overwritten', () => {
    let mutated = 0;
    for (const seed of seeds) {
      const stale = makeOneReadStale(simulateHistory({ seed, processes: 5, ops: 80, keys: 2 }));
      if (stale === undefined) continue;
      mutated++;
      expect(checkLinearizable(stale).valid, `seed ${seed}`).toBe(false);
    }
    expect(mutated).toBeGreaterThan(seeds.length / 2);
  });

  it('settles 2,000 operations on one znode from 20 concurrent processes within the default bound', () => {
    const ops = simulateHistory({ seed: 8, processes: 20, ops: 2_000, keys: 1 });
    const report = checkLinearizable(ops);
    expect(report.valid).toBe(true);
    expect(report.keys[0]!.searchSteps).toBeLessThan(searchStepsMaxDefault);
    const refuted = checkLinearizable(makeOneReadStale(ops)!);
    expect(refuted.valid).toBe(false);
    expect(refuted.violations).toHaveLength(1);
    expect(refuted.unknownKeys).toEqual([]);
  });
});
