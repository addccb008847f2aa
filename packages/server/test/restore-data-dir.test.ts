import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Command, type Store } from '@vigil/store';
import { loadConfig } from '../src/config/index.js';
import { encodeSnapshotEnvelope } from '../src/consensus/raft-driver.js';
import { isServerError } from '../src/errors.js';
import { startNode, type VigilNode } from '../src/node/vigil-node.js';
import { silentLogger } from '../src/node/logger.js';
import { encodeBackupHeader, readBackupFile } from '../src/storage/backup-file.js';
import { restoreDataDir } from '../src/storage/restore-data-dir.js';

let dir: string;
const stores: Store[] = [];
const nodes: VigilNode[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-restore-'));
});
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close();
  for (const s of stores.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A backup file as a member would serve it: a store image inside a snapshot envelope, behind the header. */
async function backupOf(commands: Command[], name = 'backup'): Promise<{ path: string; index: number }> {
  const store = await openStore({ path: join(dir, `${name}-store`) });
  stores.push(store);
  await store.apply(commands.map((command, i) => ({ index: i + 1, timeMs: 1_000 + i, command })));
  const chunks: Uint8Array[] = [];
  for await (const c of store.snapshotStream()) chunks.push(new Uint8Array(c));
  const envelope = await encodeSnapshotEnvelope(new Map([[7, { peer: '10.0.0.7:8281', client: null }]]), new Set([5]), chunks);
  const header = encodeBackupHeader({ clusterId: 'old', memberId: 7, index: store.appliedIndex, term: 4, snapshotBytes: envelope.length, takenAt: new Date(0).toISOString() });
  const path = join(dir, `${name}.backup`);
  await writeFile(path, Buffer.concat([header, envelope]));
  return { path, index: store.appliedIndex };
}

const tree: Command[] = [
  { type: 'create', path: '/app', data: text('root'), mode: 'persistent' },
  { type: 'create', path: '/app/config', data: text('{"level":1}'), mode: 'persistent' },
  { type: 'create', path: '/app/job-', data: new Uint8Array([0, 255]), mode: 'persistent-sequential' },
];

let peerPort = 0;
beforeEach(async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  peerPort = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
});

/** A single-member cluster on loopback. */
function configFor(dataDir: string) {
  const peer = `127.0.0.1:${peerPort}`;
  return loadConfig({ argv: ['--id', '1', '--cluster-id', 'new', '--data-dir', dataDir, '--client-listen', '127.0.0.1:0', '--peer-listen', peer, '--peers', `1=${peer}`, '--tick-ms', '10', '--log-level', 'silent'] });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isServerError(err)) return err.code;
    throw err;
  }
}

describe('restoreDataDir', () => {
  it('a node started on a restored directory leads its new cluster and serves the backed-up tree', async () => {
    const backup = await backupOf(tree);
    const dataDir = join(dir, 'n1');
    const restored = await restoreDataDir({ backupPath: backup.path, config: configFor(dataDir) });
    expect(restored.backup).toMatchObject({ clusterId: 'old', memberId: 7, index: backup.index, term: 4 });
    expect(restored.sessions).toBe(0);
    expect((await readdir(dataDir)).sort()).toEqual(['db', 'snapshots', 'vigil-node.json', 'wal']);
    expect(JSON.parse(await readFile(join(dataDir, 'vigil-node.json'), 'utf8'))).toEqual({ format: 1, clusterId: 'new', nodeId: 1 });

    const node = await startNode(configFor(dataDir), { logger: silentLogger() });
    nodes.push(node);
    const deadline = Date.now() + 10_000;
    while (node.status().role !== 'leader' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const status = node.status();
    expect(status).toMatchObject({ role: 'leader', clusterId: 'new', snapshotIndex: backup.index });
    expect(status.term).toBeGreaterThan(4);
    // The new cluster's membership replaced the backup's (member 7, removed 5).
    expect(status.members.map((m) => [m.id, m.role])).toEqual([[1, 'voter']]);
    const base = `http://127.0.0.1:${node.clientAddress.port}`;
    const config = (await (await fetch(`${base}/v1/znodes/app/config`)).json()) as { data: string; stat: { czxid: number } };
    expect(Buffer.from(config.data, 'base64').toString()).toBe('{"level":1}');
    expect(config.stat.czxid).toBe(2);
    const children = (await (await fetch(`${base}/v1/children/app`)).json()) as { names: string[] };
    expect(children.names).toEqual(['config', 'job-0000000001']);
    // And it takes writes after the snapshot's index.
    const write = await fetch(`${base}/v1/znodes/app/after`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(write.status).toBe(201);
    expect(((await write.json()) as { revision: number }).revision).toBeGreaterThan(backup.index);
  });

  it('refuses a directory that is not empty, and leaves it alone', async () => {
    const backup = await backupOf(tree);
    const dataDir = join(dir, 'busy');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'keep.txt'), 'mine');
    expect(await codeOf(restoreDataDir({ backupPath: backup.path, config: configFor(dataDir) }))).toBe('DATA_DIR_INVALID');
    expect(await readdir(dataDir)).toEqual(['keep.txt']);
  });

  it('refuses a truncated backup before touching the directory', async () => {
    const backup = await backupOf(tree);
    const bytes = await readFile(backup.path);
    await writeFile(backup.path, bytes.subarray(0, bytes.length - 10));
    const dataDir = join(dir, 'fresh');
    await expect(readBackupFile(backup.path)).rejects.toThrow(/truncated/);
    expect(await codeOf(restoreDataDir({ backupPath: backup.path, config: configFor(dataDir) }))).toBe('BACKUP_INVALID');
    expect(await readdir(dir)).not.toContain('fresh');
  });

  it('refuses a backup whose store image fails its checksums, and leaves the directory empty again', async () => {
    const backup = await backupOf(tree);
    const bytes = await readFile(backup.path);
    // Flip a byte inside the records of the store image (its znode data), keeping every length.
    const at = bytes.lastIndexOf(Buffer.from('{"level":1}'));
    expect(at).toBeGreaterThan(0);
    bytes[at + 2] = bytes[at + 2]! ^ 0xff;
    await writeFile(backup.path, bytes);
    const dataDir = join(dir, 'empty');
    await mkdir(dataDir);
    expect(await codeOf(restoreDataDir({ backupPath: backup.path, config: configFor(dataDir) }))).toBe('BACKUP_INVALID');
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('refuses a file that is not a backup', async () => {
    const path = join(dir, 'notes.txt');
    await writeFile(path, 'hello\n');
    await expect(restoreDataDir({ backupPath: path, config: configFor(join(dir, 'x')) })).rejects.toThrow(/not a Vigil backup/);
  });
});
