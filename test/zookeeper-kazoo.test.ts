import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { waitFor } from './support/cluster.js';
import type { JsonLineProcess } from './support/json-line-process.js';
import { expectExclusiveRounds, expectMarkerOf, killLeaderMidContention, recipeFixture } from './support/zookeeper-recipes.js';
import { killLeaderAndRestart, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * Kazoo (Debian's python3-kazoo, a Python client with its own recipes) against a real ZooKeeper
 * 3.8 and against Vigil's ZooKeeper listener: its Lock recipe with contending processes, and its
 * Election recipe. On Vigil the Raft leader is killed (SIGKILL) and restarted in the middle of the
 * lock contention and under the election; the standalone ZooKeeper has no other member to fail
 * over to, so it runs without.
 */

const python = process.env['VIGIL_PYTHON'] ?? '/usr/bin/python3';
const helpers = fileURLToPath(new URL('./zookeeper/', import.meta.url));
const lockWorkers = 4;
const lockRounds = 12;
const workerDeadlineMs = 60_000;

describe.each(zookeeperTargetNames())('Kazoo recipes against %s', (name) => {
  const fx = recipeFixture(name);
  const startWorker = (script: string, args: readonly string[]): JsonLineProcess =>
    fx.start(python, [script, ...args], { cwd: helpers, deadlineMs: workerDeadlineMs });

  test(`Lock: ${lockWorkers} processes × ${lockRounds} rounds, never two holders at once${name === 'vigil' ? ', across a member killed and restarted' : ''}`, async () => {
    const contenders = Array.from({ length: lockWorkers }, (_, i) => startWorker('kazoo_lock.py', [fx.target.connectString, '/kazoo-lock', `w${i}`, String(lockRounds)]));
    const total = lockWorkers * lockRounds;
    await killLeaderMidContention(fx.target, fx.observer, '/kazoo-lock-state', total);
    const statuses = await Promise.all(contenders.map((w) => w.status()));
    await expectExclusiveRounds(contenders.flatMap((w) => w.reports), fx.observer, '/kazoo-lock-state', total);
    expect(statuses).toEqual(contenders.map(() => 0));
  }, 120_000);

  test(`Election: one leader at a time${name === 'vigil' ? ', through the Raft leader killed and restarted' : ''}; when its session ends, by close or by expiry, another is elected`, async () => {
    const sessionTimeoutS = '4';
    const candidates = ['c0', 'c1', 'c2'].map((id) => startWorker('kazoo_election.py', [fx.target.connectString, '/kazoo-election', id, sessionTimeoutS]));
    const elected = (): JsonLineProcess[] => candidates.filter((c) => c.has((r) => r['elected'] === true));
    const first = await waitFor('a first leader', () => (elected().length >= 1 ? elected() : undefined), 30_000, 20);
    expect(first).toHaveLength(1);
    await expectMarkerOf(fx.observer, '/kazoo-election-leader', first[0]!);
    // Vigil: the Raft leader is killed under the election and restarted. The candidates' sessions
    // move to the other members: nobody else is elected, and the leader znode is still the first's.
    await killLeaderAndRestart(fx.target);
    await expectMarkerOf(fx.observer, '/kazoo-election-leader', first[0]!);
    expect(elected()).toEqual(first);

    // The leader closes its session: its candidacy ends at once and another candidate leads.
    first[0]!.send('quit');
    expect(await first[0]!.status()).toBe(0);
    const second = await waitFor('a second leader', () => (elected().length >= 2 ? elected().filter((c) => c !== first[0]) : undefined), 30_000, 20);
    expect(second).toHaveLength(1);

    // The second leader is killed: its session lives until the server expires it (4 s), then the last candidate leads.
    second[0]!.kill();
    await second[0]!.exited;
    const third = await waitFor('a third leader', () => (elected().length >= 3 ? elected().filter((c) => c !== first[0] && c !== second[0]) : undefined), 30_000, 20);
    expect(third).toHaveLength(1);
    expect(candidates.flatMap((c) => c.reports).filter((r) => 'violation' in r)).toEqual([]);
    await expectMarkerOf(fx.observer, '/kazoo-election-leader', third[0]!);
    third[0]!.send('quit');
    expect(await third[0]!.status()).toBe(0);
  }, 90_000);
});
