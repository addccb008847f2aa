import { describe, expect, test } from 'vitest';
import type { UnsafeTestFaults } from '@vigil/raft';
import { runSeed } from '@vigil/sim';

/**
 * The checker is not vacuous: each deliberately broken core is caught by the seeded sweep within
 * a bounded number of seeds, by the invariant that the bug breaks. (Counting replicas for a
 * previous-term entry needs a precise Figure 8 schedule; scenarios.test.ts shows it is caught.)
 */
const variants: { fault: keyof UnsafeTestFaults; seedsMax: number; invariants: RegExp }[] = [
  { fault: 'voteWithoutLogCheck', seedsMax: 100, invariants: /leader completeness|committed entries never change|identical applied sequences/ },
  { fault: 'forgetVote', seedsMax: 600, invariants: /vote once per term|election safety/ },
  { fault: 'commitBeforeQuorum', seedsMax: 100, invariants: /leader completeness|committed entries never change|acknowledged writes are durable/ },
  { fault: 'readWithoutHeartbeat', seedsMax: 300, invariants: /linearizable reads/ },
];

describe('the simulator catches broken variants of the core', () => {
  for (const { fault, seedsMax, invariants } of variants) {
    test(`${fault} is caught within ${seedsMax} seeds`, () => {
      let caught: string | undefined;
      for (let seed = 1; seed <= seedsMax && caught === undefined; seed++) {
        const r = runSeed(seed, { faults: { [fault]: true } });
        if (!r.ok) caught = r.violation;
      }
      expect(caught).toBeDefined();
      expect(caught).toMatch(invariants);
    }, 300_000);
  }

  test('the correct core passes the same seeds', () => {
    for (let seed = 1; seed <= 100; seed++) expect(runSeed(seed).violation).toBeUndefined();
  }, 300_000);
});
