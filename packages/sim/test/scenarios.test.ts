import { describe, expect, test } from 'vitest';
import { encodeConfChange, RawNode, type DurableState, type Entry, type NodeId, type UnsafeTestFaults } from '@vigil/raft';
import { SimCluster, type SimOptions } from '@vigil/sim';

/**
 * The classic situations, written with the simulator's builder vocabulary. Each cluster is
 * lossless unless a test cuts links; timing still comes from the seed.
 */

function cluster(options: Partial<SimOptions> = {}): SimCluster {
  return new SimCluster({ seed: 7, ...options });
}

function leaderOf(sim: SimCluster): NodeId {
  const ok = sim.runUntil(() => sim.leader() !== undefined, 100);
  expect(ok).toBe(true);
  return sim.leader()!;
}

function statusOf(sim: SimCluster, id: NodeId) {
  return sim.node(id).raw!.status();
}

/** Propose `n` writes on the leader and wait until every live node applied them. */
function write(sim: SimCluster, n: number): number {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const leader = leaderOf(sim);
    const r = sim.propose(leader);
    if ('error' in r) throw new Error(r.error);
    last = r.index;
  }
  const applied = sim.runUntil(() => [...sim.nodes.values()].every((node) => !node.live || node.sm.applied >= last), 200);
  expect(applied).toBe(true);
  return last;
}

/**
 * A durable image whose log holds the bootstrap entry for `voters` then one entry per term
 * listed (indexes 2, 3, …), as in the Raft paper's figures.
 */
function imageWithLog(voters: NodeId[], terms: number[], term: number): DurableState {
  const boot = RawNode.bootstrap(voters);
  const entries: Entry[] = [boot.entries[0]!];
  terms.forEach((t, i) => entries.push({ term: t, index: i + 2, kind: 'normal', data: new Uint8Array([t, i]) }));
  return { hardState: { term, vote: 0, commit: 1 }, snapshot: null, entries, applied: 0 };
}

/** Founders learn the membership by applying the bootstrap entry; wait for that before campaigning. */
function awaitBootstrap(sim: SimCluster): void {
  expect(sim.runUntil(() => [...sim.nodes.values()].every((n) => n.sm.applied >= 1), 1)).toBe(true);
}

function termsOf(sim: SimCluster, id: NodeId): number[] {
  const s = statusOf(sim, id);
  return sim.node(id).raw!.entries(1, s.lastIndex).map((e) => e.term);
}

describe('Raft paper, Figure 7: a new leader brings every kind of divergent follower in line', () => {
  test('missing entries, extra uncommitted entries, and both, all end up equal to the leader', () => {
    const sim = cluster({ voters: 0 });
    const all = [1, 2, 3, 4, 5, 6, 7];
    const logs: Record<number, number[]> = {
      1: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], // the leader of term 8
      2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one entry
      3: [1, 1, 1, 4], // (b) missing many
      4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra uncommitted entry
      5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of a later term
      6: [1, 1, 1, 4, 4, 4, 4], // (e) missing entries and extra ones of term 4
      7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a leader of terms 2 and 3 that never committed
    };
    for (const id of all) sim.startNode(id, imageWithLog(all, logs[id]!, 7));
    awaitBootstrap(sim);
    sim.campaign(1);
    const ok = sim.runUntil(() => {
      const s = statusOf(sim, 1);
      return s.role === 'leader' && all.every((id) => statusOf(sim, id).applied === s.lastIndex);
    }, 200);
    expect(ok).toBe(true);
    expect(statusOf(sim, 1).term).toBe(8);
    const leaderLog = termsOf(sim, 1);
    expect(leaderLog).toEqual([1, 1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 8]);
    for (const id of all) expect(termsOf(sim, id)).toEqual(leaderLog);
  });
});

