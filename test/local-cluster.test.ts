import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { connect } from '@vigil/client';
import { zkOp } from '@vigil/server';
import { fetchJson, freePorts, waitFor } from './support/cluster.js';
import { RawZooKeeper } from './support/raw-zookeeper.js';

/**
 * The README's first command: `npm start` runs three nodes, and Ctrl-C in its terminal stops all
 * three gracefully. A terminal's Ctrl-C is SIGINT to the whole foreground process group (npm, the
 * launcher, and whatever else is in it): that is what this test sends.
 */
const repo = fileURLToPath(new URL('..', import.meta.url));
let dataDir: string | undefined;
const pids: number[] = [];
afterEach(async () => {
  // The nodes run in process groups of their own: if the test failed half-way, stop them by PID.
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('npm start elects a leader and serves writes, also to ZooKeeper clients; Ctrl-C to its process group stops every node gracefully', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vigil-start-'));
  const basePort = await freePorts([0, 1, 2, 100, 101, 102, 200, 201, 202]);
  // detached: npm leads a new process group, as a shell makes a foreground job its own group.
  const proc = spawn('npm', ['start', '--', '--data-dir', dataDir, '--base-port', String(basePort), '--log-level', 'info'], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  pids.push(proc.pid!);
  let output = '';
  let errors = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (errors += d.toString()));
  const exited = once(proc, 'exit');
  try {
    const leader = await waitFor('a leader on the local cluster', async () => {
      const s = await fetchJson<{ leaderId: number | null }>(`http://127.0.0.1:${basePort}/status`);
      return s.body.leaderId ?? undefined;
    });
    const write = await fetchJson<{ revision: number }>(`http://127.0.0.1:${basePort + leader - 1}/v1/znodes/started`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: Buffer.from('yes').toString('base64') }),
    });
    expect(write.status).toBe(201);
    const zookeeper = [0, 1, 2].map((i) => `127.0.0.1:${basePort + 200 + i}`).join(',');
    expect(output).toContain(`ZooKeeper clients: ${zookeeper}`);
    // What a ZooKeeper client reads through the member's ZooKeeper port is what the write made.
    const zk = await RawZooKeeper.open(basePort + 200);
    await zk.handshake();
    // The write went through the leader; a sync makes this member catch up first, as in ZooKeeper.
    expect((await zk.request(zkOp.sync, (w) => void w.string('/started'))).err).toBe(0);
    const read = await zk.request(zkOp.getData, (w) => void w.string('/started').bool(false));
    zk.destroy();
    expect(read.err).toBe(0);
    expect(Buffer.from(read.body.buffer() ?? []).toString()).toBe('yes');
    expect((await readdir(dataDir)).sort()).toEqual(['1', '1.pid', '2', '2.pid', '3', '3.pid']);
    for (const id of [1, 2, 3]) pids.push(Number((await readFile(join(dataDir, `${id}.pid`), 'utf8')).trim()));
    // Not a TTY: the logs stay JSON lines.
    expect(output, errors).toMatch(/^\{"level":30,.*"nodeId":1,.*"msg":"serving"\}$/m);
  } finally {
    process.kill(-proc.pid!, 'SIGINT');
    await exited;
  }
  const nodePids = pids.slice(1);
  const transcript = `--- stdout ---\n${output}\n--- stderr ---\n${errors}`;
  expect(output, transcript).toContain('vigil: all nodes stopped (node 1 exit 0, node 2 exit 0, node 3 exit 0)');
  const logs = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { nodeId: number; msg: string; signal?: string });
  for (const id of [1, 2, 3]) {
    const mine = logs.filter((l) => l.nodeId === id);
    // One signal each, the launcher's SIGTERM; the full shutdown ran; no "second signal" exit.
    expect(mine.filter((l) => l.msg === 'shutting down').map((l) => l.signal), transcript).toEqual(['SIGTERM']);
    expect(mine.map((l) => l.msg), transcript).toContain('stopped');
    expect(mine.map((l) => l.msg), transcript).not.toContain('second signal: exiting without waiting for shutdown');
  }
  expect(nodePids.filter(alive)).toEqual([]);
  expect((await readdir(dataDir)).sort()).toEqual(['1', '2', '3']);
});

test('npm start -- --secure runs the cluster with TLS and --auth: the superuser it prints gets in, an anonymous client does not', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vigil-start-secure-'));
  const basePort = await freePorts([0, 1, 2, 100, 101, 102]);
  const proc = spawn('npm', ['start', '--', '--data-dir', dataDir, '--base-port', String(basePort), '--log-level', 'warn', '--secure'], { cwd: repo, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  pids.push(proc.pid!);
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = once(proc, 'exit');
  try {
    const hint = await waitFor('the connection hint', () => /try: npx vigil shell --endpoints (\S+) --ca (\S+) --user super --secret-file (\S+)/.exec(output) ?? undefined, 30_000);
    const [, endpoints, caFile, secretFile] = hint as unknown as [string, string, string, string];
    const ca = await readFile(caFile, 'utf8');
    const secret = (await readFile(secretFile, 'utf8')).trim();
    expect(((await stat(secretFile)).mode & 0o777).toString(8)).toBe('600');
    const root = await connect({ endpoints: endpoints.split(','), tls: { ca }, auth: { user: 'super', secret } });
    try {
      expect(await root.whoami()).toMatchObject({ user: 'super', superuser: true });
    } finally {
      await root.close();
    }
    await expect(connect({ endpoints: endpoints.split(','), tls: { ca }, connectTimeoutMs: 3_000 })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(connect({ endpoints: [`ws://127.0.0.1:${basePort}`], connectTimeoutMs: 1_500 })).rejects.toMatchObject({ name: 'VigilError' });
  } finally {
    process.kill(-proc.pid!, 'SIGINT');
    await exited;
  }
  expect(output).toContain('vigil: all nodes stopped (node 1 exit 0, node 2 exit 0, node 3 exit 0)');
});
