import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { FakeCluster, type FakeServer } from './support/fake-server.js';
import { recordStates } from './support/helpers.js';

describe('close', () => {
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

  it('sends close, which ends the session and deletes its ephemerals', async () => {
    await client.create('/e', '', { mode: 'ephemeral' });
    const sessionId = client.sessionId;
    const states = recordStates(client);
    await client.close();
    expect(server.frames.at(-1)).toMatchObject({ t: 'req', op: 'close' });
    expect(cluster.sessions.has(sessionId)).toBe(false);
    expect(cluster.nodes.has('/e')).toBe(false);
    expect(states).toEqual(['closed']);
    expect(client.state).toBe('closed');
  });

  it('is idempotent, and later calls reject CLOSED', async () => {
    await Promise.all([client.close(), client.close()]);
    await client.close();
    await expect(client.get('/')).rejects.toMatchObject({ code: 'CLOSED' });
    expect(() => client.watch('/')).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    expect(server.frames.filter((f) => f.t === 'req' && f.op === 'close')).toHaveLength(1);
  });

  it('answers calls already sent, and rejects calls still waiting with CLOSED', async () => {
    const sent = client.create('/a');
    const closing = client.close();
    await expect(sent).resolves.toMatchObject({ path: '/a' });
    await closing;
  });

  it('rejects calls whose answer never comes with CLOSED, within closeTimeoutMs', async () => {
    const impatient = await connect({ endpoints: [server.url], closeTimeoutMs: 50 });
    server.hold = () => true;
    const read = impatient.get('/');
    await server.waitFor((f) => f.t === 'req' && f.op === 'get');
    await impatient.close();
    await expect(read).rejects.toMatchObject({ code: 'CLOSED' });
    expect(impatient.state).toBe('closed');
    server.hold = null;
  });

  it('while suspended it closes without waiting for a server', async () => {
    server.refuseHello = 'SHUTTING_DOWN';
    const suspended = new Promise<void>((resolve) => client.on('state', (s) => s === 'suspended' && resolve()));
    server.dropConnections();
    await suspended;
    const waiting = client.get('/');
    await client.close();
    await expect(waiting).rejects.toMatchObject({ code: 'CLOSED' });
    expect(client.state).toBe('closed');
  });
});