describe('Raft paper, Figure 8: an entry of an earlier term is not committed by counting replicas', () => {
  /**
   * S1 leads term 4 holding 2@2; S2 and S3 receive 2@2 (one entry per append), S3 not the no-op.
   * S1 is cut off; S5, whose log ends with 3@3 at index 2, wins term 5 and overwrites index 2.
   * That is legal only if S1 never committed 2@2.
   */
  function figure8(faults: UnsafeTestFaults): SimCluster {
    const voters = [1, 2, 3, 4, 5];
    const sim = cluster({ voters: 0, faults, raft: { appendBytesMax: 1, inflightMsgsMax: 1, preVote: false, checkQuorum: false } });
    sim.startNode(1, imageWithLog(voters, [2], 3));
    sim.startNode(2, imageWithLog(voters, [], 3));
    sim.startNode(3, imageWithLog(voters, [], 3));
    sim.startNode(4, imageWithLog(voters, [], 3));
    sim.startNode(5, imageWithLog(voters, [3], 3));
    sim.clog(1, 4); // keep S4's log short so that it votes for S5
    sim.clog(1, 5); // and S5's 3@3 in place
    awaitBootstrap(sim);
    sim.campaign(1);
    // S3 must get 2@2 but never the no-op that follows it: cut 1→3 as soon as S3 holds 2@2.
    expect(sim.runUntil(() => sim.node(3).raw!.termAt(2) === 2, 100)).toBe(true);
    sim.clog(1, 3);
    const replicated = sim.runUntil(() => {
      const s = statusOf(sim, 1);
      return s.role === 'leader' && [2, 3].every((id) => (s.progress.find((p) => p.id === id)?.match ?? 0) >= 2);
    }, 100);
    expect(replicated).toBe(true);
    sim.isolate(1);
    // S5 needs a term above S1's; each campaign is one term, so campaign until it wins.
    for (let attempt = 0; attempt < 5 && sim.leader() !== 5; attempt++) {
      sim.campaign(5);
      sim.runUntil(() => sim.leader() === 5, 3);
    }
    expect(sim.leader()).toBe(5);
    sim.runUntil(() => sim.node(5).sm.applied >= 3, 200);
    return sim;
  }

  test('the correct core lets the new leader replace the uncommitted entry', () => {
    const sim = figure8({});
    expect(statusOf(sim, 5).role).toBe('leader');
    expect(termsOf(sim, 5).slice(0, 2)).toEqual([1, 3]);
    expect(sim.node(1).sm.applied).toBe(1);
  });

  test('a core that counts replicas of an earlier-term entry is caught', () => {
    // Caught when S5 wins without the entry S1 committed, before it even overwrites it.
    expect(() => figure8({ commitPreviousTermByCount: true })).toThrow(/leader completeness|committed entries never change/);
  });
});

describe('check-quorum', () => {
  test('a partitioned leader steps down and the majority elects another', () => {
    const sim = cluster();
    const old = leaderOf(sim);
    const oldTerm = statusOf(sim, old).term;
    sim.isolate(old);
    const ok = sim.runUntil(() => statusOf(sim, old).role !== 'leader' && sim.leader() !== undefined && sim.leader() !== old, 60);
    expect(ok).toBe(true);
    expect(statusOf(sim, old).term).toBe(oldTerm);
    expect(statusOf(sim, sim.leader()!).term).toBeGreaterThan(oldTerm);
  });

  test('a stale leader cannot serve a linearizable read', () => {
    const sim = cluster();
    const old = leaderOf(sim);
    write(sim, 3);
    sim.isolate(old);
    sim.read(old);
    sim.runTicks(60);
    expect(sim.checker.readsChecked).toBe(0);
  });
});

describe('pre-vote', () => {
  test('a rejoining node does not disrupt a healthy leader', () => {
    const sim = cluster();
    const leader = leaderOf(sim);
    const term = statusOf(sim, leader).term;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    sim.isolate(follower);
    sim.runTicks(100);
    expect(statusOf(sim, follower).term).toBe(term); // pre-votes failed; no term inflation
    sim.heal();
    sim.runTicks(50);
    expect(sim.leader()).toBe(leader);
    expect(statusOf(sim, leader).term).toBe(term);
  });

  test('without pre-vote the same rejoin forces an election', () => {
    const sim = cluster({ raft: { preVote: false } });
    const leader = leaderOf(sim);
    const term = statusOf(sim, leader).term;
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    sim.isolate(follower);
    sim.runTicks(100);
    expect(statusOf(sim, follower).term).toBeGreaterThan(term);
    sim.heal();
    sim.runTicks(50);
    expect(statusOf(sim, sim.leader()!).term).toBeGreaterThan(term);
  });
});

describe('membership', () => {
  test('a learner behind the compacted log catches up by snapshot, is promoted, and can lead', () => {
    const sim = cluster({ snapshotEveryEntries: 8, logTrailingEntries: 2 });
    const last = write(sim, 60);
    const leader = leaderOf(sim);
    expect(statusOf(sim, leader).firstIndex).toBeGreaterThan(2);
    expect(sim.proposeConfChange(leader, { type: 'addLearner', node: 4 })).not.toHaveProperty('error');
    sim.startNode(4);
    const caughtUp = sim.runUntil(() => sim.node(4).sm.applied >= last + 1, 200);
    expect(caughtUp).toBe(true);
    expect(sim.node(4).snapshotsInstalled).toBeGreaterThan(0);
    expect(statusOf(sim, 4).conf.learners).toEqual([4]);
    expect(sim.proposeConfChange(sim.leader()!, { type: 'promoteLearner', node: 4 })).not.toHaveProperty('error');
    const promoted = sim.runUntil(() => [1, 2, 3, 4].every((id) => statusOf(sim, id).conf.voters.includes(4)), 100);
    expect(promoted).toBe(true);
    expect(sim.transferLeadership(sim.leader()!, 4)).toBeNull();
    expect(sim.runUntil(() => sim.leader() === 4, 50)).toBe(true);
    write(sim, 5);
  });

  test('one change at a time: a second change waits until the first is applied', () => {
    const sim = cluster();
    const leader = leaderOf(sim);
    write(sim, 1);
    expect(sim.proposeConfChange(leader, { type: 'addLearner', node: 4 })).not.toHaveProperty('error');
    expect(sim.proposeConfChange(leader, { type: 'addLearner', node: 5 })).toEqual({ error: 'CONF_CHANGE_PENDING' });
    sim.runTicks(10);
    expect(sim.proposeConfChange(leader, { type: 'addLearner', node: 5 })).not.toHaveProperty('error');
  });

  test('a removed leader steps down and the rest carry on', () => {
    const sim = cluster();
    const leader = leaderOf(sim);
    write(sim, 2);
    expect(sim.proposeConfChange(leader, { type: 'removeNode', node: leader })).not.toHaveProperty('error');
    const ok = sim.runUntil(() => sim.leader() !== undefined && sim.leader() !== leader, 100);
    expect(ok).toBe(true);
    expect(statusOf(sim, sim.leader()!).conf.voters).not.toContain(leader);
    sim.retire(leader);
    write(sim, 2);
  });
});

