import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Entry } from '@vigil/raft';
import { RaftStorage } from '../src/storage/raft-storage.js';
import { prepareDataDir } from '../src/storage/data-dir.js';

const entry = (index: number, term: number, byte = index): Entry => ({ index, term, kind: 'normal', data: new Uint8Array([byte]) });

describe('RaftStorage', () => {
  let dir: string;
  let db: Level<Buffer, Buffer>;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-raft-storage-'));
    db = new Level<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
  });
  afterEach(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function reopen(): Promise<RaftStorage> {
    await db.close();
    db = new Level<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    return RaftStorage.open(db.sublevel<Buffer, Buffer>('raft', { keyEncoding: 'buffer', valueEncoding: 'buffer' }), join(dir, 'snapshots'));
  }

  test('writing a snapshot file leaves another one that is being written alone; a leftover from an earlier process goes at open', async () => {
    const s = await reopen();
    // Found by test/power-loss.test.ts under load: a member catching up wrote the leader's snapshot
    // while taking its own, and the first to finish removed the other's unfinished file.
    const unfinished = join(dir, 'snapshots', 'snap-0000000000000007-1.bin.tmp');
    await writeFile(unfinished, 'half a snapshot');
    await s.writeSnapshotFile({ index: 5, term: 1 }, new Uint8Array([1, 2, 3]));
    expect(await readdir(join(dir, 'snapshots'))).toEqual(['snap-0000000000000005-1.bin', 'snap-0000000000000007-1.bin.tmp']);
    await reopen();
    expect(await readdir(join(dir, 'snapshots'))).toEqual(['snap-0000000000000005-1.bin']);
  });

  test('a snapshot taken while a newer one from the leader was recorded is not recorded over it', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: { term: 4, vote: 1, commit: 10 }, entries: [entry(1, 4), entry(2, 4), entry(3, 4)], snapshotMeta: null, sync: true });
    // Found by test/power-loss.test.ts under load: a follower's own snapshot at 2 finished after
    // the leader's at 9 was persisted (log deleted, commit 9) but before it was installed; its
    // metadata overwrote the newer one, and the member could not start again (commit beyond its log).
    const received = s.persist({ hardState: { term: 4, vote: 1, commit: 9 }, entries: [], snapshotMeta: { index: 9, term: 4, conf: { voters: [1, 2, 3], learners: [] } }, sync: true });
    expect(await s.saveSnapshotMeta({ index: 2, term: 4, conf: { voters: [1, 2, 3], learners: [] } })).toBe(false);
    await received;
    const image = await (await reopen()).load();
    expect(image.snapshotMeta?.index).toBe(9);
    expect(image.hardState?.commit).toBe(9);
    expect(await (await reopen()).saveSnapshotMeta({ index: 12, term: 4, conf: { voters: [1, 2, 3], learners: [] } })).toBe(true);
  });

  test('entries and hard state survive a reopen, byte for byte', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: { term: 2, vote: 1, commit: 2 }, entries: [entry(1, 1), entry(2, 2), entry(3, 2)], snapshotMeta: null, sync: true });
    const image = await (await reopen()).load();
    expect(image.hardState).toEqual({ term: 2, vote: 1, commit: 2 });
    expect(image.entries).toEqual([entry(1, 1), entry(2, 2), entry(3, 2)]);
    expect(image.entries[0]!.data).toBeInstanceOf(Uint8Array);
  });

  test('persisting entries from an index replaces the old suffix', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: null, entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)), snapshotMeta: null, sync: true });
    await s.persist({ hardState: null, entries: [entry(3, 2, 33)], snapshotMeta: null, sync: true });
    expect((await (await reopen()).load()).entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 2, 33)]);
  });

  test('a received snapshot replaces the whole log; later entries follow it', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: null, entries: [1, 2, 3].map((i) => entry(i, 1)), snapshotMeta: null, sync: true });
    const meta = { index: 10, term: 3, conf: { voters: [1, 2, 3], learners: [] } };
    await s.writeSnapshotFile(meta, new Uint8Array([1, 2, 3]));
    await s.persist({ hardState: { term: 3, vote: 0, commit: 10 }, entries: [], snapshotMeta: meta, sync: true });
    await s.persist({ hardState: null, entries: [entry(11, 3)], snapshotMeta: null, sync: true });
    const r = await reopen();
    const image = await r.load();
    expect(image.snapshotMeta).toEqual(meta);
    expect(image.entries).toEqual([entry(11, 3)]);
    const file = r.openSnapshotBytes(meta);
    expect([...file.subarray(0, file.length)]).toEqual([1, 2, 3]);
    file.close();
  });

  test('compaction keeps the entry at the compaction point', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: null, entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)), snapshotMeta: null, sync: true });
    await s.compactBefore(4);
    expect((await (await reopen()).load()).entries.map((e) => e.index)).toEqual([4, 5]);
  });

  test('compaction deletes exactly the range below the point, across key bytes, and nothing outside the log', async () => {
    const s = await reopen();
    await s.load();
    const hardState = { term: 2, vote: 1, commit: 70_000 };
    // Indexes 250 to 70,000 span a change of the key's second-lowest byte (65,536).
    const all = Array.from({ length: 70_000 - 249 }, (_, i) => entry(250 + i, 2, i % 256));
    for (let i = 0; i < all.length; i += 10_000) await s.persist({ hardState: i === 0 ? hardState : null, entries: all.slice(i, i + 10_000), snapshotMeta: null, sync: false });
    const store = db.sublevel<Buffer, Buffer>('store', { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await store.put(Buffer.from([0x00]), Buffer.from('below'));
    await store.put(Buffer.from([0xff]), Buffer.from('above'));
    await s.compactBefore(65_600);
    const image = await (await reopen()).load();
    expect(image.hardState).toEqual(hardState);
    expect(image.entries.length).toBe(70_000 - 65_600 + 1);
    expect(image.entries[0]).toEqual(entry(65_600, 2, (65_600 - 250) % 256));
    expect(image.entries.at(-1)).toEqual(entry(70_000, 2, (70_000 - 250) % 256));
    const sibling = db.sublevel<Buffer, Buffer>('store', { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    expect((await sibling.values().all()).map(String)).toEqual(['below', 'above']);
  });
});

describe('data directory identity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-data-dir-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a new directory is claimed, then recognised', async () => {
    expect(await prepareDataDir(join(dir, 'n1'), { clusterId: 'a', nodeId: 1 })).toEqual({ fresh: true });
    expect(await prepareDataDir(join(dir, 'n1'), { clusterId: 'a', nodeId: 1 })).toEqual({ fresh: false });
  });

  test('a first start that ended while writing the identity leaves a directory that is still new', async () => {
    await writeFile(join(dir, 'vigil-node.json.tmp'), '{"format":1,"clus');
    expect(await prepareDataDir(dir, { clusterId: 'a', nodeId: 1 })).toEqual({ fresh: true });
    expect(await prepareDataDir(dir, { clusterId: 'a', nodeId: 1 })).toEqual({ fresh: false });
  });

  test('a directory of another cluster or member is refused with a clear message', async () => {
    await prepareDataDir(dir, { clusterId: 'a', nodeId: 1 });
    await expect(prepareDataDir(dir, { clusterId: 'b', nodeId: 1 })).rejects.toThrow(/belongs to cluster 'a', not 'b'/);
    await expect(prepareDataDir(dir, { clusterId: 'a', nodeId: 2 })).rejects.toThrow(/belongs to member 1, not 2/);
  });

  test('a foreign or damaged directory is refused', async () => {
    await writeFile(join(dir, 'something'), 'x');
    await expect(prepareDataDir(dir, { clusterId: 'a', nodeId: 1 })).rejects.toMatchObject({ code: 'DATA_DIR_INVALID' });
    await writeFile(join(dir, 'vigil-node.json'), '{not json');
    await expect(prepareDataDir(dir, { clusterId: 'a', nodeId: 1 })).rejects.toThrow(/damaged/);
  });
});
