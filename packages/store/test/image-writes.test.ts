import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeKey } from '../src/keys.js';
import { openStore, Store, type Command, type Entry } from '../src/index.js';
import { bytes, tempDir } from './support.js';

// Decision 49: the Raft driver applies in memory and writes the image when it chooses. These are
// the store's half of that contract: what the image holds between writes, and what one write holds.

let dir: { path: string; remove: () => Promise<void> };
const cleanup: (() => Promise<void>)[] = [];
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await dir.remove();
});

/** A store on a LevelDB the test owns: closing the database without the store is a crash of the process. */
async function storeOn(name: string): Promise<{ store: Store; db: Level<Buffer, Buffer>; puts: Buffer[] }> {
  const db = new Level<Buffer, Buffer>(`${dir.path}/${name}`, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  const puts: Buffer[] = [];
  const batch = db.batch.bind(db);
  db.batch = ((...args: Parameters<typeof db.batch>) => {
    const b = batch(...args);
    if (args.length > 0) return b;
    const put = b.put.bind(b);
    b.put = (key: Buffer, value: Buffer) => {
      puts.push(key);
      return put(key, value);
    };
    return b;
  }) as typeof db.batch;
  const store = await Store.open({ db });
  cleanup.push(async () => {
    if (db.status === 'open') await db.close();
  });
  return { store, db, puts };
}

const entries = (from: number, commands: readonly Command[]): Entry[] => commands.map((command, i) => ({ index: from + i, timeMs: 1_000 + from + i, command }));
const children = (n: number): Command[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'create', path: `/p/c${i}`, data: bytes(`v${i}`), mode: 'persistent' }) as const);

describe('image writes (applyInMemory, writeImage)', () => {
  it('leaves the image at the last write until writeImage, and a crash in between replays from there', async () => {
    const { store, db } = await storeOn('a');
    await store.apply(entries(1, [{ type: 'create', path: '/p', data: bytes(''), mode: 'persistent' }]));
    for (const e of entries(2, children(5))) store.applyInMemory([e]);
    expect(store.appliedIndex).toBe(6);
    expect(store.unwrittenEntries).toBe(5);
    expect(store.get('/p/c4').ok).toBe(true);
    await db.close(); // the process dies: memory is gone, the image is what was written

    const reopened = await openStore({ path: `${dir.path}/a` });
    cleanup.push(() => reopened.close());
    expect(reopened.appliedIndex).toBe(1);
    expect(reopened.exists('/p/c0')).toEqual({ ok: true, value: null });
    // The driver replays its log from the image's applied index.
    const replayed = await reopened.apply(entries(1, [{ type: 'create', path: '/p', data: bytes(''), mode: 'persistent' }, ...children(5)]));
    expect(replayed.map((a) => a.index)).toEqual([2, 3, 4, 5, 6]);
    await reopened.verify();
  });

  it('writes each record changed since the last write once, however many entries changed it', async () => {
    const { store, puts } = await storeOn('b');
    await store.apply(entries(1, [{ type: 'create', path: '/p', data: bytes(''), mode: 'persistent' }]));
    puts.length = 0;
    for (const e of entries(2, children(50))) store.applyInMemory([e]);
    expect(puts).toEqual([]);
    await store.writeImage();
    expect(store.unwrittenEntries).toBe(0);
    const parent = nodeKey('/p');
    expect(puts.filter((k) => k.equals(parent))).toHaveLength(1); // 50 creates changed its child count
    expect(puts).toHaveLength(1 + 50 + 1); // the parent, the children, the applied index
    await store.verify();
  });

  it('a snapshot restored over unwritten changes leaves no record of them in the image', async () => {
    const { store, db } = await storeOn('c');
    await store.apply(entries(1, [{ type: 'create', path: '/gone', data: bytes('x'), mode: 'persistent' }]));
    store.applyInMemory(entries(2, [{ type: 'delete', path: '/gone' }])); // unwritten: /gone is still in the image

    const source = await openStore({ path: `${dir.path}/source` });
    cleanup.push(() => source.close());
    await source.apply(entries(1, [{ type: 'create', path: '/kept', data: bytes('y'), mode: 'persistent' }, { type: 'set', path: '/kept', data: bytes('z') }, { type: 'noop' }]));
    const chunks: Uint8Array[] = [];
    for await (const c of source.snapshotStream()) chunks.push(new Uint8Array(c));

    await store.restoreSnapshot(chunks);
    await store.writeImage();
    await db.close();
    const reopened = await openStore({ path: `${dir.path}/c` });
    cleanup.push(() => reopened.close());
    expect(reopened.appliedIndex).toBe(3);
    expect(reopened.exists('/gone')).toEqual({ ok: true, value: null });
    expect(reopened.exists('/kept').ok).toBe(true);
    await reopened.verify();
  });

  it('close writes what was applied and not yet written', async () => {
    const { store, db } = await storeOn('d');
    store.applyInMemory(entries(1, [{ type: 'create', path: '/p', data: bytes(''), mode: 'persistent' }, ...children(3)]));
    await store.close();
    await db.close();
    const reopened = await openStore({ path: `${dir.path}/d` });
    cleanup.push(() => reopened.close());
    expect(reopened.appliedIndex).toBe(4);
    expect(reopened.get('/p/c2').ok).toBe(true);
  });
});
