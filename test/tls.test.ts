import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { request, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { connect, type ConnectionState, type VigilClient } from '@vigil/client';
import { makeCertificate, makeCertificateAuthority, writeTestCerts, type PemPair } from '../packages/cli/src/certs/make-certs.js';
import { silentLogger, zkErr, zkOp } from '@vigil/server';
import { ClientPort } from '../packages/server/src/node/client-port.js';
import { TlsCredentials, verifiedClientName } from '../packages/server/src/tls/tls-credentials.js';
import { freePort, TestCluster, waitFor } from './support/cluster.js';
import { RawZooKeeper } from './support/raw-zookeeper.js';
import { vigil } from './support/vigil-cli.js';

/**
 * A three-member cluster with TLS on (real processes, real sockets): clients over WSS, peers over
 * mutual TLS, certificates reloaded from their files, the admin API on its own HTTPS address.
 */

let cluster: TestCluster;
let certs: string;
let ca: PemPair;
let adminPort: number;
const clients: VigilClient[] = [];

/** Member `id`'s own copies of its files, so that one member's rotation touches no other. */
const memberFile = (id: number, name: 'cert.pem' | 'key.pem'): string => join(certs, `member${id}`, name);

function endpoints(ids: readonly number[] = [1, 2, 3]): string[] {
  return ids.map((id) => `127.0.0.1:${cluster.node(id).clientPort}`);
}

/** One HTTPS request with the cluster's CA; resolves with the status and the body's text. */
function https(port: number, path: string, options: RequestOptions = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca: ca.cert, agent: false, timeout: 2_000, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 2 s')));
    req.on('error', reject);
    req.end();
  });
}

async function statusOf(id: number): Promise<{ role: string; leaderId: number | null; term: number }> {
  return JSON.parse((await https(cluster.node(id).clientPort, '/status')).body) as { role: string; leaderId: number | null; term: number };
}

/** The leader all members agree on, polled over HTTPS. */
function leader(): Promise<number> {
  return waitFor('a leader over HTTPS', async () => {
    const statuses = await Promise.all([1, 2, 3].map(statusOf));
    const leaders = statuses.filter((s) => s.role === 'leader');
    const first = statuses[0]!;
    return leaders.length === 1 && statuses.every((s) => s.leaderId === first.leaderId && s.term === first.term) ? (first.leaderId ?? undefined) : undefined;
  }, 30_000);
}

/** The serial number of the certificate a fresh TLS connection to `port` is shown. */
async function servedSerial(port: number): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert });
  try {
    await once(socket, 'secureConnect');
    return socket.getPeerCertificate().serialNumber.toUpperCase();
  } finally {
    socket.destroy();
  }
}

/**
 * Opens a WebSocket to member `id`'s peer port and reports how it ended: 'open' (the upgrade
 * went through: the TLS handshake and the certificate were accepted) or 'refused' (an error or a
 * close before any upgrade).
 */
async function dialPeerPort(id: number, options: { secure: boolean; identity?: PemPair }): Promise<'open' | 'refused'> {
  const url = `${options.secure ? 'wss' : 'ws'}://127.0.0.1:${cluster.node(id).peerPort}/raft`;
  const ws = new WebSocket(url, {
    handshakeTimeout: 5_000,
    ...(options.secure ? { ca: ca.cert, rejectUnauthorized: true } : {}),
    ...(options.identity === undefined ? {} : { cert: options.identity.cert, key: options.identity.key }),
  });
  const outcome = await new Promise<'open' | 'refused'>((resolve) => {
    ws.once('open', () => resolve('open'));
    ws.once('error', () => resolve('refused'));
    ws.once('close', () => resolve('refused'));
  });
  ws.terminate();
  return outcome;
}

