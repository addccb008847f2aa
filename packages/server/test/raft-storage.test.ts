import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { Entry } from '@vigil/raft';
import { RaftStorage } from '../src/storage/raft-storage.js';
import { prepareDataDir } from '../src/storage/data-dir.js';

const entry = (index: number, term: number, byte = index): Entry => ({ index, term, kind: 'normal', data: new Uint8Array([byte]) });

describe('RaftStorage', () => {
  let dir: string;
  let db: Level<Buffer, Buffer>;
  let open: RaftStorage | null = null;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-raft-storage-'));
    db = new Level<Buffer, Buffer>(join(dir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
  });
  afterEach(async () => {
    await open?.close();
    open = null;
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The storage of a process started now (the previous one's files closed, as a kill -9 would leave them). */
  async function reopen(options: { segmentBytes?: number; powerLoss?: boolean; trailingEntries?: number } = {}): Promise<RaftStorage> {
    await open?.close();
    open = await RaftStorage.open({
      walDir: join(dir, 'wal'),
      snapshotDir: join(dir, 'snapshots'),
      legacy: db.sublevel<Buffer, Buffer>('raft', { keyEncoding: 'buffer', valueEncoding: 'buffer' }),
      segmentBytes: options.segmentBytes ?? 64 * 1024,
      ...(options.powerLoss === true ? { powerLoss: true } : {}),
      ...(options.trailingEntries === undefined ? {} : { trailingEntries: options.trailingEntries }),
    });
    return open;
  }

  const segments = async (): Promise<string[]> => (await readdir(join(dir, 'wal'))).filter((f) => f.endsWith('.wal')).sort();

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

  test('compaction deletes whole segments before the point; what stays restarts with its hard state and snapshot', async () => {
    const s = await reopen({ segmentBytes: 4096 });
    await s.load();
    const hardState = { term: 2, vote: 1, commit: 2_000 };
    const meta = { index: 1_500, term: 2, conf: { voters: [1, 2, 3], learners: [] } };
    const all = Array.from({ length: 2_000 }, (_, i) => entry(i + 1, 2, i % 256));
    for (let i = 0; i < all.length; i += 50) await s.persist({ hardState: i === 0 ? hardState : null, entries: all.slice(i, i + 50), snapshotMeta: null, sync: i % 100 === 0 });
    await s.writeSnapshotFile(meta, new Uint8Array([9]));
    expect(await s.saveSnapshotMeta(meta)).toBe(true);
    const before = (await segments()).length;
    expect(before).toBeGreaterThan(10);
    await s.compactBefore(1_500);
    const after = (await segments()).length;
    expect(after).toBeLessThan(before / 2);
    const image = await (await reopen({ segmentBytes: 4096 })).load();
    expect(image.hardState).toEqual(hardState);
    expect(image.snapshotMeta).toEqual(meta);
    // Whole segments go: the first kept entry is at or before the point, and everything after it is there.
    const first = image.entries[0]!.index;
    expect(first).toBeLessThanOrEqual(1_500);
    expect(first).toBeGreaterThan(1_000);
    expect(image.entries).toEqual(all.slice(first - 1));
  });

  test('a restart keeps the trailing entries below the snapshot, not every older entry its segments still hold', async () => {
    // One segment holds everything: compaction can delete no file, yet the log must not grow back.
    const s = await reopen({ segmentBytes: 1 << 20, trailingEntries: 10 });
    await s.load();
    const hardState = { term: 2, vote: 1, commit: 300 };
    const all = Array.from({ length: 300 }, (_, i) => entry(i + 1, 2));
    await s.persist({ hardState, entries: all, snapshotMeta: null, sync: true });
    const meta = { index: 250, term: 2, conf: { voters: [1, 2, 3], learners: [] } };
    await s.writeSnapshotFile(meta, new Uint8Array([9]));
    expect(await s.saveSnapshotMeta(meta)).toBe(true);
    await s.compactBefore(240);
    expect(await segments()).toHaveLength(1);
    const image = await (await reopen({ segmentBytes: 1 << 20, trailingEntries: 10 })).load();
    expect(image.snapshotMeta).toEqual(meta);
    expect(image.entries).toEqual(all.slice(239));
    // Without the setting, everything the files hold.
    expect((await (await reopen({ segmentBytes: 1 << 20 })).load()).entries).toEqual(all);
  });

  test('a torn tail (the unsynced end of a crash) ends the log, is made zeros, and appends go on after the last whole record', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [entry(1, 1), entry(2, 1), entry(3, 1)], snapshotMeta: null, sync: true });
    await s.persist({ hardState: null, entries: [entry(4, 1, 44), entry(5, 1, 55)], snapshotMeta: null, sync: true });
    await s.close();
    // Damage entry 4's record (a write torn by the crash) and leave entry 5's whole behind it.
    const [last] = (await segments()).slice(-1);
    const path = join(dir, 'wal', last!);
    const bytes = await readFile(path);
    const termAndIndex = Buffer.alloc(16);
    termAndIndex.writeDoubleLE(1, 0);
    termAndIndex.writeDoubleLE(4, 8);
    const at = bytes.indexOf(termAndIndex);
    expect(bytes[at + 17]).toBe(44); // entry 4's data
    bytes[at + 17] = 45;
    await writeFile(path, bytes);
    const r = await reopen();
    expect((await r.load()).entries.map((e) => e.index)).toEqual([1, 2, 3]);
    // A new entry 4 of another term: entry 5 of the earlier life must not come back after it.
    await r.persist({ hardState: null, entries: [entry(4, 2, 40)], snapshotMeta: null, sync: true });
    expect((await (await reopen()).load()).entries).toEqual([entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2, 40)]);
  });

  test('a damaged record in a segment before the last is refused, not skipped', async () => {
    const s = await reopen({ segmentBytes: 1024 });
    await s.load();
    for (let i = 1; i <= 200; i += 10) await s.persist({ hardState: null, entries: Array.from({ length: 10 }, (_, k) => entry(i + k, 1, 7)), snapshotMeta: null, sync: true });
    await s.close();
    const [first] = await segments();
    const path = join(dir, 'wal', first!);
    const bytes = await readFile(path);
    bytes[bytes.indexOf(Buffer.from([7]))] = 8;
    await writeFile(path, bytes);
    await expect(reopen({ segmentBytes: 1024 })).rejects.toMatchObject({ code: 'DATA_DIR_INVALID', message: expect.stringMatching(/damaged/) });
    open = null;
  });

  test('a hard state alone without sync waits for the next write; a restart may lose only it', async () => {
    const s = await reopen();
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [entry(1, 1), entry(2, 1)], snapshotMeta: null, sync: true });
    await s.persist({ hardState: { term: 1, vote: 1, commit: 2 }, entries: [], snapshotMeta: null, sync: false });
    await s.close(); // a graceful stop writes it
    open = null;
    expect((await (await reopen()).load()).hardState).toEqual({ term: 1, vote: 1, commit: 2 });
    const r = open!;
    await r.persist({ hardState: { term: 1, vote: 1, commit: 1 }, entries: [], snapshotMeta: null, sync: false });
    await r.persist({ hardState: null, entries: [entry(3, 1)], snapshotMeta: null, sync: true }); // carries it
    await r.persist({ hardState: { term: 1, vote: 1, commit: 3 }, entries: [], snapshotMeta: null, sync: false });
    open = null; // killed: the last one never reached the file
    const image = await (await reopen()).load();
    expect(image.hardState).toEqual({ term: 1, vote: 1, commit: 1 });
    expect(image.entries.map((e) => e.index)).toEqual([1, 2, 3]);
    // A vote (or a new term) with sync is durable when persist resolves, alone as it is.
    await open!.persist({ hardState: { term: 2, vote: 3, commit: 1 }, entries: [], snapshotMeta: null, sync: true });
    open = null; // killed
    expect((await (await reopen()).load()).hardState).toEqual({ term: 2, vote: 3, commit: 1 });
  });

  test('in power-loss mode, a restart keeps only the writes that had completed', async () => {
    const s = await reopen({ powerLoss: true, segmentBytes: 1024 });
    await s.load();
    await s.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entries: Array.from({ length: 40 }, (_, i) => entry(i + 1, 1)), snapshotMeta: null, sync: true });
    const synced = await readFile(join(dir, 'wal', 'power-loss-synced'), 'utf8');
    await s.persist({ hardState: { term: 1, vote: 1, commit: 40 }, entries: Array.from({ length: 40 }, (_, i) => entry(i + 41, 1)), snapshotMeta: null, sync: true });
    await s.close();
    open = null;
    // The second write was in flight when the power went: the position it reached was never recorded.
    await writeFile(join(dir, 'wal', 'power-loss-synced'), synced);
    const image = await (await reopen({ powerLoss: true, segmentBytes: 1024 })).load();
    expect(image.entries.map((e) => e.index)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(image.hardState).toEqual({ term: 1, vote: 1, commit: 0 });
  });

  test('a log kept in LevelDB by an earlier version is moved into the log files once, and deleted from LevelDB', async () => {
    const legacy = db.sublevel<Buffer, Buffer>('raft', { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });
    const meta = { index: 3, term: 1, conf: { voters: [1], learners: [] } };
    await legacy.put(Buffer.from('h'), packr.pack({ term: 2, vote: 1, commit: 5 }));
    await legacy.put(Buffer.from('s'), packr.pack(meta));
    for (const e of [entry(3, 1), entry(4, 2), entry(5, 2)]) {
      const key = Buffer.alloc(9);
      key[0] = 0x65;
      key.writeBigUInt64BE(BigInt(e.index), 1);
      await legacy.put(key, packr.pack([e.term, ['normal', 'noop', 'conf'].indexOf(e.kind), e.data]));
    }
    const image = await (await reopen()).load();
    expect(image.hardState).toEqual({ term: 2, vote: 1, commit: 5 });
    expect(image.snapshotMeta).toEqual(meta);
    expect(image.entries).toEqual([entry(3, 1), entry(4, 2), entry(5, 2)]);
    expect(await legacy.keys().all()).toEqual([]);
    expect((await (await reopen()).load()).entries).toEqual([entry(3, 1), entry(4, 2), entry(5, 2)]);
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
