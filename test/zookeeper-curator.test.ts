import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ProcessCluster } from '../scripts/cluster/process-cluster.js';
import { waitFor } from './support/cluster.js';
import type { JsonLineProcess, Report } from './support/json-line-process.js';
import { closeClient, create, openClient, remove, setData } from './support/zookeeper-node-client.js';
import { electedOf, expectExclusiveRounds, expectMarkerOf, expectSuccession, killLeaderMidContention, nextLeader, recipeFixture } from './support/zookeeper-recipes.js';
import { javaBin, memberOnZooKeeperPort, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * Apache Curator, the Java library most ZooKeeper applications use, with its own recipes (Debian's
 * libcurator-recipes-java 5.4), against a real ZooKeeper 3.8 and against Vigil's ZooKeeper
 * listener: InterProcessMutex, LeaderLatch and CuratorCache, run by test/zookeeper/CuratorRecipes.java.
 * On Vigil the Raft leader is killed in the middle of the lock contention, a member is killed under
 * the leader election, and the member the cache's session is on is killed while the tree changes.
 */

const javac = process.env['JAVAC_BIN'] ?? 'javac';
/** Curator and what it needs, as Debian installs them (CURATOR_CLASSPATH overrides). */
const classpath = process.env['CURATOR_CLASSPATH'] ??
  ['curator-recipes', 'curator-framework', 'curator-client', 'zookeeper', 'zookeeper-jute', 'guava', 'slf4j-api', 'slf4j-nop'].map((j) => `/usr/share/java/${j}.jar`).join(':');
const source = fileURLToPath(new URL('./zookeeper/CuratorRecipes.java', import.meta.url));
const processDeadlineMs = 60_000;
const mutexWorkers = 4;
const mutexRounds = 12;

/** The Vigil member a helper's session is connected to, as it reports it (`server`). */
async function memberOf(helper: JsonLineProcess, cluster: ProcessCluster): Promise<number> {
  const before = helper.reports.length;
  helper.send('server');
  const server = await waitFor('the helper to name its server', () => helper.reports.slice(before).find((r) => 'server' in r)?.['server'] as string | undefined, 10_000, 20);
  return memberOnZooKeeperPort(cluster, Number(server.split(':').pop()));
}

let classes: string;
beforeAll(async () => {
  classes = await mkdtemp(join(tmpdir(), 'vigil-curator-'));
  await promisify(execFile)(javac, ['-d', classes, '-cp', classpath, source], { timeout: 60_000 });
}, 90_000);
afterAll(async () => {
  if (classes !== undefined) await rm(classes, { recursive: true, force: true });
});

describe.each(zookeeperTargetNames())('Curator recipes against %s', (name) => {
  const fx = recipeFixture(name);
  const curator = (...args: string[]): JsonLineProcess =>
    fx.start(javaBin, ['-cp', `${classes}:${classpath}`, 'CuratorRecipes', ...args], { cwd: classes, deadlineMs: processDeadlineMs });

  test(`InterProcessMutex: ${mutexWorkers} sessions × ${mutexRounds} rounds, never two holders at once${name === 'vigil' ? ', across the leader killed and restarted' : ''}`, async () => {
    const total = mutexWorkers * mutexRounds;
    const run = curator('mutex', fx.target.connectString, '/curator/mutex', String(mutexWorkers), String(mutexRounds));
    await killLeaderMidContention(fx.target, fx.observer, '/curator/mutex-state', total);
    const status = await run.status();
    await expectExclusiveRounds(run.reports, fx.observer, '/curator/mutex-state', total);
    expect(status).toBe(0);
    expect(run.reports.filter((r) => r['done'] === true)).toHaveLength(mutexWorkers);
  }, 120_000);

  test(`LeaderLatch: one leader at a time${name === 'vigil' ? ', through a member killed and restarted' : ''}; when its session ends, by close or by expiry, another is elected`, async () => {
    const candidates = ['c0', 'c1', 'c2'].map((id) => curator('latch', fx.target.connectString, '/curator/latch', id, '4000'));
    const first = await nextLeader(candidates);
    await expectMarkerOf(fx.observer, '/curator/latch-leader', first);
    const cluster = fx.target.cluster;
    if (cluster !== null) {
      // Vigil: a member is killed under the election and restarted; the sessions on it move to the
      // others. LeaderLatch gives leadership up as soon as its own connection is suspended (as
      // Curator documents), so the member killed is not the one the leader's session is on: the
      // Raft leader when it can be, else a follower. Nobody else is elected meanwhile.
      const leaderSessionOn = await memberOf(first, cluster);
      const raftLeader = await cluster.leader();
      await cluster.kill(raftLeader !== leaderSessionOn ? raftLeader : cluster.live().find((id) => id !== leaderSessionOn)!);
      await cluster.leader(cluster.live(), 20_000);
      await cluster.heal();
      await expectMarkerOf(fx.observer, '/curator/latch-leader', first);
      expect(electedOf(candidates)).toEqual([first]);
    }
    // The leader closes its latch and its client, then the next leader's process is killed.
    await expectSuccession(candidates, first, fx.observer, '/curator/latch-leader');
  }, 90_000);

  test(`CuratorCache: creates, changes and deletes below the path, in order${name === 'vigil' ? '; its session\'s member killed, it catches up with what changed meanwhile' : ''}`, async () => {
    await create(fx.observer, '/cc', 'root');
    const cache = curator('cache', fx.target.connectString, '/cc');
    await waitFor('the cache to initialize', () => (cache.has((r) => r['initialized'] === true) ? true : undefined), 30_000, 20);
    const since = cache.reports.length;
    const events = (): Report[] => cache.reports.slice(since).filter((r) => 'event' in r);
    // CuratorCache reads a node's data after its notification, so each change is let through
    // before the next (a node deleted before that read would never be reported created).
    const changes: [() => Promise<unknown>, Report][] = [
      [() => create(fx.observer, '/cc/a', 'a0'), { event: 'created', path: '/cc/a', data: 'a0' }],
      [() => create(fx.observer, '/cc/a/b', 'b0'), { event: 'created', path: '/cc/a/b', data: 'b0' }],
      [() => setData(fx.observer, '/cc/a', 'a1'), { event: 'changed', path: '/cc/a', data: 'a1' }],
      [() => remove(fx.observer, '/cc/a/b'), { event: 'deleted', path: '/cc/a/b', data: 'b0' }],
    ];
    for (const [k, [change]] of changes.entries()) {
      await change();
      await waitFor(`event ${k + 1}`, () => (events().length > k ? true : undefined), 30_000, 20);
    }
    expect(events()).toEqual(changes.map(([, event]) => event));

    let writer = fx.observer;
    const cluster = fx.target.cluster;
    if (cluster !== null) {
      // Vigil: kill the member the cache's session is on, and change the tree through the others.
      await cluster.kill(await memberOf(cache, cluster));
      writer = await openClient(cluster.zookeeperConnectString(cluster.live()));
    }
    try {
      await create(writer, '/cc/c', 'c0');
      await setData(writer, '/cc/a', 'a2');
      const expected = { '/cc': 'root', '/cc/a': 'a2', '/cc/c': 'c0' };
      await waitFor('the cache to hold the tree as it is', () => {
        const dumps = cache.reports.filter((r) => 'dump' in r);
        if (JSON.stringify(dumps.at(-1)?.['dump']) === JSON.stringify(expected)) return true;
        cache.send('dump');
        return undefined;
      }, 30_000, 100);
      expect(events()).toEqual(expect.arrayContaining([
        { event: 'created', path: '/cc/c', data: 'c0' },
        { event: 'changed', path: '/cc/a', data: 'a2' },
      ]));
      expect(cache.reports.filter((r) => 'error' in r)).toEqual([]);
    } finally {
      if (writer !== fx.observer) await closeClient(writer);
      await cluster?.heal();
    }
    cache.send('quit');
    expect(await cache.status()).toBe(0);
  }, 90_000);
});
