import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { connect, type Stat, type VigilClient } from '@vigil/client';
import { exitCodes } from '@vigil/cli';
import { TestCluster } from './support/cluster.js';
import { vigil } from './support/vigil-cli.js';

/**
 * `vigil snapshot save` from a running cluster, `vigil snapshot restore` into the data dirs of a
 * new one (other ports, other ids would do too), and the new cluster serves the same tree: every
 * node's path, data and stat, byte for byte.
 */

const clusters: TestCluster[] = [];
const clients: VigilClient[] = [];
let dir: string | undefined;
afterAll(async () => {
  for (const c of clients) await c.close();
  for (const c of clusters) await c.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const endpointsOf = (cluster: TestCluster): string[] => [...cluster.nodes.keys()].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);

/** Every node under `/`: path, data (hex) and stat, in order. */
async function dump(client: VigilClient): Promise<{ path: string; data: string; stat: Stat }[]> {
  const out: { path: string; data: string; stat: Stat }[] = [];
  const visit = async (path: string): Promise<void> => {
    const { data, stat } = await client.get(path);
    out.push({ path, data: Buffer.from(data).toString('hex'), stat });
    for (const name of (await client.children(path)).names) await visit(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  await visit('/');
  return out;
}

test('a backup of a running cluster, restored into a fresh one, serves an identical tree', async () => {
  const source = await TestCluster.start({ clusterId: 'backed-up' });
  clusters.push(source);
  await source.leader();
  const writer = await connect({ endpoints: endpointsOf(source) });
  clients.push(writer);
  await writer.create('/app/config', '{"level":1}', { createParents: true });
  await writer.set('/app/config', '{"level":2}');
  for (let i = 0; i < 20; i++) await writer.create('/app/jobs/job-', `job ${i}`, { mode: 'persistent-sequential', createParents: true });
  await writer.create('/app/blob', new Uint8Array([0, 1, 2, 255]));
  await writer.create('/app/empty');
  await writer.delete('/app/jobs/job-0000000003');
  const before = await dump(writer);

  dir = await mkdtemp(join(tmpdir(), 'vigil-backup-'));
  const file = join(dir, 'cluster.backup');
  const saved = await vigil(['snapshot', 'save', file, '--json'], { endpoints: endpointsOf(source) });
  expect(saved.stderr).toBe('');
  expect(saved.code).toBe(0);
  const header = JSON.parse(saved.stdout) as { clusterId: string; index: number; bytes: number; requestedIndex: number };
  expect(header.clusterId).toBe('backed-up');
  expect(header.index).toBeGreaterThanOrEqual(header.requestedIndex);
  expect((await readFile(file)).length).toBe(header.bytes);
  // Writes after the backup are not in it.
  await writer.create('/app/after-backup');

  const target = await TestCluster.start({ clusterId: 'restored', spawn: false });
  clusters.push(target);
  for (const id of target.nodes.keys()) {
    const restored = await vigil(['snapshot', 'restore', file, ...target.settingsArgs(id)]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain(`restored ${target.node(id).dataDir} as member ${id} of cluster restored (voters 1, 2, 3)`);
  }
  // A directory that now holds a member is not restored over.
  const again = await vigil(['snapshot', 'restore', file, ...target.settingsArgs(1)]);
  expect(again).toMatchObject({ code: exitCodes.failure, stderr: `vigil: data directory ${target.node(1).dataDir} is not empty: a backup is restored only into a new, empty directory\n` });

  for (const id of target.nodes.keys()) target.spawn(id);
  await target.leader();
  const reader = await connect({ endpoints: endpointsOf(target) });
  clients.push(reader);
  expect(await dump(reader)).toEqual(before);
  // The restored cluster goes on from the snapshot's revision.
  const next = await reader.create('/app/next');
  expect(next.stat.czxid).toBeGreaterThan(header.index);
});
