import { afterEach, expect, test } from 'vitest';
import { silentLogger } from '../src/node/logger.js';
import { driverCluster, member } from './driver-support.js';

/**
 * When a member snapshots (decision 47): every `snapshotEveryEntries` entries (staggered by id),
 * or once the log since the last snapshot holds a quarter as many entries as the image has
 * records, whichever is later, so that snapshots cost a bounded amount per write at any tree size.
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

test('snapshots come every snapshotEveryEntries entries while the tree is small, then a quarter of its records apart', async () => {
  const snapshots: number[] = [];
  const members = await driverCluster({
    ids: [1],
    route: () => undefined,
    logger: () => silentLogger(),
    onFatal: (err) => {
      throw err;
    },
    snapshotEveryEntries: 8,
    observer: () => ({ snapshot: (kind) => void (kind === 'created' && snapshots.push(m.raw.status().snapshotIndex)) }),
    cleanups,
  });
  const m = member(members, 1);
  // The bootstrap entry makes it a voter; then it elects itself (nothing ticks).
  m.driver.receive([]);
  await until(() => m.store.appliedIndex >= 1);
  m.raw.campaign();
  m.driver.receive([]);
  await until(() => m.raw.summary().leader === 1);
  const creates = 300;
  for (let i = 0; i < creates; i++) {
    const applied = await m.driver.propose({ type: 'create', path: `/n${i}`, data: new Uint8Array(1), mode: 'persistent' });
    expect(applied.result.ok).toBe(true);
    await m.driver.snapshotSettled();
  }
  // Member 1 is staggered by one eighth: due every 9 entries, or a quarter of the records × 9/8.
  // Every entry after the first two (bootstrap, no-op) created one znode beside the root.
  const recordsAt = (index: number): number => 1 + Math.max(0, index - 2);
  expect(snapshots.length).toBeGreaterThan(3);
  for (let k = 1; k < snapshots.length; k++) {
    const [prev, next] = [snapshots[k - 1]!, snapshots[k]!];
    expect(next - prev).toBe(Math.max(9, Math.ceil((recordsAt(next - 1) * 9) / 8 / 4)));
  }
  expect(snapshots.at(-1)).toBeGreaterThan(creates - 100);
});
