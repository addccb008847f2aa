import { describe, expect, test } from 'vitest';
import type { NodeId } from '@vigil/raft';
import { SimCluster, type SimOptions } from '@vigil/sim';

/**
 * The simulator's disk: a crash keeps what a node wrote (the page cache), a power loss only what
 * it synced. These pin down the model itself; the sweep strikes the same points at random.
 */

function cluster(options: Partial<SimOptions> = {}): SimCluster {
  return new SimCluster({ seed: 7, ...options });
}

function leaderOf(sim: SimCluster): NodeId {
  expect(sim.runUntil(() => sim.leader() !== undefined, 100)).toBe(true);
  return sim.leader()!;
}

function followerOf(sim: SimCluster): NodeId {
  const leader = leaderOf(sim);
  return [...sim.nodes.keys()].find((id) => id !== leader)!;
}

/** Propose `n` writes on the leader and wait until every live node applied them; returns the last index. */
function write(sim: SimCluster, n: number): number {
  let last = 0;
  for (let i = 0; i < n; i++) {
    const r = sim.propose(leaderOf(sim));
    if ('error' in r) throw new Error(r.error);
    last = r.index;
  }
  expect(sim.runUntil(() => [...sim.nodes.values()].every((node) => !node.live || node.sm.applied >= last), 200)).toBe(true);
  return last;
}

function restartAndConverge(sim: SimCluster, ids: NodeId[], index: number): void {
  for (const id of ids) sim.restart(id);
  expect(sim.runUntil(() => [...sim.nodes.values()].every((n) => n.live && n.sm.applied >= index), 300)).toBe(true);
}

describe('a power loss keeps only what was synced', () => {
  test('a follower loses its unsynced commit index and applies, and re-applies them after restarting', () => {
    const sim = cluster();
    const last = write(sim, 5);
    // Entries arrive in synced writes; a commit index that follows them is written without sync.
    const leader = leaderOf(sim);
    const f = [...sim.nodes.keys()].find((id) => id !== leader && sim.node(id).syncedState().hardState.commit < sim.node(id).hardState.commit)!;
    expect(f).toBeDefined();
    const node = sim.node(f);
    const synced = node.syncedState();
    expect(synced.entries.at(-1)!.index).toBe(last);
    expect(synced.hardState.commit).toBeLessThan(node.hardState.commit);
    expect(synced.applied).toBeLessThan(node.sm.applied);
    sim.crash(f, { powerLoss: true });
    expect(node.sm.applied).toBe(synced.applied);
    expect(node.hardState.commit).toBe(synced.hardState.commit);
    // Re-applied entries are checked against the first application, hash for hash.
    restartAndConverge(sim, [f], last);
    expect(write(sim, 1)).toBe(last + 1);
  });

  test('a plain crash keeps them: the page cache survives the process', () => {
    const sim = cluster();
    const last = write(sim, 5);
    const f = followerOf(sim);
    const before = sim.node(f).sm.applied;
    sim.crash(f);
    expect(sim.node(f).sm.applied).toBe(before);
    restartAndConverge(sim, [f], last);
  });

  /** Propose one write and wait until follower `f` acknowledged it to the leader; returns its index and term. */
  function acknowledgedBy(sim: SimCluster, f: NodeId): { index: number; term: number } {
    const leader = leaderOf(sim);
    const r = sim.propose(leader);
    if ('error' in r) throw new Error(r.error);
    const acked = (): boolean => (sim.node(leader).raw!.status().progress.find((p) => p.id === f)?.match ?? 0) >= r.index;
    expect(sim.runUntil(acked, 50)).toBe(true);
    return { index: r.index, term: sim.node(leader).raw!.summary().term };
  }

  test('an entry a follower acknowledged survives that follower losing power', () => {
    const sim = cluster();
    const f = followerOf(sim);
    const { index, term } = acknowledgedBy(sim, f);
    sim.crash(f, { powerLoss: true });
    expect(sim.node(f).entries.find((e) => e.index === index)?.term).toBe(term);
  });

  test('a driver that skips the fsync loses it', () => {
    const sim = cluster({ driverFaults: { skipSync: true } });
    const f = followerOf(sim);
    const { index } = acknowledgedBy(sim, f);
    sim.crash(f, { powerLoss: true });
    expect(sim.node(f).entries.find((e) => e.index === index)).toBeUndefined();
  });

  /** Acknowledge `n` writes, cut the power of every node at once, restart them all, write again. */
  function powerCutAfterWrites(options: Partial<SimOptions>, n: number): SimCluster {
    const sim = cluster(options);
    const leader = leaderOf(sim);
    const indexes: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = sim.propose(leader);
      if ('error' in r) throw new Error(r.error);
      indexes.push(r.index);
    }
    // Cut at the very event that acknowledges the last write.
    expect(sim.runUntil(() => indexes.every((i) => sim.acknowledged.has(i)), 50)).toBe(true);
    const all = [...sim.nodes.keys()];
    for (const id of all) sim.crash(id, { powerLoss: true });
    restartAndConverge(sim, all, indexes.at(-1)!);
    write(sim, 1);
    sim.checker.checkAckedDurable();
    return sim;
  }

  test('a whole-cluster power cut right after acknowledged writes loses none of them', () => {
    const sim = powerCutAfterWrites({}, 10);
    expect(sim.proposalsAcked).toBe(11);
  });

  test('with a driver that skips the fsync, the same power cut is caught', () => {
    expect(() => powerCutAfterWrites({ driverFaults: { skipSync: true } }, 10)).toThrow(/election safety|leader completeness|committed entries never change|acknowledged writes are durable/);
  });
});

