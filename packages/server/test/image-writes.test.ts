import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { openStore } from '@vigil/store';
import { decodeSnapshotEnvelope } from '../src/consensus/raft-driver.js';
import { silentLogger } from '../src/node/logger.js';
import { driverCluster, member } from './driver-support.js';

/**
 * Decision 49: the driver applies committed entries in the store's memory and writes the store's
 * LevelDB image behind them, one batch per few ticks, not one per apply. The image must still be
 * complete wherever something reads it: a snapshot is taken of it.
 */

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setImmediate(r));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

test('the image is written behind the applies, by the ticks, and a snapshot is taken of a complete one', async () => {
  const members = await driverCluster({
    ids: [1],
    route: () => undefined,
    logger: () => silentLogger(),
    onFatal: (err) => {
      throw err;
    },
    cleanups,
  });
  const m = member(members, 1);
  m.driver.receive([]);
  await until(() => m.store.appliedIndex >= 1);
  m.raw.campaign();
  m.driver.receive([]);
  await until(() => m.raw.summary().leader === 1);
  for (let i = 0; i < 30; i++) expect((await m.driver.propose({ type: 'create', path: `/n${i}`, data: new Uint8Array(1), mode: 'persistent' })).result.ok).toBe(true);
  // Nothing ticks yet: every create is answered, none is in the image.
  expect(m.store.unwrittenEntries).toBeGreaterThanOrEqual(30);

  m.driver.start();
  await until(() => m.store.unwrittenEntries === 0 && m.store.writesPending === 0);

  for (let i = 30; i < 35; i++) await m.driver.propose({ type: 'create', path: `/n${i}`, data: new Uint8Array(1), mode: 'persistent' });
  const index = await m.driver.snapshotNow();
  expect(index).toBe(m.store.appliedIndex);
  const snapshot = await m.storage.openLatestSnapshot();
  expect(snapshot?.meta.index).toBe(index);
  const file = await snapshot!.file.readFile();
  await snapshot!.file.close();
  const dir = await mkdtemp(join(tmpdir(), 'vigil-restored-'));
  const restored = await openStore({ path: dir });
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => restored.close());
  await restored.restoreSnapshot(decodeSnapshotEnvelope(file).store);
  expect(restored.appliedIndex).toBe(index);
  expect(restored.get('/n34').ok).toBe(true);
});
