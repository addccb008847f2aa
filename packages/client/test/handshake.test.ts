import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, isVigilError, type VigilClient } from '@vigil/client';
import { protocolVersion, type HelloFrame } from '@vigil/protocol';
import { FakeCluster } from './support/fake-server.js';

const isHello = (f: { t: string }): f is HelloFrame => f.t === 'hello';

describe('connect', () => {
  let cluster: FakeCluster;
  let client: VigilClient | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cluster.close();
  });

  it('opens a new session and resolves in state connected', async () => {
    cluster = new FakeCluster();
    const server = await cluster.startServer(7);
    cluster.write({ op: 'create', path: '/a', data: new Uint8Array(0), mode: 'persistent' });
    client = await connect({ endpoints: [server.url], sessionTimeoutMs: 4_000 });
    expect(client.state).toBe('connected');
    expect(client.sessionId).toBe(1);
    expect(client.serverId).toBe(7);
    expect(client.lastRevision).toBe(1);
    const hello = await server.waitFor(isHello);
    expect(hello).toEqual({ t: 'hello', protocolVersion, sessionTimeoutMs: 4_000 });
  });

  it('accepts host:port endpoints', async () => {
    cluster = new FakeCluster();
    const server = await cluster.startServer();
    client = await connect({ endpoints: [server.hostPort] });
    expect(client.state).toBe('connected');
  });

  it('gives up a server that accepts TCP but never answers the upgrade (a frozen process) before its whole handshake timeout', async () => {
    cluster = new FakeCluster();
    const frozen = createServer(() => undefined);
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    const sockets: Socket[] = [];
    frozen.on('connection', (s) => sockets.push(s));
    try {
      const url = `ws://127.0.0.1:${(frozen.address() as AddressInfo).port}`;
      // 3 s over one endpoint: the handshake may take 3 s (a hello can wait for an election), the
      // upgrade's answer only a third of that.
      const failure = await connect({ endpoints: [url], sessionTimeoutMs: 3_000, connectTimeoutMs: 2_000 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isVigilError(failure)).toBe(true);
      const causes: string[] = [];
      for (let e: unknown = failure; e instanceof Error; e = e.cause) causes.push(e.message);
      expect(causes.join(' <- ')).toMatch(/did not answer the WebSocket upgrade within 1000ms/);
    } finally {
      for (const s of sockets) s.destroy();
      frozen.close();
    }
  });

  it('tries the next endpoint when one refuses the handshake', async () => {
    cluster = new FakeCluster();
    const refusing = await cluster.startServer(1);
    const serving = await cluster.startServer(2);
    refusing.refuseHello = 'SHUTTING_DOWN';
    client = await connect({ endpoints: [refusing.url, serving.url], reconnectBackoff: { baseMs: 1, maxMs: 5 } });
    expect(client.serverId).toBe(2);
  });

  it('rejects with a VigilError when no endpoint opens a session within connectTimeoutMs', async () => {
    cluster = new FakeCluster();
    const refusing = await cluster.startServer();
    refusing.refuseHello = 'SERVER_BEHIND';
    const error: unknown = await connect({ endpoints: [refusing.url], connectTimeoutMs: 200, reconnectBackoff: { baseMs: 5, maxMs: 20 } }).catch((e: unknown) => e);
    expect(isVigilError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'SERVER_BEHIND' });
    expect(refusing.frames.filter(isHello).length).toBeGreaterThan(1);
  });

  it('rejects CONNECTION_LOSS when nothing listens at the endpoints', async () => {
    cluster = new FakeCluster();
    const gone = await cluster.startServer();
    await gone.close();
    const error: unknown = await connect({ endpoints: [gone.url], connectTimeoutMs: 100, reconnectBackoff: { baseMs: 5, maxMs: 20 } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'VigilError', code: 'CONNECTION_LOSS' });
  });

  it('rejects BAD_ARGUMENTS for unusable options', async () => {
    cluster = new FakeCluster();
    await expect(connect({ endpoints: [] })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(connect({ endpoints: ['localhost'] })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(connect({ endpoints: ['127.0.0.1:1'], namespace: 'app' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(connect({ endpoints: ['127.0.0.1:1'], namespace: '/app/' })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(connect({ endpoints: ['127.0.0.1:1'], requestTimeoutMs: 0 })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
  });
});
