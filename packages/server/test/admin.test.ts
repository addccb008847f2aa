import { PassThrough, Readable, Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildAdminApp, createMetrics, snapshotDownloadsMax, type AdminNodePort, type NodeStatus, type SnapshotDownload } from '../src/admin/index.js';
import { decodeBackupHeader, type BackupHeader } from '../src/storage/backup-file.js';
import { ServerError } from '../src/errors.js';

const status: NodeStatus = {
  id: 1,
  clusterId: 'vigil',
  role: 'leader',
  term: 3,
  leaderId: 1,
  commitIndex: 42,
  appliedIndex: 42,
  snapshotIndex: 10,
  firstLogIndex: 11,
  lastLogIndex: 43,
  members: [
    { id: 1, role: 'voter', peerAddress: '127.0.0.1:8281', clientAddress: '127.0.0.1:8181', matchIndex: 43, lag: 0 },
    { id: 4, role: 'learner', peerAddress: '127.0.0.1:8284', clientAddress: null, matchIndex: 40, lag: 3 },
  ],
  dbSizeBytes: 65_536,
  uptimeMs: 1_000,
};

/** A node double that records calls and answers from `overrides`. */
function fakeNode(overrides: Partial<AdminNodePort> = {}): AdminNodePort & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  return {
    calls,
    status: () => status,
    isReady: () => true,
    addMember: async (input) => (calls.push(['addMember', input]), { index: 50 }),
    promoteMember: async (id) => (calls.push(['promoteMember', id]), { index: 51 }),
    removeMember: async (id) => (calls.push(['removeMember', id]), { index: 52 }),
    transferLeadership: async (...args) => (calls.push(['transferLeadership', ...args]), { leaderId: args[0] ?? 2 }),
    snapshotNow: async () => (calls.push(['snapshotNow']), { index: 42 }),
    openSnapshot: async () => (calls.push(['openSnapshot']), snapshotDownload(Buffer.from('snapshot bytes'))),
    users: () => [{ name: 'alice', roles: ['snapshots'] }],
    putUser: async (name, secret, roles) => (calls.push(['putUser', name, secret, roles]), { created: true, index: 60 }),
    deleteUser: async (name) => (calls.push(['deleteUser', name]), { deleted: name === 'alice', index: 61 }),
    ...overrides,
  };
}

const backupHeader: BackupHeader = { clusterId: 'vigil', memberId: 1, index: 42, term: 3, snapshotBytes: 0, takenAt: '2030-01-02T03:04:05.000Z' };

function snapshotDownload(bytes: Buffer, body: Readable = Readable.from([bytes])): SnapshotDownload {
  return { header: { ...backupHeader, snapshotBytes: bytes.length }, body };
}

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function build(node: AdminNodePort, extra: { logger?: Logger; bodyLimitBytes?: number } = {}) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const app = buildAdminApp({ node, metrics, ...extra });
  apps.push(app);
  return { app, metrics };
}

