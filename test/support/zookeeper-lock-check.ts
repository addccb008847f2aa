// The check of a ZooKeeper lock recipe's run (Kazoo's Lock, Curator's InterProcessMutex): every
// holder moved a state znode from "free" to its own value and back by compare-and-set inside the
// lock, reporting the versions of its enter and leave.
import { expect } from 'vitest';
import { waitFor } from './cluster.js';
import type { Report } from './json-line-process.js';
import { type Client, getData, sync } from './zookeeper-node-client.js';
import { killLeaderAndRestart, type ZooKeeperTarget } from './zookeeper-target.js';

/** Vigil only (killLeaderAndRestart): once a quarter of the `rounds` are done, the Raft leader is killed and restarted. */
export async function killLeaderMidContention(target: ZooKeeperTarget, observer: Client, statePath: string, rounds: number): Promise<void> {
  if (target.cluster === null) return;
  await waitFor('a quarter of the rounds', async () => ((await getData(observer, statePath).catch(() => null))?.stat.version ?? 0) >= rounds / 2 ? true : undefined, 30_000, 20);
  await killLeaderAndRestart(target);
}

/**
 * No violation or error reported; the rounds' [enter, leave] version intervals are disjoint and
 * consecutive (1-2, 3-4, …: no two holders interleaved their compare-and-sets); the state ends free
 * at version 2 × rounds.
 */
export async function expectExclusiveRounds(reports: readonly Report[], observer: Client, statePath: string, rounds: number): Promise<void> {
  expect(reports.filter((r) => 'violation' in r || 'error' in r)).toEqual([]);
  const intervals = reports.filter((r) => typeof r['enter'] === 'number').map((r) => ({ enter: r['enter'] as number, leave: r['leave'] as number }));
  expect(intervals).toHaveLength(rounds);
  intervals.sort((x, y) => x.enter - y.enter);
  intervals.forEach((r, k) => expect(r).toEqual({ enter: 2 * k + 1, leave: 2 * k + 2 }));
  // The observer's member may not have applied the holders' last writes yet: sync first.
  await sync(observer, statePath);
  expect(await getData(observer, statePath)).toMatchObject({ data: 'free', stat: { version: 2 * rounds } });
}
