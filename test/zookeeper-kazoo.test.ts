import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from './support/cluster.js';
import { JsonLineProcess } from './support/json-line-process.js';
import { expectExclusiveRounds, killLeaderMidContention } from './support/zookeeper-lock-check.js';
import { type Client, closeClient, getData, openClient, sync } from './support/zookeeper-node-client.js';
import { killLeaderAndRestart, startTarget, type ZooKeeperTarget, zookeeperTargetNames } from './support/zookeeper-target.js';

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

/** A Python helper process running one of the scripts in test/zookeeper/. */
const startPython = (script: string, args: readonly string[]): JsonLineProcess =>
  JsonLineProcess.start(python, [script, ...args], { cwd: helpers, deadlineMs: workerDeadlineMs });

describe.each(zookeeperTargetNames())('Kazoo recipes against %s', (name) => {
  let target: ZooKeeperTarget;
  let observer: Client;
  const workers: JsonLineProcess[] = [];
  const startWorker = (script: string, args: readonly string[]): JsonLineProcess => {
    const w = startPython(script, args);
    workers.push(w);
    return w;
  };
  beforeAll(async () => {
    target = await startTarget(name);
    observer = await openClient(target.connectString);
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.kill();
      await w.exited;
    }
  });
  afterAll(async () => {
    if (observer !== undefined) await closeClient(observer);
    await target?.stop();
  });

  test(`Lock: ${lockWorkers} processes × ${lockRounds} rounds, never two holders at once${name === 'vigil' ? ', across a member killed and restarted' : ''}`, async () => {
    const contenders = Array.from({ length: lockWorkers }, (_, i) => startWorker('kazoo_lock.py', [target.connectString, '/kazoo-lock', `w${i}`, String(lockRounds)]));
    const total = lockWorkers * lockRounds;
    await killLeaderMidContention(target, observer, '/kazoo-lock-state', total);
    const statuses = await Promise.all(contenders.map((w) => w.status()));
    await expectExclusiveRounds(contenders.flatMap((w) => w.reports), observer, '/kazoo-lock-state', total);
    expect(statuses).toEqual(contenders.map(() => 0));
  }, 120_000);

  test(`Election: one leader at a time${name === 'vigil' ? ', through the Raft leader killed and restarted' : ''}; when its session ends, by close or by expiry, another is elected`, async () => {
    const sessionTimeoutS = '4';
    const candidates = ['c0', 'c1', 'c2'].map((id) => startWorker('kazoo_election.py', [target.connectString, '/kazoo-election', id, sessionTimeoutS]));
    const elected = (): JsonLineProcess[] => candidates.filter((c) => c.has((r) => r['elected'] === true));
    const first = await waitFor('a first leader', () => (elected().length >= 1 ? elected() : undefined), 30_000, 20);
    expect(first).toHaveLength(1);
    // The leader znode was written through the candidate's member: the observer syncs before it reads.
    await sync(observer, '/kazoo-election-leader');
    expect((await getData(observer, '/kazoo-election-leader')).data).toBe(first[0]!.reports.find((r) => r['elected'])!['candidate']);
    // Vigil: the Raft leader is killed under the election and restarted. The candidates' sessions
    // move to the other members: nobody else is elected, and the leader znode is still the first's.
    await killLeaderAndRestart(target);
    await sync(observer, '/kazoo-election-leader');
    expect((await getData(observer, '/kazoo-election-leader')).data).toBe(first[0]!.reports.find((r) => r['elected'])!['candidate']);
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
    await sync(observer, '/kazoo-election-leader');
    expect((await getData(observer, '/kazoo-election-leader')).data).toBe(third[0]!.reports.find((r) => r['elected'])!['candidate']);
    third[0]!.send('quit');
    expect(await third[0]!.status()).toBe(0);
  }, 90_000);
});
