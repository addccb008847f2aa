import { describe, expect, it } from 'vitest';
import { checkLinearizable, type ZnodeOp } from '../src/index.js';
import { createPrng } from './prng.js';
import { linearizableByBruteForce } from './reference-linearizability.js';
import { simulateHistory } from './register-simulation.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** One random corruption of the kinds a buggy server or recorder would produce; the result may still be linearizable. */
function corrupt(ops: readonly ZnodeOp[], seed: number): ZnodeOp[] {
  const random = createPrng(seed);
  const copy = ops.map((op) => ({ ...op }) as Mutable<ZnodeOp>);
  const target = random.pick(copy);
  const donor = random.pick(copy);
  switch (random.int(5)) {
    case 0: // a read answers what another operation read or wrote
      if (donor.f === 'get' && donor.outcome === 'ok') {
        Object.assign(target, { f: 'get', outcome: 'ok', resultValue: donor.resultValue, resultVersion: donor.resultVersion });
      } else if (donor.value !== undefined && donor.resultVersion !== undefined) {
        Object.assign(target, { f: 'get', outcome: 'ok', resultValue: donor.value, resultVersion: donor.resultVersion });
      }
      break;
    case 1: // an answer turns into NO_NODE
      Object.assign(target, { outcome: 'error', error: 'NO_NODE' });
      break;
    case 2: // a write's outcome is mislabelled
      if (target.f !== 'get') target.outcome = random.pick(['ok', 'info', 'fail'] as const);
      break;
    case 3: // an interval moves
      target.invokeMs += random.float() * 20 - 10;
      target.completeMs = target.invokeMs + random.float() * 8;
      break;
    case 4: // a version is off by one
      if (target.resultVersion !== undefined) target.resultVersion += random.pick([-1, 1]);
      break;
  }
  return copy;
}

describe('checkLinearizable against the brute-force definition', () => {
  it('agrees on small random histories, valid and corrupted', () => {
    let invalid = 0;
    for (let seed = 0; seed < 2_000; seed++) {
      const ops = simulateHistory({ seed, processes: 3 + (seed % 2), ops: 11, keys: 1, infoRate: 0.25, failRate: 0.1 });
      const history = seed % 4 === 0 ? ops : seed % 4 === 1 ? corrupt(ops, seed) : corrupt(corrupt(ops, seed), seed + 7_919);
      const expected = linearizableByBruteForce(history);
      if (!expected) invalid++;
      expect(checkLinearizable(history).valid, `seed ${seed}`).toBe(expected);
    }
    // The corruptions must have produced enough non-linearizable histories to mean something.
    expect(invalid).toBeGreaterThan(250);
  });
});
