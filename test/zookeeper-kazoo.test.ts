import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { withDeadline } from '../scripts/bench/processes.js';
import { waitFor } from './support/cluster.js';
import { type Client, closeClient, getData, openClient } from './support/zookeeper-node-client.js';
import { startTarget, type ZooKeeperTarget, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * Kazoo (Debian's python3-kazoo, a Python client with its own recipes) against a real ZooKeeper
 * 3.8 and against Vigil's ZooKeeper listener: its Lock recipe with contending processes, and its
 * Election recipe. On Vigil a member is killed (SIGKILL) and restarted in the middle of the lock
 * contention; the standalone ZooKeeper has no other member to fail over to, so it runs without.
 */

const python = process.env['VIGIL_PYTHON'] ?? '/usr/bin/python3';
const helpers = fileURLToPath(new URL('./zookeeper/', import.meta.url));
const lockWorkers = 4;
const lockRounds = 12;
const workerDeadlineMs = 60_000;

type Report = Record<string, unknown>;

/** A Python helper process; its stdout JSON lines are collected as they come. */
class Worker {
  readonly reports: Report[] = [];
  readonly exited: Promise<number | null>;
  private stderr = '';
  private constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) this.reports.push(JSON.parse(line) as Report);
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4_000)));
    this.exited = once(proc, 'exit').then(([code]) => code as number | null);
  }

  static start(script: string, args: readonly string[]): Worker {
    return new Worker(spawn(python, [script, ...args], { cwd: helpers, stdio: ['pipe', 'pipe', 'pipe'] }));
  }

  has(predicate: (r: Report) => boolean): boolean {
    return this.reports.some(predicate);
  }

  /** The exit status, bounded; the last of stderr in the message when it is not 0. */
  async status(): Promise<number | null> {
    const code = await withDeadline(this.exited, workerDeadlineMs, `worker ${this.proc.pid}`);
    if (code !== 0) console.error(`worker ${this.proc.pid} exited ${code}:\n${this.stderr}`);
    return code;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

describe.each(zookeeperTargetNames())('Kazoo recipes against %s', (name) => {
  let target: ZooKeeperTarget;
  let observer: Client;
  const workers: Worker[] = [];
  const startWorker = (script: string, args: readonly string[]): Worker => {
    const w = Worker.start(script, args);
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
    if (target.cluster !== null) {
      // Vigil: once the contention is under way, SIGKILL the leader, then restart it.
      const cluster = target.cluster;
      await waitFor('a quarter of the rounds', async () => ((await getData(observer, '/kazoo-lock-state').catch(() => null))?.stat.version ?? 0) >= total / 2 ? true : undefined, 30_000, 20);
      const leader = await cluster.leader();
      await cluster.kill(leader);
      await cluster.leader(cluster.live(), 20_000);
      await cluster.heal();
    }
    const statuses = await Promise.all(contenders.map((w) => w.status()));
    const all = contenders.flatMap((w) => w.reports);
    expect(all.filter((r) => 'violation' in r || 'error' in r)).toEqual([]);
    expect(statuses).toEqual(contenders.map(() => 0));
    // Every round's enter and leave versions of the state znode: disjoint, consecutive intervals.
    const rounds = all.filter((r) => typeof r['enter'] === 'number').map((r) => ({ enter: r['enter'] as number, leave: r['leave'] as number }));
    expect(rounds).toHaveLength(total);
    rounds.sort((x, y) => x.enter - y.enter);
    rounds.forEach((r, k) => expect(r).toEqual({ enter: 2 * k + 1, leave: 2 * k + 2 }));
    const state = await getData(observer, '/kazoo-lock-state');
    expect(state).toMatchObject({ data: 'free', stat: { version: 2 * total } });
  }, 120_000);

  test('Election: one leader at a time; when its session ends, by close or by expiry, another is elected', async () => {
    const sessionTimeoutS = '4';
    const candidates = ['c0', 'c1', 'c2'].map((id) => startWorker('kazoo_election.py', [target.connectString, '/kazoo-election', id, sessionTimeoutS]));
    const elected = (): Worker[] => candidates.filter((c) => c.has((r) => r['elected'] === true));
    const first = await waitFor('a first leader', () => (elected().length >= 1 ? elected() : undefined), 30_000, 20);
    expect(first).toHaveLength(1);
    expect((await getData(observer, '/kazoo-election-leader')).data).toBe(first[0]!.reports.find((r) => r['elected'])!['candidate']);

    // The leader closes its session: its candidacy ends at once and another candidate leads.
    first[0]!.proc.stdin!.write('quit\n');
    expect(await first[0]!.status()).toBe(0);
    const second = await waitFor('a second leader', () => (elected().length >= 2 ? elected().filter((c) => c !== first[0]) : undefined), 30_000, 20);
    expect(second).toHaveLength(1);

    // The second leader is killed: its session lives until the server expires it (4 s), then the last candidate leads.
    second[0]!.kill();
    await second[0]!.exited;
    const third = await waitFor('a third leader', () => (elected().length >= 3 ? elected().filter((c) => c !== first[0] && c !== second[0]) : undefined), 30_000, 20);
    expect(third).toHaveLength(1);
    expect(candidates.flatMap((c) => c.reports).filter((r) => 'violation' in r)).toEqual([]);
    expect((await getData(observer, '/kazoo-election-leader')).data).toBe(third[0]!.reports.find((r) => r['elected'])!['candidate']);
    third[0]!.proc.stdin!.write('quit\n');
    expect(await third[0]!.status()).toBe(0);
  }, 90_000);
});
