import { describe, expect, test } from 'vitest';
import { runSeed, type ChaosOptions } from '@vigil/sim';

/**
 * The checker is not vacuous: each deliberately broken core (`UnsafeTestFaults`) or driver
 * (`SimDriverFaults`) is caught within a bounded number of seeds, by the invariant that the bug
 * breaks. Seeds are fixed (1, 2, …), unlike the sweep's, so that each bound is a deterministic
 * fact: `seedsMax` leaves room for changes that move the first catch (see each comment).
 * scenarios.test.ts builds schedules by hand as well: Figure 8 (which the election churn below
 * now also finds), and a TimeoutNow that arrives late, which no random run reaches
 * (`transferVoteWithoutLogCheck`).
 */
interface Variant {
  readonly name: string;
  readonly options: Partial<ChaosOptions>;
  readonly seedsMax: number;
  readonly invariants: RegExp;
}

const mixed = (options: Partial<ChaosOptions>): Partial<ChaosOptions> => ({ profile: 'mixed', ...options });
const elections = (options: Partial<ChaosOptions>): Partial<ChaosOptions> => ({ profile: 'elections', ...options });

const variants: Variant[] = [
  // Elections and commitment (first caught at seeds 2, 2 and 16).
  { name: 'voteWithoutLogCheck', options: mixed({ faults: { voteWithoutLogCheck: true } }), seedsMax: 100, invariants: /leader completeness|committed entries never change|identical applied sequences/ },
  { name: 'commitBeforeQuorum', options: mixed({ faults: { commitBeforeQuorum: true } }), seedsMax: 100, invariants: /leader completeness|committed entries never change|acknowledged writes are durable/ },
  { name: 'readWithoutHeartbeat', options: mixed({ faults: { readWithoutHeartbeat: true } }), seedsMax: 300, invariants: /linearizable reads/ },
  // Durability of acknowledged writes (every seed catches it). Without reads, because a read
  // after the early acknowledgement would catch it first and hide whether this check can.
  { name: 'ackBeforeCommit (driver)', options: mixed({ driverFaults: { ackBeforeCommit: true }, reads: false }), seedsMax: 20, invariants: /acknowledged writes are durable/ },
  // A driver that skips the fsync passes every plain crash (the page cache keeps its writes) and
  // is caught only through power losses: a forgotten vote, or a lost entry that a quorum had
  // counted on (first at seed 1 in both profiles; in 62 of the first 100 mixed seeds and in
  // every one of the first 30 election churn seeds).
  { name: 'skipSync (driver)', options: mixed({ driverFaults: { skipSync: true } }), seedsMax: 20, invariants: /election safety|vote once per term|leader completeness|committed entries never change|log matching/ },
  { name: 'skipSync (driver, election churn)', options: elections({ driverFaults: { skipSync: true } }), seedsMax: 10, invariants: /vote once per term|election safety|leader completeness/ },
  // Log matching (seed 2).
  { name: 'appendWithoutLogCheck', options: mixed({ faults: { appendWithoutLogCheck: true } }), seedsMax: 100, invariants: /log matching/ },
  // Snapshots (seeds 3 and 12).
  { name: 'snapshotWithoutTermCheck', options: mixed({ faults: { snapshotWithoutTermCheck: true } }), seedsMax: 150, invariants: /committed entries never change|identical applied sequences/ },
  { name: 'installStaleSnapshot', options: mixed({ faults: { installStaleSnapshot: true } }), seedsMax: 300, invariants: /commit never decreases|applied never decreases/ },
  // Membership (seeds 3 and 8).
  { name: 'learnersInQuorum', options: mixed({ faults: { learnersInQuorum: true } }), seedsMax: 150, invariants: /leader completeness|committed entries never change/ },
  { name: 'learnersVote', options: mixed({ faults: { learnersVote: true } }), seedsMax: 150, invariants: /leader completeness|election safety|committed entries never change/ },
  // The election churn profile (each caught in more than half its seeds; first at seed 1 each).
  // A second vote is seen when it is granted, before any second leader it makes.
  { name: 'forgetVote', options: elections({ faults: { forgetVote: true } }), seedsMax: 30, invariants: /vote once per term/ },
  { name: 'commitPreviousTermByCount (Figure 8)', options: elections({ faults: { commitPreviousTermByCount: true } }), seedsMax: 30, invariants: /leader completeness|committed entries never change/ },
  { name: 'transferVoteTwice', options: elections({ faults: { transferVoteTwice: true } }), seedsMax: 30, invariants: /vote once per term/ },
];

describe('the simulator catches broken variants of the core', () => {
  for (const { name, options, seedsMax, invariants } of variants) {
    test(`${name} is caught within ${seedsMax} seeds`, () => {
      let caught: string | undefined;
      for (let seed = 1; seed <= seedsMax && caught === undefined; seed++) {
        const r = runSeed(seed, options);
        if (!r.ok) caught = `seed ${seed}: ${r.violation}`;
      }
      expect(caught, `not caught in seeds 1..${seedsMax}`).toBeDefined();
      expect(caught).toMatch(invariants);
    }, 300_000);
  }

  // The bounds above mean something only if the correct core passes the same seeds.
  test('the correct core passes the same seeds, in both profiles', () => {
    for (let seed = 1; seed <= 100; seed++) expect(runSeed(seed, mixed({})).violation).toBeUndefined();
    for (let seed = 1; seed <= 30; seed++) expect(runSeed(seed, elections({})).violation).toBeUndefined();
    expect(runSeed(1, mixed({ reads: false })).violation).toBeUndefined();
  }, 300_000);
});