describe('crash points inside recovery', () => {
  /** Node `f` down while the others write and compact past it, then restarted: it needs the leader's snapshot. */
  function laggingFollower(): { sim: SimCluster; f: NodeId; last: number } {
    const sim = cluster({ snapshotEveryEntries: 8, logTrailingEntries: 0 });
    const f = followerOf(sim);
    sim.crash(f);
    const last = write(sim, 30);
    return { sim, f, last };
  }

  for (const powerLoss of [false, true]) {
    test(`a node ${powerLoss ? 'that loses power' : 'that crashes'} after persisting a leader's snapshot, before installing it, installs it when it restarts`, () => {
      const { sim, f, last } = laggingFollower();
      const node = sim.node(f);
      sim.onPersisted = (id, ready) => {
        if (id === f && ready.snapshot !== null) sim.crash(f, { powerLoss });
      };
      sim.restart(f);
      expect(sim.runUntil(() => !node.live, 100)).toBe(true);
      sim.onPersisted = null;
      // The snapshot was a synced write: both kinds of crash keep it, with the state machine behind it.
      expect(node.snapshot).not.toBeNull();
      expect(node.sm.applied).toBeLessThan(node.snapshot!.meta.index);
      restartAndConverge(sim, [f], last);
      expect(node.snapshotsInstalled).toBe(0);
    });
  }

  test('a node that loses power after installing a snapshot installs it again when it restarts', () => {
    const { sim, f, last } = laggingFollower();
    const node = sim.node(f);
    sim.restart(f);
    expect(sim.runUntil(() => node.snapshotsInstalled > 0, 100)).toBe(true);
    // Installing is a write to the state machine, not synced.
    expect(node.syncedState().applied).toBeLessThan(node.sm.applied);
    sim.crash(f, { powerLoss: true });
    expect(node.sm.applied).toBeLessThan(node.snapshot!.meta.index);
    restartAndConverge(sim, [f], last);
  });

  test('a node that crashes between taking a snapshot and compacting its log restarts from both', () => {
    const sim = cluster({ snapshotEveryEntries: 8, logTrailingEntries: 0 });
    const leader = leaderOf(sim);
    // The first follower to take a snapshot of its own (a slow one may get the leader's instead).
    let f: NodeId | undefined;
    sim.onSnapshotTaken = (id) => {
      if (id === leader || f !== undefined) return;
      f = id;
      sim.crash(id);
    };
    for (let i = 0; i < 10; i++) sim.propose(leader);
    expect(sim.runUntil(() => f !== undefined, 100)).toBe(true);
    sim.onSnapshotTaken = null;
    const node = sim.node(f!);
    expect(node.entries[0]!.index).toBeLessThanOrEqual(node.snapshot!.meta.index);
    restartAndConverge(sim, [f!], 12);
    write(sim, 10);
    // The next snapshot compacts the log as usual.
    expect(node.entries[0]!.index).toBeGreaterThan(11);
  });

  test('a node that crashes between writing a Ready and applying it, and again right after restarting, re-applies', () => {
    const sim = cluster();
    const last = write(sim, 3);
    const f = followerOf(sim);
    const node = sim.node(f);
    sim.onPersisted = (id, ready) => {
      if (id === f && ready.committedEntries.length > 0) sim.crash(f);
    };
    sim.propose(leaderOf(sim));
    expect(sim.runUntil(() => !node.live, 100)).toBe(true);
    sim.onPersisted = null;
    expect(node.sm.applied).toBeLessThan(node.hardState.commit);
    // Restarted with the state machine behind the log, and down again before re-applying anything.
    sim.restart(f);
    sim.crash(f);
    expect(node.sm.applied).toBeLessThan(node.hardState.commit);
    restartAndConverge(sim, [f], last + 1);
  });
});
