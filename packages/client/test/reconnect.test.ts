import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import type { HelloFrame, Request } from '@vigil/protocol';
import { FakeCluster, type FakeServer } from './support/fake-server.js';
import { nextState, recordStates, text } from './support/helpers.js';

const isHello = (f: { t: string }): f is HelloFrame => f.t === 'hello';
const backoff = { baseMs: 2, maxMs: 10 };

describe('reconnecting', () => {
  let cluster: FakeCluster;
  let first: FakeServer;
  let second: FakeServer;
  let client: VigilClient;

  /** Connects to `first` (whatever the shuffle) by keeping `second` refusing until then. */
  async function connectToFirst(options: { reopenAfterExpiry?: boolean } = {}): Promise<VigilClient> {
    second.refuseHello = 'SHUTTING_DOWN';
    const c = await connect({ endpoints: [first.url, second.url], reconnectBackoff: backoff, ...options });
    second.refuseHello = null;
    return c;
  }

  beforeEach(async () => {
    cluster = new FakeCluster();
    first = await cluster.startServer(1);
    second = await cluster.startServer(2);
    client = await connectToFirst();
  });
  afterEach(async () => {
    await client.close();
    await cluster.close();
  });

  it('suspends, then resumes the session on the other endpoint with its lastRevision', async () => {
    await client.create('/a', 'x');
    cluster.write({ op: 'set', path: '/a', data: new Uint8Array(0) });
    await client.sync();
    expect(client.lastRevision).toBe(2);
    const states = recordStates(client);
    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    await reconnected;
    expect(states).toEqual(['suspended', 'reconnected']);
    expect(client.serverId).toBe(2);
    const hello = await second.waitFor((f): f is HelloFrame => isHello(f) && f.session !== undefined);
    expect(hello.session).toMatchObject({ id: client.sessionId, lastRevision: 2 });
    expect(hello.session?.secret).toHaveLength(16);
    expect(text((await client.get('/a')).data)).toBe('');
  });

  it('a write in flight when the connection drops is sent again, under its seq, after the reconnect', async () => {
    first.hold = (request) => request.op === 'create';
    const write = client.create('/a', 'x');
    const sent = await first.waitFor((f): f is Request => f.t === 'req' && f.op === 'create');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    expect((await write).path).toBe('/a');
    const resent = await second.waitFor((f): f is Request => f.t === 'req' && f.op === 'create');
    expect(resent).toMatchObject({ seq: 1, seqFloor: 1 });
    expect(sent).toMatchObject({ seq: 1, seqFloor: 1 });
  });

  it('a read in flight when the connection drops is sent again after the reconnect', async () => {
    await client.create('/a', 'value');
    first.hold = (request) => request.op === 'get';
    const read = client.get('/a');
    await first.waitFor((f) => f.t === 'req' && f.op === 'get');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    expect(text((await read).data)).toBe('value');
    expect(second.frames.some((f) => f.t === 'req' && f.op === 'get')).toBe(true);
  });

  it('calls made while suspended wait for the reconnect and are then sent', async () => {
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    const write = client.create('/queued', 'q');
    const read = client.exists('/queued');
    second.refuseHello = null;
    expect((await write).path).toBe('/queued');
    expect(await read).not.toBeNull();
    const ops = second.frames.filter((f): f is Request => f.t === 'req').map((f) => f.op);
    expect(ops.indexOf('create')).toBeLessThan(ops.indexOf('exists'));
  });

  it('an expired session rejects pending calls, reports expired, then opens a new session', async () => {
    const oldSession = client.sessionId;
    first.refuseHello = 'SHUTTING_DOWN';
    second.refuseHello = 'SHUTTING_DOWN';
    const suspended = nextState(client, 'suspended');
    first.dropConnections();
    await suspended;
    const pending = client.create('/x');
    const states = recordStates(client);
    const connected = nextState(client, 'connected');
    cluster.sessions.delete(oldSession);
    second.refuseHello = null;
    await expect(pending).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await connected;
    expect(states).toEqual(['expired', 'connected']);
    expect(client.sessionId).not.toBe(oldSession);
    expect(client.sessionId).toBeGreaterThan(0);
    await client.create('/after');
  });

  it('a session frame saying expired ends the session while connected', async () => {
    await client.create('/e', '', { mode: 'ephemeral' });
    const expired = nextState(client, 'expired');
    const connected = nextState(client, 'connected');
    cluster.expireSession(client.sessionId);
    await expired;
    expect(cluster.nodes.has('/e')).toBe(false);
    await connected;
  });

  it('without reopenAfterExpiry the client stays expired and calls reject SESSION_EXPIRED', async () => {
    await client.close();
    client = await connectToFirst({ reopenAfterExpiry: false });
    const expired = nextState(client, 'expired');
    cluster.expireSession(client.sessionId);
    await expired;
    await expect(client.get('/')).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(client.state).toBe('expired');
  });

  it('a draining server is left for another once its answers are in', async () => {
    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SHUTTING_DOWN';
    first.broadcast({ t: 'session', state: 'draining' });
    await reconnected;
    expect(client.serverId).toBe(2);
    await client.create('/moved');
  });

  it('a server that is behind is skipped for another', async () => {
    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SERVER_BEHIND';
    second.refuseHello = 'SERVER_BEHIND';
    first.dropConnections();
    await first.waitFor(isHello, 1);
    second.refuseHello = null;
    await reconnected;
    expect(client.serverId).toBe(2);
  });

  it('setEndpoints: later reconnects dial only the new list, and the session moves to a member it did not know at connect', async () => {
    const third = await cluster.startServer(3);
    const only = await connect({ endpoints: [first.url], reconnectBackoff: backoff });
    try {
      only.setEndpoints([third.url]);
      expect(only.serverId).toBe(1);
      const reconnected = nextState(only, 'reconnected');
      first.dropConnections();
      await reconnected;
      expect(only.serverId).toBe(3);
      await only.create('/on-third');
      expect(() => only.setEndpoints([])).toThrow(/at least one endpoint/);
      expect(() => only.setEndpoints(['not a url at all'])).toThrow(/is not ws:/);
    } finally {
      await only.close();
    }
  });
});