async function logLines(id: number): Promise<Record<string, unknown>[]> {
  return (await readFile(cluster.node(id).logPath, 'utf8'))
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

beforeAll(async () => {
  cluster = await TestCluster.start({ spawn: false, clusterId: 'vigil-tls', zookeeper: true });
  certs = join(cluster.root, 'certs');
  await writeTestCerts({ out: certs, nodes: 3, hosts: ['127.0.0.1', 'localhost'], clients: ['alice'] });
  ca = { cert: readFileSync(join(certs, 'ca.pem'), 'utf8'), key: readFileSync(join(certs, 'ca-key.pem'), 'utf8') };
  adminPort = await freePort();
  for (const id of [1, 2, 3]) {
    mkdirSync(join(certs, `member${id}`));
    copyFileSync(join(certs, `node${id}.pem`), memberFile(id, 'cert.pem'));
    copyFileSync(join(certs, `node${id}-key.pem`), memberFile(id, 'key.pem'));
    cluster.spawn(id, {
      args: [
        '--tls-cert', memberFile(id, 'cert.pem'), '--tls-key', memberFile(id, 'key.pem'), '--tls-ca', join(certs, 'ca.pem'),
        ...(id === 1 ? ['--admin-listen', `127.0.0.1:${adminPort}`] : []),
      ],
    });
  }
  await leader();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.close();
});

describe('TLS', () => {
  test('a client over wss with the CA writes and reads; without the CA, or over ws://, it cannot connect', async () => {
    const writer = await connect({ endpoints: endpoints([1]), tls: { ca: ca.cert } });
    clients.push(writer);
    await writer.create('/tls', 'over wss');
    const reader = await connect({ endpoints: endpoints([2, 3]), tls: { ca: ca.cert } });
    clients.push(reader);
    await reader.sync();
    expect(new TextDecoder().decode((await reader.get('/tls')).data)).toBe('over wss');

    // Node's bundled roots do not include the test CA: the handshake fails, so no session opens.
    await expect(connect({ endpoints: endpoints(), tls: {}, connectTimeoutMs: 1_500 })).rejects.toMatchObject({ name: 'VigilError' });
    await expect(connect({ endpoints: endpoints(), connectTimeoutMs: 1_500 })).rejects.toMatchObject({ name: 'VigilError' });
  });

  test('the CLI talks to the cluster with --ca: znode commands over wss, cluster status over https', async () => {
    const ca = ['--ca', join(certs, 'ca.pem')];
    const created = await vigil([...ca, 'create', '/cli-tls', 'from the cli', '--endpoints', endpoints([2]).join(',')]);
    expect(created).toMatchObject({ code: 0 });
    const got = await vigil(['get', '/cli-tls', ...ca, '--endpoints', endpoints([3]).join(',')]);
    expect(got).toMatchObject({ code: 0, stdout: 'from the cli\n' });
    const status = await vigil(['cluster', '--json', ...ca, '--endpoints', endpoints().join(',')]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('"role":"leader"');
    const plain = await vigil(['get', '/cli-tls', '--endpoints', endpoints([3]).join(','), '--timeout-ms', '1500']);
    expect(plain.code).not.toBe(0);
  });

  test('a client certificate that verified names the client; the client port lets clients without one in', async () => {
    // The CN reaches the server through verifiedClientName (unit-tested in packages/server); here,
    // the handshake with and without a certificate both succeed on the client port.
    const alice = { cert: readFileSync(join(certs, 'client-alice.pem'), 'utf8'), key: readFileSync(join(certs, 'client-alice-key.pem'), 'utf8') };
    const withCert = await connect({ endpoints: endpoints([1]), tls: { ca: ca.cert, ...alice } });
    clients.push(withCert);
    expect((await withCert.exists('/tls')) !== null).toBe(true);
  });

  test('the peer port refuses a certificate of a foreign CA, a client certificate and plain ws in the handshake, and the member keeps serving', async () => {
    const member1 = { cert: readFileSync(join(certs, 'node1.pem'), 'utf8'), key: readFileSync(join(certs, 'node1-key.pem'), 'utf8') };
    const logBefore = (await logLines(2)).length;
    // The control: a member's certificate gets through the handshake and the upgrade.
    expect(await dialPeerPort(2, { secure: true, identity: member1 })).toBe('open');
    const foreignCa = makeCertificateAuthority({ commonName: 'not the cluster CA' });
    const foreign = makeCertificate(foreignCa, { commonName: 'node1', role: 'member', hosts: ['127.0.0.1'] });
    expect(await dialPeerPort(2, { secure: true, identity: foreign })).toBe('refused');
    expect(await dialPeerPort(2, { secure: true })).toBe('refused');
    const alice = { cert: readFileSync(join(certs, 'client-alice.pem'), 'utf8'), key: readFileSync(join(certs, 'client-alice-key.pem'), 'utf8') };
    expect(await dialPeerPort(2, { secure: true, identity: alice })).toBe('refused');
    expect(await dialPeerPort(2, { secure: false })).toBe('refused');
    // None of them got as far as the WebSocket upgrade, so no frame of theirs was read. (The log
    // cannot show that: a real peer slow to send its hello is logged like a socket that sent none.)
    // The client certificate got through the CA check and was cut for what it is:
    const logged = (await logLines(2)).slice(logBefore);
    expect(logged.filter((l) => l['msg'] === 'peer certificate is not a member certificate').map((l) => l['subject'])).toEqual(['alice']);

    await leader();
    const client = await connect({ endpoints: endpoints([2]), tls: { ca: ca.cert } });
    clients.push(client);
    await client.set('/tls', 'still serving');
  });

  test('the ZooKeeper port speaks TLS with the member certificate: a client trusting the CA gets a session, a plain one gets nothing', async () => {
    const port = cluster.node(2).zookeeperPort as number;
    const zk = await RawZooKeeper.open(port, { ca: ca.cert });
    expect((await zk.handshake()).timeOut).toBeGreaterThan(0);
    const made = await zk.request(zkOp.create, (w) => void w.string('/zk-tls').buffer(Buffer.from('over tls')).int(1).int(31).string('world').string('anyone').int(0));
    expect(made.err).toBe(zkErr.ok);
    const read = await zk.request(zkOp.getData, (w) => void w.string('/zk-tls').bool(false));
    expect(read.err).toBe(zkErr.ok);
    expect(Buffer.from(read.body.buffer() ?? []).toString()).toBe('over tls');
    zk.destroy();
    const plain = await RawZooKeeper.open(port);
    // A connect request in the clear is not a TLS record: the handshake fails and the socket is cut.
    plain.write(Buffer.from('0000002c00000000000000000000000000001388000000000000000000000010000000000000000000000000000000000000', 'hex'));
    await waitFor('the plain connection to be cut', () => plain.closed || undefined);
    expect(await plain.reply()).toBeNull();
  });

  test('the admin API is served on --admin-listen over HTTPS, and no longer on the client port', async () => {
    const onAdmin = await https(adminPort, '/admin/snapshot', { method: 'POST' });
    expect(onAdmin.status).toBe(200);
    expect(JSON.parse(onAdmin.body)).toMatchObject({ index: expect.any(Number) as number });
    expect((await https(adminPort, '/status')).status).toBe(200);
    const onClientPort = await https(cluster.node(1).clientPort, '/admin/snapshot', { method: 'POST' });
    expect(onClientPort.status).toBe(404);
    expect(JSON.parse(onClientPort.body)).toEqual({ error: { code: 'NOT_FOUND', message: 'no route POST /admin/snapshot' } });
    // A member without --admin-listen still serves it on its client port.
    expect((await https(cluster.node(2).clientPort, '/admin/snapshot', { method: 'POST' })).status).toBe(200);
  });

  test('a member picks up a new certificate from its files; a broken pair is refused and the old one stays; sessions stay up', async () => {
    const id = 3;
    const { clientPort, peerPort } = cluster.node(id);
    const states: ConnectionState[] = [];
    const session = await connect({ endpoints: endpoints([id]), tls: { ca: ca.cert } });
    clients.push(session);
    session.on('state', (state) => states.push(state));
    const before = await servedSerial(clientPort);
    expect(before).toBe(new X509Certificate(readFileSync(memberFile(id, 'cert.pem'))).serialNumber.toUpperCase());

    // A key that does not belong to the certificate: logged, and the old pair stays in use.
    const next = makeCertificate(ca, { commonName: `node${id}`, role: 'member', hosts: ['127.0.0.1', 'localhost'] });
    writeFileSync(memberFile(id, 'key.pem'), next.key);
    await waitFor('the broken pair to be logged', async () =>
      (await logLines(id)).some((l) => l['msg'] === 'TLS files changed but are not usable; the previous certificate stays in use') || undefined);
    expect(await servedSerial(clientPort)).toBe(before);

    // The matching certificate: new connections see it, on the client and the peer port.
    writeFileSync(memberFile(id, 'cert.pem'), next.cert);
    const after = new X509Certificate(next.cert).serialNumber.toUpperCase();
    expect(after).not.toBe(before);
    await waitFor('the new certificate on the client port', async () => ((await servedSerial(clientPort)) === after ? true : undefined), 15_000, 100);
    expect(await servedSerial(peerPort)).toBe(after);

    // The session that was connected throughout never lost its connection.
    await session.set('/tls', 'after rotation');
    expect(new TextDecoder().decode((await session.get('/tls')).data)).toBe('after rotation');
    expect(states).toEqual([]);
    // And the member still talks to its peers (new dials present the new certificate).
    await leader();
  });
});

describe('verifiedClientName', () => {
  test('is the CN of a client certificate that verified against the CA, else null', async () => {
    const credentials = new TlsCredentials({ cert: join(certs, 'node1.pem'), key: join(certs, 'node1-key.pem'), ca: join(certs, 'ca.pem') }, silentLogger());
    const port = new ClientPort(() => Promise.resolve(), { tls: credentials });
    port.route((req, res) => res.end(JSON.stringify({ name: verifiedClientName(req.socket) })));
    const { port: number } = await port.listen({ host: '127.0.0.1', port: 0 });
    try {
      const nameSeen = async (identity?: PemPair): Promise<unknown> =>
        (JSON.parse((await https(number, '/', identity === undefined ? {} : { cert: identity.cert, key: identity.key })).body) as { name: unknown }).name;
      const alice = { cert: readFileSync(join(certs, 'client-alice.pem'), 'utf8'), key: readFileSync(join(certs, 'client-alice-key.pem'), 'utf8') };
      expect(await nameSeen(alice)).toBe('alice');
      expect(await nameSeen()).toBeNull();
      const foreign = makeCertificate(makeCertificateAuthority(), { commonName: 'mallory', role: 'client' });
      expect(await nameSeen(foreign)).toBeNull();
    } finally {
      await port.close();
      credentials.close();
    }
  });
});
