import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { crashAtEnv, powerLossEnv, type CrashPoint } from '@vigil/server';
import { survivable } from './support/write-loops.js';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * Power loss, not just kill -9, on real processes (packages/server/src/testing/power-loss.ts):
 * with VIGIL_POWER_LOSS=1 every restart of a member first undoes what it had not synced, as a
 * power cut would. A member that skipped an fsync (scripts/mutants: no-fsync-raft-log) loses
 * acknowledged writes here, where kill -9 alone would keep them in the page cache. Then crash
 * points inside recovery (testing/crash-points.ts), each followed by a power-loss restart.
 * Snapshots every hundred-odd entries, keeping ten behind, so that both happen often.
 */

/** Entries each member keeps behind its latest snapshot (`--log-trailing-entries`). */
const trailingEntries = 10;
let cluster: TestCluster;
const clients: VigilClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ env: { [powerLossEnv]: '1' }, extraArgs: ['--snapshot-every-entries', '100', '--log-trailing-entries', String(trailingEntries)] });
  await cluster.leader();
});
// A test that failed with members down must not leave the next one without them.
afterEach(() => cluster.heal());
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster.close();
});

const endpoint = (id: number): string => `ws://127.0.0.1:${cluster.node(id).clientPort}`;

async function client(ids: readonly number[] = cluster.live()): Promise<VigilClient> {
  const c = await connect({ endpoints: ids.map(endpoint), sessionTimeoutMs: 10_000, requestTimeoutMs: 5_000 });
  clients.push(c);
  return c;
}

/**
 * Creates /pl/k<i> from `writers` concurrent loops until `stop()` says so; returns the names whose
 * create was acknowledged. A create cut off by a crash has an unknown outcome and is not counted.
 */
function writeUntil(c: VigilClient, writers: number, stop: () => boolean): Promise<string[]> {
  const acked: string[] = [];
  let next = 0;
  const loop = async (): Promise<void> => {
    while (!stop()) {
      const name = `k${String(next++).padStart(6, '0')}`;
      try {
        await c.create(`/pl/${name}`, name);
        acked.push(name);
      } catch (err) {
        survivable(err);
      }
    }
  };
  return Promise.all(Array.from({ length: writers }, loop)).then(() => acked);
}

async function powerLines(id: number): Promise<number> {
  const text = await readFile(cluster.node(id).logPath, 'utf8');
  return text.split('\n').filter((l) => l.includes('POWER-LOSS test mode on')).length;
}

test('acknowledged writes survive the leader losing power mid-load, then the whole cluster losing power at once', async () => {
  const c = await client();
  await c.create('/pl');
  let stopped = false;
  const writing = writeUntil(c, 16, () => stopped);
  let leader: number;
  try {
    // The leader loses power with writes in flight, and comes back behind its log.
    const firstAcks = await waitForAcks(c, 200);
    leader = await cluster.leader();
    await cluster.kill(leader);
    await cluster.leader();
    cluster.spawn(leader);
    await cluster.leader();
    await waitForAcks(c, firstAcks + 200);

    // Then every member at once, still under load.
    await Promise.all([1, 2, 3].map((id) => cluster.kill(id)));
  } finally {
    // Failed or not, the writers stop here rather than outlive the test.
    stopped = true;
  }
  const names = await writing;
  expect(names.length).toBeGreaterThanOrEqual(200);

  await cluster.heal();
  for (const id of [1, 2, 3]) expect(await powerLines(id), `member ${id} started in power-loss mode each time`).toBeGreaterThanOrEqual(id === leader ? 3 : 2);
  const reader = await client();
  const present = new Set((await reader.children('/pl')).names);
  const lost = names.filter((n) => !present.has(n));
  expect(lost, `${lost.length} of ${names.length} acknowledged creates lost`).toEqual([]);
  // And each holds what was written.
  for (const n of names.slice(-20)) expect(new TextDecoder().decode((await reader.get(`/pl/${n}`)).data)).toBe(n);
}, 120_000);

/** Waits until /pl has at least `count` children; returns how many it has. */
function waitForAcks(c: VigilClient, count: number): Promise<number> {
  return waitFor(`${count} creates`, async () => {
    const n = (await c.exists('/pl'))?.numChildren ?? 0;
    return n >= count ? n : undefined;
  }, 30_000);
}

