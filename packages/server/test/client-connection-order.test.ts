import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ClientFrame } from '@vigil/protocol';
import { openStore, type Command, type Store } from '@vigil/store';
import { ClientConnection, type GatewayServices, type Outcome } from '../src/gateway/client-connection.js';
import { gatewayServices, RecordingChannel } from './connection-support.js';

/**
 * The order in which a connection reads, with the read index under the test's control: a
 * ZooKeeper connection's read sent after a `sync` reads only once the sync has (ZooKeeper handles
 * a session's requests in order, and `sync` then read is its linearizable read); a vigil.v1
 * connection's sequential read does not wait (the SDK awaits its sync).
 */

let store: Store;
let dir: string;
let index = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-order-'));
  store = await openStore({ path: dir });
  index = 0;
  await apply({ type: 'create', path: '/x', data: new TextEncoder().encode('old'), mode: 'persistent' });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function apply(command: Command): Promise<void> {
  index++;
  await store.apply([{ index, timeMs: 1_000 + index, command }]);
}

/** A connection whose linearizable reads wait until the test releases their read index. */
async function connection(zookeeper: boolean): Promise<{ channel: RecordingChannel; releaseReadIndex: () => void; send: (frame: ClientFrame) => void; proposed: Command[] }> {
  const waiting: (() => void)[] = [];
  const proposed: Command[] = [];
  const services = gatewayServices(store, {
    // Proposals are recorded and never committed: what matters is when they are made.
    link: { propose: (command: Command) => (proposed.push(command), new Promise(() => undefined)) } as unknown as GatewayServices['link'],
    sessions: { touch: () => undefined, open: async () => ({ sessionId: 7, secret: new Uint8Array(16), revision: store.appliedIndex }), verify: () => true } as unknown as GatewayServices['sessions'],
    linearizableRead: () => new Promise<number>((resolve) => waiting.push(() => resolve(store.appliedIndex))),
  });
  const channel = new RecordingChannel();
  new ClientConnection(channel, services, 'test', '127.0.0.1', null, zookeeper);
  const send = (frame: ClientFrame): void => channel.input?.receive({ ok: true, value: frame }, 16);
  send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000 });
  await expect.poll(() => channel.frames).toContain('welcome');
  return { channel, releaseReadIndex: () => waiting.splice(0).forEach((w) => w()), send, proposed };
}

const dataOf = (outcome: Outcome | undefined): string => {
  if (outcome === undefined || !('result' in outcome) || outcome.result.op !== 'get') throw new Error(`no get result: ${JSON.stringify(outcome)}`);
  return new TextDecoder().decode(outcome.result.data);
};

describe('a read sent right after a sync', () => {
  test.each([
    ['on a ZooKeeper connection, reads once the sync has, so it sees what the sync saw', true, 'new'],
    ['on a vigil.v1 connection, a sequential read does not wait for it (the SDK awaits its sync)', false, 'old'],
  ] as const)('%s', async (_title, zookeeper, sees) => {
    const { channel, releaseReadIndex, send } = await connection(zookeeper);
    send({ t: 'req', id: 1, op: 'sync' });
    send({ t: 'req', id: 2, op: 'get', path: '/x', consistency: 'sequential' });
    // A write another session made lands while the sync waits for its read index.
    await apply({ type: 'set', path: '/x', data: new TextEncoder().encode('new') });
    releaseReadIndex();
    await expect.poll(() => channel.answers.size).toBe(2);
    expect(dataOf(channel.answers.get(2))).toBe(sees);
  });
});

describe('a write sent behind a read that waits', () => {
  test('on a ZooKeeper connection, is numbered and proposed at once', async () => {
    const { send, proposed } = await connection(true);
    send({ t: 'req', id: 1, op: 'sync' });
    send({ t: 'req', id: 2, op: 'set', path: '/x', data: new Uint8Array([1]) });
    send({ t: 'req', id: 3, op: 'set', path: '/x', data: new Uint8Array([2]) });
    // Proposed as they arrive, synchronously: the read does not hold them back.
    expect(proposed.length).toBe(2);
    // A new session's first connection numbers from 1, each write its own floor, never resent
    // (zookeeper-seq.test.ts has the ranges of later connections).
    expect(proposed.map((c) => ('seq' in c ? [c.seq, c.seqFloor, c.seqOnce] : null))).toEqual([[1, 1, true], [2, 2, true]]);
  });

  test('on a vigil.v1 connection, a write without seq waits for the read (it could not be placed in the log)', async () => {
    const { send, proposed, releaseReadIndex } = await connection(false);
    send({ t: 'req', id: 1, op: 'sync' });
    send({ t: 'req', id: 2, op: 'set', path: '/x', data: new Uint8Array([1]) });
    // A write that may go is proposed synchronously as it arrives (the test above): this one was held.
    expect(proposed).toEqual([]);
    releaseReadIndex();
    await expect.poll(() => proposed.length).toBe(1);
    expect('seq' in (proposed[0] as Command) ? (proposed[0] as { seq?: number }).seq : undefined).toBeUndefined();
  });
});
