import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { webSocketSubprotocol } from '@vigil/protocol';
import { fetchJson, TestCluster, waitFor } from './support/cluster.js';

/**
 * A graceful stop (SIGTERM) ends within the node's shutdown deadline whatever it was doing: every
 * step of the shutdown has its own bound (packages/server/src/node/shutdown-steps.ts). Before,
 * the HTTP server's close waited for requests that themselves waited for the Raft driver, which
 * was closed only after HTTP, and for WebSocket clients that never answered a close frame; the
 * process outlived the deadline and the CLI exited 1.
 */

/** Short, so that a hang shows as exit status 1 after 2 + 1 s rather than after 6 s. */
const shutdownTimeoutMs = 2_000;

let cluster: TestCluster | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await cluster?.close();
  cluster = undefined;
});

async function startCluster(): Promise<TestCluster> {
  cluster = await TestCluster.start({ extraArgs: ['--shutdown-timeout-ms', String(shutdownTimeoutMs)] });
  await cluster.leader();
  return cluster;
}

/** SIGTERM member `id` and resolve with its exit status. */
async function stopAndWait(c: TestCluster, id: number): Promise<number | null> {
  const proc = c.node(id).proc!;
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  c.node(id).proc = null;
  return code;
}

/**
 * A WebSocket upgrade done by hand, after which the client says nothing and never answers the
 * server's close frame: a client frozen in place (SIGSTOP, a dead host behind a live socket).
 */
async function frozenWebSocketClient(port: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await once(socket, 'connect');
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${Buffer.from('vigil-frozen-cli').toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Sec-WebSocket-Protocol: ${webSocketSubprotocol}\r\n\r\n`,
  );
  let received = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.includes('\r\n\r\n')) resolve();
    });
    socket.once('error', reject);
  });
  expect(received).toMatch(/^HTTP\/1\.1 101 /);
}

describe('a graceful stop is bounded step by step', () => {
  test('a leader without a quorum, with an HTTP write in its log, stops within its deadline and answers the write', async () => {
    const c = await startCluster();
    const leader = await c.leader();
    const followers = [1, 2, 3].filter((id) => id !== leader);
    await Promise.all(followers.map((id) => c.pause(id)));
    const write = fetchJson<{ error?: { code: string } }>(c.url(leader, '/v1/znodes/in-flight'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: '' }),
      timeoutMs: 30_000,
    });
    // The write is in the leader's log, uncommitted: its HTTP request waits for the Raft driver.
    await waitFor('the write in the leader\'s log', async () => {
      const s = await c.status(leader);
      return s.lastLogIndex > s.commitIndex ? true : undefined;
    });
    expect(await stopAndWait(c, leader)).toBe(0);
    // Answered, as outcome unknown: the entry may still be committed by the next leader.
    const answer = await write;
    expect(answer.status).toBe(504);
    expect(answer.body.error?.code).toBe('TIMEOUT');
  });

  test('a removed member with a frozen WebSocket client stops within its deadline', async () => {
    const c = await startCluster();
    const leader = await c.leader();
    const removed = [1, 2, 3].find((id) => id !== leader)!;
    expect((await fetchJson(c.url(leader, `/admin/members/${removed}`), { method: 'DELETE', timeoutMs: 10_000 })).status).toBe(200);
    await waitFor(`${removed} to be removed`, async () => ((await c.status(leader)).members.some((m) => m.id === removed) ? undefined : true));
    await frozenWebSocketClient(c.node(removed).clientPort);
    expect(await stopAndWait(c, removed)).toBe(0);
  });
});
