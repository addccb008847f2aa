import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { JsonLineProcess } from './support/json-line-process.js';
import { electedOf, expectExclusiveRounds, expectMarkerOf, expectSuccession, killLeaderMidContention, nextLeader, recipeFixture } from './support/zookeeper-recipes.js';
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
    const first = await nextLeader(candidates);
    await expectMarkerOf(fx.observer, '/kazoo-election-leader', first);
    // Vigil: the Raft leader is killed under the election and restarted. The candidates' sessions
    // move to the other members: nobody else is elected, and the leader znode is still the first's.
    await killLeaderAndRestart(fx.target);
    await expectMarkerOf(fx.observer, '/kazoo-election-leader', first);
    expect(electedOf(candidates)).toEqual([first]);
    // The leader closes its session, then the next leader's process is killed (decided by expiry, 4 s).
    await expectSuccession(candidates, first, fx.observer, '/kazoo-election-leader');
  }, 90_000);
});
