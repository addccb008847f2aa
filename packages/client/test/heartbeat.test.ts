import { afterEach, describe, expect, it } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { FakeCluster } from './support/fake-server.js';
import { nextState } from './support/helpers.js';

describe('heartbeat', () => {
  let cluster: FakeCluster;
  let client: VigilClient | undefined;
  afterEach(async () => {
    await client?.close();
    await cluster.close();
  });

  it('an idle client pings within a third of the negotiated timeout', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 600 });
    const server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
    const startedAt = performance.now();
    await server.waitFor((f) => f.t === 'req' && f.op === 'ping');
    const elapsedMs = performance.now() - startedAt;
    // A lower bound only: a ping must not come before a third of the timeout of silence.
    expect(elapsedMs).toBeGreaterThanOrEqual(600 / 3 - 5);
    // And again after the next third: the heartbeat goes on while the client is idle.
    await server.waitFor((f) => f.t === 'req' && f.op === 'ping', server.frames.findIndex((f) => f.t === 'req' && f.op === 'ping') + 1);
  });

  it('a server that stops answering is left, and the session resumed elsewhere', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 150 });
    const silent = await cluster.startServer(1);
    const other = await cluster.startServer(2);
    other.refuseHello = 'SHUTTING_DOWN';
    client = await connect({ endpoints: [silent.url, other.url], reconnectBackoff: { baseMs: 2, maxMs: 10 } });
    other.refuseHello = null;
    silent.refuseHello = 'SHUTTING_DOWN';
    silent.answerPings = false;
    const reconnected = nextState(client, 'reconnected');
    await reconnected;
    expect(client.serverId).toBe(2);
  });

  it('a silent server is left after half the negotiated timeout: not before, and well before two thirds', async () => {
    const timeoutMs = 3_000;
    cluster = new FakeCluster({ negotiatedTimeoutMs: timeoutMs });
    const silent = await cluster.startServer(1);
    client = await connect({ endpoints: [silent.url] });
    silent.answerPings = false;
    // The welcome is the last frame the client receives.
    const lastHeardAt = performance.now();
    await nextState(client, 'suspended');
    const silenceMs = performance.now() - lastHeardAt;
    // Half the timeout leaves the other half to resume the session elsewhere (decision 34); two
    // thirds, as ZooKeeper's client waits, left too little of a short timeout.
    expect(silenceMs).toBeGreaterThanOrEqual(timeoutMs / 2 - 5);
    expect(silenceMs).toBeLessThan((timeoutMs * 2) / 3);
  });

  it('a server that answers pings NO_LEADER (cut off from the leader) is left at once, though it keeps answering', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 600 });
    const cut = await cluster.startServer(1);
    const other = await cluster.startServer(2);
    other.refuseHello = 'SHUTTING_DOWN';
    client = await connect({ endpoints: [cut.url, other.url], reconnectBackoff: { baseMs: 2, maxMs: 10 } });
    other.refuseHello = null;
    cut.refuseHello = 'NO_LEADER';
    cut.pingError = 'NO_LEADER';
    await nextState(client, 'reconnected');
    expect(client.serverId).toBe(2);
  });

  it('a busy client still pings every third of the timeout', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 600 });
    const server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
    const busy = client;
    let stop = false;
    const traffic = (async () => {
      while (!stop) await busy.exists('/x', { consistency: 'sequential' });
    })();
    await server.waitFor((f) => f.t === 'req' && f.op === 'ping');
    stop = true;
    await traffic;
  });
});

describe('the proven life of a session (sessionAliveUntilMs)', () => {
  let cluster: FakeCluster;
  let client: VigilClient | undefined;
  afterEach(async () => {
    await client?.close();
    await cluster.close();
  });

  it('moves with every answered request, to half a timeout after the request was sent', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 10_000 });
    const server = await cluster.startServer();
    const beforeConnect = performance.now();
    client = await connect({ endpoints: [server.url] });
    expect(client.sessionTimeoutMs).toBe(10_000);
    // The welcome proves the session from the moment the hello could have been sent.
    expect(client.sessionAliveUntilMs).toBeGreaterThanOrEqual(beforeConnect + 5_000);
    const afterWelcome = client.sessionAliveUntilMs;
    const sentAfter = performance.now();
    await client.exists('/x');
    expect(client.sessionAliveUntilMs).toBeGreaterThanOrEqual(sentAfter + 5_000);
    expect(client.sessionAliveUntilMs).toBeGreaterThan(afterWelcome);
    expect(client.sessionAliveUntilMs).toBeLessThanOrEqual(performance.now() + 5_000);
  });

  it('a sequential read proves nothing (a member cut off from the leader still answers it); a linearizable one does', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 10_000 });
    const server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
    await client.exists('/x');
    const proven = client.sessionAliveUntilMs;
    await client.exists('/x', { consistency: 'sequential' });
    await client.get('/', { consistency: 'sequential' });
    expect(client.sessionAliveUntilMs).toBe(proven);
    await client.exists('/x');
    expect(client.sessionAliveUntilMs).toBeGreaterThan(proven);
  });

  it('stands still while requests go unanswered, and is 0 once the client is closed', async () => {
    cluster = new FakeCluster({ negotiatedTimeoutMs: 10_000 });
    const server = await cluster.startServer();
    client = await connect({ endpoints: [server.url] });
    await client.exists('/x');
    const proven = client.sessionAliveUntilMs;
    server.hold = () => true;
    const held = client.exists('/y');
    await server.waitFor((f) => f.t === 'req' && f.op === 'exists' && f.path === '/y');
    expect(client.sessionAliveUntilMs).toBe(proven);
    server.hold = null;
    server.release();
    await held;
    expect(client.sessionAliveUntilMs).toBeGreaterThan(proven);
    await client.close();
    expect(client.sessionAliveUntilMs).toBe(0);
  });
});
