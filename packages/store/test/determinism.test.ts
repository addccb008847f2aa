import { Level } from 'level';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, Store, type Applied, type Entry, type StoreDatabase } from '../src/index.js';
import { tempDir } from './support.js';
import { workloadEntry } from './workload.js';

const entries: Entry[] = Array.from({ length: 2_000 }, (_, i) => workloadEntry(i + 1));

async function applyInBatches(store: Store, batchSize: number): Promise<Applied[]> {
  const out: Applied[] = [];
  for (let at = 0; at < entries.length; at += batchSize) out.push(...(await store.apply(entries.slice(at, at + batchSize))));
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('determinism', () => {
  it('two stores fed the same entries in different batches reach the same digest and the same events', async () => {
    const a = await tempDir();
    const b = await tempDir();
    const one = await openStore({ path: a.path });
    const other = await openStore({ path: b.path });
    try {
      const fromOne = await applyInBatches(one, 1);
      const fromOther = await applyInBatches(other, 333);
      expect(fromOther).toEqual(fromOne);
      expect(fromOne.filter((x) => x.result.ok).length).toBeGreaterThan(entries.length / 3);
      expect(await other.digest()).toBe(await one.digest());
      expect(other.eventsSince(0)).toEqual(one.eventsSince(0));
    } finally {
      await one.close();
      await other.close();
      await a.remove();
      await b.remove();
    }
  });

  it('apply reads no clock and no randomness', async () => {
    const dir = await tempDir();
    const store = await openStore({ path: dir.path });
    try {
      const forbidden = (): never => {
        throw new Error('apply must not read the clock or randomness');
      };
      vi.spyOn(Date, 'now').mockImplementation(forbidden);
      vi.spyOn(Math, 'random').mockImplementation(forbidden);
      vi.spyOn(performance, 'now').mockImplementation(forbidden);
      const applied = await store.apply(entries.slice(0, 500));
      expect(applied).toHaveLength(500);
    } finally {
      vi.restoreAllMocks();
      await store.close();
      await dir.remove();
    }
  });

  it('refuses a database whose default encodings are not buffers', async () => {
    const dir = await tempDir();
    const db = new Level(dir.path);
    await db.open();
    try {
      // Deliberately the wrong encodings: the store must refuse them at run time.
      await expect(Store.open({ db: db as unknown as StoreDatabase })).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    } finally {
      await db.close();
      await dir.remove();
    }
  });

  it('a store in a sublevel shared with other data has the digest of a store alone', async () => {
    const shared = await tempDir();
    const alone = await tempDir();
    const db = new Level(shared.path);
    await db.open();
    const raftLog = db.sublevel('raft');
    await raftLog.put('hardState', 'term=3');
    const inShared = await Store.open({ db: db.sublevel<Buffer, Buffer>('store', { keyEncoding: 'buffer', valueEncoding: 'buffer' }) });
    const byItself = await openStore({ path: alone.path });
    try {
      await inShared.apply(entries.slice(0, 300));
      await byItself.apply(entries.slice(0, 300));
      expect(await inShared.digest()).toBe(await byItself.digest());
      expect(await raftLog.get('hardState')).toBe('term=3');
    } finally {
      await inShared.close();
      await byItself.close();
      await db.close();
      await shared.remove();
      await alone.remove();
    }
  });
});
