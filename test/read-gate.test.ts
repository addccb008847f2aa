import { afterAll, beforeAll, expect, test } from 'vitest';
import { connect } from '@vigil/client';
import { TestCluster } from './support/cluster.js';
import type { ServerFrame } from '@vigil/protocol';
import { RawClient } from './support/raw-client.js';

/**
 * A linearizable read through the WebSocket port reflects every write acknowledged before it was
 * sent, even on a member that does not know yet that it has been deposed: the read gate
 * (ReadIndex, then waiting to apply) is what makes that so, and this is the test that loses it.
 */

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
// close() resumes a member a failed test left paused before it kills it.
afterAll(() => cluster.close());

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

test('a deposed leader that wakes up does not answer a read with what it had: the read reflects the write acknowledged before it', async () => {
  const old = await cluster.leader();
  const others = [1, 2, 3].filter((id) => id !== old);
  const first = await connect({ endpoints: [`ws://127.0.0.1:${cluster.node(old).clientPort}`] });
  await first.create('/gate', text('v1'));
  await first.close();
  const { client: reader } = await RawClient.session(cluster.node(old).clientPort);

  // The leader freezes; the others elect a successor, which acknowledges v2. The old leader's
  // sockets stay open: it will learn of all this only from what waits in them.
  await cluster.pause(old);
  const next = await cluster.leader(others);
  const writer = await connect({ endpoints: [`ws://127.0.0.1:${cluster.node(next).clientPort}`] });
  try {
    await writer.set('/gate', text('v2'));
  } finally {
    await writer.close();
  }

  // Sent after v2 was acknowledged, to the old leader, which still holds v1 when it wakes.
  reader.send({ t: 'req', id: 1, op: 'get', path: '/gate' });
  await cluster.resume(old);
  // Whatever comes back before the connection ends: the answer to the read, if there is one.
  let answer: Extract<ServerFrame, { t: 'res' }> | undefined;
  const deadline = Date.now() + 15_000;
  while (answer === undefined && reader.closed === null && Date.now() < deadline) {
    const frame = await reader.next(deadline - Date.now()).catch(() => undefined);
    if (frame?.t === 'res' && frame.id === 1) answer = frame;
  }
  // It may refuse (it lost touch with the leader: NO_LEADER, and the SDK would ask elsewhere) or
  // be cut off, or answer after confirming the read with the new leader; it must never answer v1.
  if (answer?.ok === true) {
    expect(answer.op).toBe('get');
    expect(new TextDecoder().decode((answer as Extract<ServerFrame, { t: 'res'; ok: true; op: 'get' }>).data)).toBe('v2');
  } else if (answer !== undefined) {
    expect(['NO_LEADER', 'NOT_LEADER', 'TIMEOUT']).toContain(answer.error.name);
  }
  reader.ws.terminate();
});
