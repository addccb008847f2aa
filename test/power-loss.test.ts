import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { connect, isVigilError, type VigilClient } from '@vigil/client';
import { powerLossEnv } from '@vigil/server';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * Power loss, not just kill -9, on real processes (packages/server/src/testing/power-loss.ts):
 * with VIGIL_POWER_LOSS=1 every restart of a member first undoes what it had not synced, as a
 * power cut would. A member that skipped an fsync (scripts/mutants: no-fsync-raft-log) loses
 * acknowledged writes here, where kill -9 alone would keep them in the page cache.
 */

let cluster: TestCluster;
const clients: VigilClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ env: { [powerLossEnv]: '1' } });
  await cluster.leader();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster.close();
});

const endpoints = (): string[] => cluster.live().map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);

async function client(): Promise<VigilClient> {
  const c = await connect({ endpoints: endpoints(), sessionTimeoutMs: 10_000, requestTimeoutMs: 5_000 });
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
        if (!isVigilError(err)) throw err;
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

  // The leader loses power with writes in flight, and comes back behind its log.
  const firstAcks = await waitForAcks(c, 200);
  const leader = await cluster.leader();
  await cluster.kill(leader);
  await cluster.leader();
  cluster.spawn(leader);
  await cluster.leader();
  await waitForAcks(c, firstAcks + 200);

  // Then every member at once, still under load.
  await Promise.all([1, 2, 3].map((id) => cluster.kill(id)));
  stopped = true;
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