describe('leader transfer', () => {
  test('to an up-to-date follower: it leads within one round trip, not an election timeout', () => {
    const sim = cluster();
    const leader = leaderOf(sim);
    write(sim, 5);
    const to = [1, 2, 3].find((id) => id !== leader)!;
    const start = sim.now;
    expect(sim.transferLeadership(leader, to)).toBeNull();
    expect(sim.runUntil(() => sim.leader() === to, 20)).toBe(true);
    expect(sim.now - start).toBeLessThan(sim.options.electionTicks * sim.options.tickUnits);
    write(sim, 1);
  });

  test('to a lagging follower: the leader catches it up first, and nothing acknowledged is lost', () => {
    const sim = cluster();
    const leader = leaderOf(sim);
    const to = [1, 2, 3].find((id) => id !== leader)!;
    sim.clog(leader, to);
    const other = [1, 2, 3].find((id) => id !== leader && id !== to)!;
    for (let i = 0; i < 20; i++) sim.propose(leader);
    expect(sim.runUntil(() => sim.node(leader).sm.applied >= 21 && sim.node(other).sm.applied >= 21, 50)).toBe(true);
    expect(sim.node(to).sm.applied).toBeLessThan(21);
    const acked = sim.checker.maxAckedIndex;
    sim.unclog(leader, to);
    expect(sim.transferLeadership(leader, to)).toBeNull();
    expect(sim.propose(leader)).toEqual({ error: 'TRANSFER_IN_PROGRESS' });
    expect(sim.runUntil(() => sim.leader() === to, 50)).toBe(true);
    expect(statusOf(sim, to).lastIndex).toBeGreaterThan(acked);
    write(sim, 1);
    expect(sim.node(to).sm.applied).toBeGreaterThan(acked);
  });
});

describe('leader transfer: a TimeoutNow that arrives late', () => {
  /**
   * The leader hands over to a caught-up follower, but its TimeoutNow is held on the way. The
   * transfer gives up after an election timeout and the leader commits more with the third node,
   * while appends to the transferee are dropped. When the TimeoutNow finally arrives, the
   * transferee campaigns with a stale log: only the vote's log check stands between it and
   * leadership without committed entries.
   */
  function lateTimeoutNow(faults: UnsafeTestFaults): { sim: SimCluster; to: NodeId; term: number } {
    const sim = cluster({ faults });
    const leader = leaderOf(sim);
    write(sim, 3);
    const to = [1, 2, 3].find((id) => id !== leader)!;
    const third = [1, 2, 3].find((id) => id !== leader && id !== to)!;
    sim.hold(leader, to, ['timeoutNow']);
    expect(sim.transferLeadership(leader, to)).toBeNull();
    sim.drop(leader, to, ['app']);
    expect(sim.runUntil(() => statusOf(sim, leader).leadTransferee === 0, 30)).toBe(true);
    let last = 0;
    for (let i = 0; i < 5; i++) {
      const r = sim.propose(leader);
      if ('error' in r) throw new Error(r.error);
      last = r.index;
    }
    expect(sim.runUntil(() => sim.node(leader).sm.applied >= last && sim.node(third).sm.applied >= last, 50)).toBe(true);
    const term = statusOf(sim, to).term;
    expect(statusOf(sim, to).role).toBe('follower'); // still hearing the leader's heartbeats
    expect(statusOf(sim, to).lastIndex).toBeLessThan(last);
    sim.release(leader, to);
    // The transferee stands at once (before the appends that now flow again can catch it up).
    expect(sim.runUntil(() => statusOf(sim, to).term > term, 5)).toBe(true);
    sim.runTicks(50);
    return { sim, to, term };
  }

  test('the correct core: the transferee stands but cannot win; nothing committed is lost', () => {
    const { sim, to, term } = lateTimeoutNow({});
    expect(sim.checker.leaderOf(term + 1)).not.toBe(to);
    write(sim, 1);
  });

  test('a core that trusts a transfer vote without comparing logs is caught', () => {
    expect(() => lateTimeoutNow({ transferVoteWithoutLogCheck: true })).toThrow(/leader completeness/);
  });
});

test('bootstrap entries are the same on every founder', () => {
  const a = RawNode.bootstrap([3, 1, 2]).entries[0]!;
  expect(a.data).toEqual(encodeConfChange({ type: 'bootstrap', voters: [1, 2, 3] }));
});
