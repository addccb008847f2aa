import { afterAll, beforeAll, expect, test } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { survivable } from './support/write-loops.js';
import { TestCluster, waitFor } from './support/cluster.js';

/**
 * Failover shows up as latency, not as errors (decision 26). Writers keep writing through the SDK
 * while the leader is killed with kill -9 and restarted, and then stopped with SIGTERM and
 * restarted. Every write must end with an answer that says what happened — ok, or an error after
 * which the write certainly did not take effect — never an unknown outcome (CONNECTION_LOSS,
 * TIMEOUT); and each must have taken effect exactly as often as it was answered ok: the
 * sequential creates are counted as children, the unconditional sets as the version they made.
 *
 * On the code before exactly-once writes the unknown outcomes appear at each failover; with the
 * SDK resending but the store's reply table switched off, resent writes that had taken effect are
 * applied twice (a child or a version too many).
 */

const clientsCount = 3;
const writersPerClient = 4;
const unknownOutcome: ReadonlySet<string> = new Set(['CONNECTION_LOSS', 'TIMEOUT', 'CANCELLED', 'CLOSED', 'INTERNAL']);

let cluster: TestCluster;
const clients: VigilClient[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster.close();
});

interface Writer {
  /** Its node: sets change its version, sequential creates add its children. */
  readonly path: string;
  okCreates: number;
  okSets: number;
  readonly errors: string[];
}

test('writers see no unknown outcome across kill -9 and SIGTERM of the leader, and every write takes effect once', async () => {
  const endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);
  for (let c = 0; c < clientsCount; c++) {
    // A generous deadline: a write is resent until it, so failover must fit well inside it.
    clients.push(await connect({ endpoints, sessionTimeoutMs: 10_000, requestTimeoutMs: 30_000 }));
  }
  const writers: Writer[] = [];
  let stopping = false;
  const run = async (client: VigilClient, writer: Writer): Promise<void> => {
    await client.create(writer.path, '', { createParents: true });
    for (let i = 0; !stopping; i++) {
      const create = i % 2 === 0;
      try {
        if (create) await client.create(`${writer.path}/n-`, 'x', { mode: 'persistent-sequential' });
        else await client.set(writer.path, String(i));
        if (create) writer.okCreates++;
        else writer.okSets++;
      } catch (err) {
        survivable(err);
        writer.errors.push(err.code);
      }
    }
  };
  const running: Promise<void>[] = [];
  clients.forEach((client, c) => {
    for (let w = 0; w < writersPerClient; w++) {
      const writer: Writer = { path: `/eo/c${c}-w${w}`, okCreates: 0, okSets: 0, errors: [] };
      writers.push(writer);
      running.push(run(client, writer));
    }
  });
  const okCount = (): number => writers.reduce((n, w) => n + w.okCreates + w.okSets, 0);
  const flowing = async (what: string, more: number): Promise<void> => {
    const from = okCount();
    await waitFor(what, () => (okCount() >= from + more ? true : undefined), 30_000);
  };

  await flowing('writes flowing', 200);

  const killed = await cluster.leader();
  await cluster.kill(killed);
  await cluster.leader(cluster.live(), 20_000);
  await flowing('writes flowing after the kill', 200);
  cluster.spawn(killed);
  await cluster.leader([1, 2, 3], 20_000);
  await flowing('writes flowing with the killed member back', 200);

  const stopped = await cluster.leader();
  await cluster.stop(stopped);
  await cluster.leader(cluster.live(), 20_000);
  await flowing('writes flowing after the stop', 200);
  cluster.spawn(stopped);
  await cluster.leader([1, 2, 3], 20_000);
  await flowing('writes flowing with the stopped member back', 200);

  stopping = true;
  await Promise.all(running);

  const checker = clients[0] as VigilClient;
  const errors = writers.flatMap((w) => w.errors);
  expect(errors.filter((code) => unknownOutcome.has(code)), `unknown outcomes among ${errors.join(', ') || 'no errors'}`).toEqual([]);
  for (const w of writers) {
    const children = (await checker.children(w.path)).names.length;
    const stat = await checker.exists(w.path);
    expect({ path: w.path, children, version: stat?.version }).toEqual({ path: w.path, children: w.okCreates, version: w.okSets });
  }
}, 180_000);