describe('crash points inside recovery, each restart a power cut', () => {
  /** Creates `count` children of `parent` (a fresh znode), one at a time. */
  async function createChildren(c: VigilClient, parent: string, count: number): Promise<void> {
    await c.create(parent);
    for (let i = 0; i < count; i++) await c.create(`${parent}/c${i}`);
  }

  /** `id` runs armed with `point` until it kills itself there: its log says so, and how it ended. */
  async function crashesAt(id: number, point: CrashPoint): Promise<void> {
    const said = `"point":"${point}"`;
    // The log reaches its file through this process, after the member's exit is seen.
    const reached = async (): Promise<true | undefined> => ((await readFile(cluster.node(id).logPath, 'utf8')).split('\n').some((l) => l.includes('crash point reached') && l.includes(said)) ? true : undefined);
    await waitFor(`member ${id} to reach ${point}`, reached, 30_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await cluster.describe([id])}`);
    });
    expect(await cluster.exited(id)).toEqual({ code: null, signal: 'SIGKILL' });
  }

  /** Restarted without crash points, `id` applies all the leader committed and holds `count` children of `parent`. */
  async function recovers(id: number, parent: string, count: number): Promise<void> {
    cluster.spawn(id);
    const leader = await cluster.leader();
    const commit = (await cluster.status(leader)).commitIndex;
    await waitFor(`member ${id} to apply ${commit}`, async () => ((await cluster.status(id)).appliedIndex >= commit ? true : undefined), 30_000);
    const own = await client([id]);
    expect((await own.children(parent, { consistency: 'sequential' })).names).toHaveLength(count);
  }

  const follower = async (): Promise<{ victim: number; others: number[] }> => {
    const leader = await cluster.leader();
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    return { victim, others: [1, 2, 3].filter((id) => id !== victim) };
  };

  test('a snapshot from the leader durable, the store not yet replaced by it', async () => {
    const { victim, others } = await follower();
    await cluster.kill(victim);
    // The victim's log ends at most where the leader's ended when it was killed: the victim holds
    // only entries the leader sent it (its applied index is no bound: entries appended but not yet
    // applied, or appended between a status read and the kill, let it catch up by the log).
    const behind = (await cluster.status(await cluster.leader(others))).lastLogIndex;
    // The others snapshot and compact meanwhile, until neither holds the entries the victim lacks
    // (a snapshot every 100-odd entries, `trailingEntries` kept behind it): it can only catch up by a snapshot.
    const c = await client(others);
    await c.create('/cp-received');
    let count = 0;
    // What counts is the first entry each still holds (a snapshot's index says what compaction may
    // do, not what it did).
    const compactedPast = async (): Promise<boolean> => (await Promise.all(others.map((id) => cluster.status(id)))).every((s) => s.firstLogIndex > behind + 1);
    while (count < 3_000 && !(count % 50 === 0 && (await compactedPast()))) await c.create(`/cp-received/c${count++}`);
    expect(await compactedPast(), `both others compacted past ${behind} after ${count} creates`).toBe(true);
    cluster.spawn(victim, { env: { [crashAtEnv]: 'snapshot-received' } });
    await crashesAt(victim, 'snapshot-received');
    await recovers(victim, '/cp-received', count);
  }, 120_000);

  test('a snapshot of its own durable and recorded, the log not yet compacted', async () => {
    const { victim, others } = await follower();
    await cluster.kill(victim);
    cluster.spawn(victim, { env: { [crashAtEnv]: 'snapshot-taken' } });
    let crashSeen = false;
    const crashed = crashesAt(victim, 'snapshot-taken').finally(() => (crashSeen = true));
    // Writes go on until the victim has taken a snapshot of its own: a victim that starts behind
    // the others' compaction catches up by their snapshots first, and only then counts entries
    // towards its own (a fixed number of writes was sometimes all spent before that).
    const c = await client(others);
    await c.create('/cp-taken');
    let count = 0;
    while (!crashSeen && count < 5_000) await c.create(`/cp-taken/c${count++}`);
    await crashed;
    await recovers(victim, '/cp-taken', count);
  }, 120_000);

  test('committed entries durable in the log, the store behind them', async () => {
    const { victim, others } = await follower();
    await cluster.kill(victim);
    await createChildren(await client(others), '/cp-apply', 30);
    cluster.spawn(victim, { env: { [crashAtEnv]: 'before-apply' } });
    await crashesAt(victim, 'before-apply');
    await recovers(victim, '/cp-apply', 30);
  }, 120_000);
});
