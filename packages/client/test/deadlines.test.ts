import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { FakeCluster, type FakeServer } from './support/fake-server.js';

describe('deadlines and cancellation', () => {
  let cluster: FakeCluster;
  let server: FakeServer;
  let client: VigilClient;
  beforeEach(async () => {
    cluster = new FakeCluster();
    server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
  });
  afterEach(async () => {
    await client.close();
    await cluster.close();
  });

  it('a call without an answer within its timeoutMs rejects TIMEOUT', async () => {
    server.hold = (request) => request.op === 'get';
    await expect(client.get('/a', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('the client-wide requestTimeoutMs is the default deadline', async () => {
    const impatient = await connect({ endpoints: [server.url], requestTimeoutMs: 30 });
    server.hold = (request) => request.op === 'set';
    await expect(impatient.set('/a', 'x')).rejects.toMatchObject({ code: 'TIMEOUT' });
    server.hold = null;
    await impatient.close();
  });

  it('aborting the signal rejects CANCELLED and the late answer is ignored', async () => {
    await client.create('/a', 'x');
    server.hold = (request) => request.op === 'get';
    const controller = new AbortController();
    const read = client.get('/a', { signal: controller.signal });
    await server.waitFor((f) => f.t === 'req' && f.op === 'get');
    controller.abort();
    await expect(read).rejects.toMatchObject({ code: 'CANCELLED' });
    server.hold = null;
    server.release();
    // The connection still serves, and the late answer went nowhere.
    expect((await client.get('/a')).stat.version).toBe(0);
  });

  it('an already aborted signal rejects CANCELLED without sending', async () => {
    const before = server.frames.length;
    await expect(client.create('/a', 'x', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    await client.sync();
    expect(server.frames.slice(before).map((f) => (f.t === 'req' ? f.op : f.t))).toEqual(['sync']);
  });

  it('a call timing out in the queue while suspended is never sent', async () => {
    server.refuseHello = 'SHUTTING_DOWN';
    const suspended = new Promise<void>((resolve) => client.on('state', (s) => s === 'suspended' && resolve()));
    server.dropConnections();
    await suspended;
    const before = server.frames.length;
    await expect(client.set('/a', 'x', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(server.frames.slice(before).filter((f) => f.t === 'req')).toEqual([]);
  });
});