describe('admin HTTP', () => {
  it('answers /livez with ok', async () => {
    const { app } = build(fakeNode());
    const res = await app.inject({ method: 'GET', url: '/livez' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('ok');
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('answers /readyz with 200 when the node is ready', async () => {
    const { app } = build(fakeNode());
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ready: true });
  });

  it('answers /readyz with 503 and the reason when no leader is known', async () => {
    const { app } = build(fakeNode({ isReady: () => false, status: () => ({ ...status, leaderId: null, role: 'candidate' }) }));
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false, reason: 'no leader is known' });
  });

  it('answers /readyz with 503 while committed entries are still being applied', async () => {
    const { app } = build(fakeNode({ isReady: () => false, status: () => ({ ...status, appliedIndex: 30 }) }));
    const res = await app.inject({ method: 'GET', url: '/readyz' });
    expect(res.json()).toEqual({ ready: false, reason: 'catching up: applied 30 of 42 committed entries' });
  });

  it('returns the node status and the members', async () => {
    const { app } = build(fakeNode());
    expect((await app.inject({ method: 'GET', url: '/status' })).json()).toEqual(status);
    const members = await app.inject({ method: 'GET', url: '/members' });
    expect(members.json()).toEqual({ leaderId: 1, members: status.members });
  });

  it('serves the registry in the Prometheus text format', async () => {
    const { app, metrics } = build(fakeNode());
    metrics.proposalsTotal.inc({ outcome: 'committed' }, 3);
    metrics.term.set(7);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(metrics.registry.contentType);
    expect(res.body).toContain('vigil_proposals_total{outcome="committed"} 3');
    expect(res.body).toContain('vigil_term 7');
  });

  it('adds a member as the port is asked to', async () => {
    const node = fakeNode();
    const { app } = build(node);
    const res = await app.inject({ method: 'POST', url: '/admin/members', payload: { id: 4, peerAddress: '127.0.0.1:8284', clientAddress: '127.0.0.1:8184' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ index: 50 });
    expect(node.calls).toEqual([['addMember', { id: 4, peerAddress: '127.0.0.1:8284', clientAddress: '127.0.0.1:8184' }]]);
  });

  it('adds a member without a client address', async () => {
    const node = fakeNode();
    const { app } = build(node);
    await app.inject({ method: 'POST', url: '/admin/members', payload: { id: 4, peerAddress: 'node-4:8284' } });
    expect(node.calls).toEqual([['addMember', { id: 4, peerAddress: 'node-4:8284' }]]);
  });

  it.each([
    ['a missing peerAddress', { id: 4 }, /peerAddress/],
    ['a non-integer id', { id: 1.5, peerAddress: 'h:1' }, /id/],
    ['a zero id', { id: 0, peerAddress: 'h:1' }, /id/],
    ['an unknown field', { id: 4, peerAddress: 'h:1', voter: true }, /additional/],
  ])('refuses to add a member with %s (400 BAD_REQUEST)', async (_what, payload, message) => {
    const node = fakeNode();
    const { app } = build(node);
    const res = await app.inject({ method: 'POST', url: '/admin/members', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
    expect(res.json().error.message).toMatch(message);
    expect(node.calls).toEqual([]);
  });

  it('refuses a peer address that is not host:port', async () => {
    const node = fakeNode();
    const { app } = build(node);
    const res = await app.inject({ method: 'POST', url: '/admin/members', payload: { id: 4, peerAddress: '127.0.0.1:99999' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: { code: 'BAD_REQUEST', message: 'peerAddress: the port 99999 in "127.0.0.1:99999" is out of range (1–65535)', details: { field: 'peerAddress' } },
    });
    expect(node.calls).toEqual([]);
  });

  it('refuses malformed JSON with 400', async () => {
    const { app } = build(fakeNode());
    const res = await app.inject({ method: 'POST', url: '/admin/members', headers: { 'content-type': 'application/json' }, payload: '{"id":' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('refuses an admin body over the admin limit with 413', async () => {
    const { app } = build(fakeNode());
    const res = await app.inject({ method: 'POST', url: '/admin/members', payload: { id: 4, peerAddress: 'h:1', pad: 'x'.repeat(20_000) } });
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('promotes and removes members by id', async () => {
    const node = fakeNode();
    const { app } = build(node);
    const promote = await app.inject({ method: 'POST', url: '/admin/members/4/promote' });
    expect(promote.json()).toEqual({ index: 51 });
    const remove = await app.inject({ method: 'DELETE', url: '/admin/members/4' });
    expect(remove.json()).toEqual({ index: 52 });
    expect(node.calls).toEqual([['promoteMember', 4], ['removeMember', 4]]);
  });

  it('refuses a member id that is not a positive integer', async () => {
    const node = fakeNode();
    const { app } = build(node);
    expect((await app.inject({ method: 'DELETE', url: '/admin/members/abc' })).statusCode).toBe(400);
    expect((await app.inject({ method: 'POST', url: '/admin/members/0/promote' })).statusCode).toBe(400);
    expect(node.calls).toEqual([]);
  });

  it('transfers leadership to a named member or, with no body, to the port\'s choice', async () => {
    const node = fakeNode();
    const { app } = build(node);
    expect((await app.inject({ method: 'POST', url: '/admin/leader/transfer', payload: { to: 3 } })).json()).toEqual({ leaderId: 3 });
    expect((await app.inject({ method: 'POST', url: '/admin/leader/transfer' })).json()).toEqual({ leaderId: 2 });
    expect((await app.inject({ method: 'POST', url: '/admin/leader/transfer', payload: {} })).json()).toEqual({ leaderId: 2 });
    expect(node.calls).toEqual([['transferLeadership', 3], ['transferLeadership'], ['transferLeadership']]);
  });

  it('takes a snapshot on request', async () => {
    const node = fakeNode();
    const { app } = build(node);
    const res = await app.inject({ method: 'POST', url: '/admin/snapshot' });
    expect(res.json()).toEqual({ index: 42 });
    expect(node.calls).toEqual([['snapshotNow']]);
  });

  it('serves the newest snapshot as a backup file: a header line, then the snapshot bytes', async () => {
    const node = fakeNode();
    const { app } = build(node);
    const res = await app.inject({ method: 'GET', url: '/admin/snapshot' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['x-vigil-snapshot-index']).toBe('42');
    expect(res.headers['x-vigil-snapshot-term']).toBe('3');
    expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
    const { header, headerBytes } = decodeBackupHeader(res.rawPayload);
    expect(header).toEqual({ ...backupHeader, snapshotBytes: 14 });
    expect(res.rawPayload.subarray(headerBytes).toString()).toBe('snapshot bytes');
    expect(res.rawPayload.subarray(0, headerBytes).toString()).toMatch(/^VIGIL-BACKUP 1 \{.*\}\n$/);
  });

  it('answers GET /admin/snapshot with 404 before the first snapshot', async () => {
    const { app } = build(fakeNode({ openSnapshot: async () => null }));
    const res = await app.inject({ method: 'GET', url: '/admin/snapshot' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });

  it(`serves at most ${snapshotDownloadsMax} snapshot downloads at once (503 BUSY), and frees the slot when one ends`, async () => {
    const bodies: PassThrough[] = [];
    const { app } = build(fakeNode({
      openSnapshot: async () => {
        const body = new PassThrough();
        bodies.push(body);
        body.write('first bytes');
        return snapshotDownload(Buffer.alloc(1000), body);
      },
    }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/admin/snapshot`;
    // Each download sends its headers, then waits for the rest of a body that never comes.
    const open = await Promise.all(Array.from({ length: snapshotDownloadsMax }, () => fetch(url)));
    expect(open.map((r) => r.status)).toEqual(Array(snapshotDownloadsMax).fill(200));
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('BUSY');
    // A download that ends frees its slot (its body is released too).
    bodies[0]!.end(Buffer.alloc(1000 - 'first bytes'.length));
    expect((await open[0]!.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    await vi.waitFor(() => expect(bodies[0]!.destroyed).toBe(true));
    const again = await fetch(url);
    expect(again.status).toBe(200);
    // The downloads still running are cut when the app closes (afterEach).
    await Promise.all([open[1]!.body?.cancel(), again.body?.cancel()]);
  });

  it('maps a ServerError from the port to its catalogue status, code, message and details', async () => {
    const { app } = build(fakeNode({
      removeMember: async () => { throw new ServerError('NOT_LEADER', 'member 2 is the leader', { leaderId: 2 }); },
      promoteMember: async () => { throw new ServerError('CONF_CHANGE_PENDING'); },
    }));
    const remove = await app.inject({ method: 'DELETE', url: '/admin/members/3' });
    expect(remove.statusCode).toBe(421);
    expect(remove.json()).toEqual({ error: { code: 'NOT_LEADER', message: 'member 2 is the leader', details: { leaderId: 2 } } });
    const promote = await app.inject({ method: 'POST', url: '/admin/members/3/promote' });
    expect(promote.statusCode).toBe(409);
    expect(promote.json()).toEqual({ error: { code: 'CONF_CHANGE_PENDING', message: 'another membership change is in progress' } });
  });

  it('answers other failures with 500 INTERNAL and logs them under err', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const { app } = build(fakeNode({ snapshotNow: async () => { throw new Error('disk on fire'); } }), { logger });
    const res = await app.inject({ method: 'POST', url: '/admin/snapshot' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(res.body).not.toContain('disk on fire');
    const logged = lines.find((l) => l['msg'] === 'request failed');
    expect(logged?.['err']).toMatchObject({ message: 'disk on fire', type: 'Error' });
    expect(logged?.['level']).toBe(50);
  });

  it('answers an unknown route with 404 NOT_FOUND', async () => {
    const { app } = build(fakeNode());
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /nope' } });
  });

  it('applies the app-wide body limit to other routes registered on the app', async () => {
    const { app } = build(fakeNode(), { bodyLimitBytes: 100 });
    app.post('/echo', async (request) => request.body);
    expect((await app.inject({ method: 'POST', url: '/echo', payload: { a: 'x'.repeat(200) } })).statusCode).toBe(413);
    expect((await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } })).json()).toEqual({ a: 1 });
  });
});

describe('createMetrics', () => {
  it('registers every Vigil metric under the vigil_ prefix with its type and labels', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.snapshotsTotal.inc({ kind: 'sent' });
    metrics.peerSendQueueMessages.set({ peer: '2' }, 5);
    metrics.peerDroppedMessagesTotal.inc({ peer: '2' });
    const types = Object.fromEntries((await metrics.registry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]));
    expect(types).toEqual({
      vigil_proposals_total: 'counter',
      vigil_commits_total: 'counter',
      vigil_applied_entries_total: 'counter',
      vigil_apply_seconds: 'histogram',
      vigil_fsync_seconds: 'histogram',
      vigil_elections_total: 'counter',
      vigil_leader_changes_total: 'counter',
      vigil_is_leader: 'gauge',
      vigil_term: 'gauge',
      vigil_commit_index: 'gauge',
      vigil_applied_index: 'gauge',
      vigil_snapshots_total: 'counter',
      vigil_peer_send_queue_messages: 'gauge',
      vigil_peer_dropped_messages_total: 'counter',
      vigil_client_sessions: 'gauge',
      vigil_client_connections: 'gauge',
      vigil_read_index_seconds: 'histogram',
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain('vigil_snapshots_total{kind="sent"} 1');
    expect(text).toContain('vigil_peer_send_queue_messages{peer="2"} 5');
  });

  it('buckets fsync times from 100 µs to 1 s', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.fsyncSeconds.observe(0.0002);
    const text = await metrics.registry.metrics();
    expect(text).toContain('vigil_fsync_seconds_bucket{le="0.0001"} 0');
    expect(text).toContain('vigil_fsync_seconds_bucket{le="0.00025"} 1');
    expect(text).toContain('vigil_fsync_seconds_bucket{le="1"} 1');
  });

  it('includes the default process metrics unless turned off', async () => {
    const withDefaults = createMetrics();
    expect(await withDefaults.registry.metrics()).toContain('process_cpu_user_seconds_total');
    const without = createMetrics(new Registry(), { defaultMetrics: false });
    expect(await without.registry.metrics()).not.toContain('process_cpu_user_seconds_total');
  });
});
