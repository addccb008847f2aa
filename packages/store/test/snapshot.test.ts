import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, StoreError, type Command, type Entry, type Store } from '../src/index.js';
import { bytes, tempDir } from './support.js';

let dir: { path: string; remove: () => Promise<void> };
const opened: Store[] = [];
const open = async (name: string): Promise<Store> => {
  const store = await openStore({ path: `${dir.path}/${name}` });
  opened.push(store);
  return store;
};

beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await dir.remove();
});

const feed = async (store: Store, commands: Command[]): Promise<void> => {
  const base = store.appliedIndex;
  const entries: Entry[] = commands.map((command, i) => ({ index: base + i + 1, timeMs: 1_000 + base + i, command }));
  await store.apply(entries);
};

const populated = async (store: Store, nodes: number, dataBytes = 16): Promise<void> => {
  const commands: Command[] = [
    { type: 'sessionOpen', sessionId: 42, timeoutMs: 9_000 },
    { type: 'create', path: '/app', data: bytes('root'), mode: 'persistent' },
  ];
  for (let i = 0; i < nodes; i++) {
    commands.push({ type: 'create', path: `/app/n-`, data: new Uint8Array(dataBytes).fill(i % 251), mode: 'persistent-sequential' });
  }
  commands.push({ type: 'create', path: '/app/eph', data: bytes(''), mode: 'ephemeral', sessionId: 42 });
  await feed(store, commands);
};

const collect = async (stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> => {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(new Uint8Array(chunk));
  return chunks;
};

describe('snapshots', () => {
  it('a restored store has the same digest, tree, sessions and applied index', async () => {
    const source = await open('source');
    await populated(source, 200);
    const target = await open('target');
    await feed(target, [{ type: 'create', path: '/stale', data: bytes('x'), mode: 'persistent' }]);
    await target.restoreSnapshot(source.snapshotStream());
    expect(await target.digest()).toBe(await source.digest());
    expect(target.memoryDigest()).toBe(source.memoryDigest());
    expect(target.appliedIndex).toBe(source.appliedIndex);
    expect(target.exists('/stale')).toEqual({ ok: true, value: null });
    expect(target.children('/app')).toEqual(source.children('/app'));
    expect(target.sessions()).toEqual(source.sessions());
    // Events at or below the snapshot's index cannot be replayed on the restored store.
    expect(target.eventsSince(target.appliedIndex - 1)).toEqual({ compacted: true, floor: source.appliedIndex });
    await target.close();
    const reopened = await open('target');
    expect(await reopened.digest()).toBe(await source.digest());
  });

  it('is a consistent point in time even while applies continue', async () => {
    const source = await open('source');
    await populated(source, 50);
    const before = await source.digest();
    const stream = source.snapshotStream();
    await feed(source, [
      { type: 'delete', path: '/app/n-0000000003' },
      { type: 'set', path: '/app', data: bytes('changed') },
    ]);
    const chunks = await collect(stream);
    const target = await open('target');
    await target.restoreSnapshot(chunks);
    expect(await target.digest()).toBe(before);
    expect(await source.digest()).not.toBe(before);
  });

  it('splits large states into chunks of bounded size', async () => {
    const source = await open('source');
    await populated(source, 5, 600 * 1024);
    const chunks = await collect(source.snapshotStream());
    // header, records (about one per two nodes), trailer
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    for (const chunk of chunks) expect(chunk.byteLength).toBeLessThan(2 * 1024 * 1024);
    const target = await open('target');
    await target.restoreSnapshot(chunks);
    expect(await target.digest()).toBe(await source.digest());
  });

  it('rejects a damaged, truncated or reordered snapshot and keeps the current state', async () => {
    const source = await open('source');
    await populated(source, 300);
    const chunks = await collect(source.snapshotStream());
    const target = await open('target');
    await feed(target, [{ type: 'create', path: '/mine', data: bytes('keep'), mode: 'persistent' }]);
    const before = await target.digest();

    const flipped = chunks.map((c) => new Uint8Array(c));
    const victim = flipped[1] as Uint8Array;
    victim[20] = (victim[20] as number) ^ 0xff;
    const variants: [string, Uint8Array[]][] = [
      ['damaged', flipped],
      ['truncated', chunks.slice(0, -1)],
      ['reordered', [chunks[0], chunks[2], chunks[1], ...chunks.slice(3)].filter((c) => c !== undefined)],
      ['empty', []],
    ];
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    for (const [name, variant] of variants) {
      const attempt = target.restoreSnapshot(variant);
      await expect(attempt, name).rejects.toBeInstanceOf(StoreError);
      await expect(target.restoreSnapshot(variant), name).rejects.toMatchObject({ code: 'SNAPSHOT_INVALID' });
    }
    expect(await target.digest()).toBe(before);
    expect(target.get('/mine').ok).toBe(true);
  });
});
