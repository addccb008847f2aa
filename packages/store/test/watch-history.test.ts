import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Entry, type Store } from '../src/index.js';
import { tempDir } from './support.js';

const created = (index: number, name: string): Entry => ({
  index,
  timeMs: index,
  command: { type: 'create', path: `/${name}`, data: new Uint8Array(0), mode: 'persistent' },
});

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

const scratch = async (watchHistoryEventsMax: number): Promise<{ store: Store; path: string }> => {
  const dir = await tempDir();
  const store = await openStore({ path: dir.path, watchHistoryEventsMax });
  cleanup.push(dir.remove, () => store.close());
  return { store, path: dir.path };
};

describe('watch history', () => {
  it('hands applied events to onApplied synchronously, before any read could see them', async () => {
    const dir = await tempDir();
    const seen: { indexes: number[]; visible: boolean }[] = [];
    const holder: { store?: Store } = {};
    const store = await openStore({
      path: dir.path,
      onApplied: (applied) => seen.push({ indexes: applied.map((a) => a.index), visible: holder.store?.exists('/a').ok === true }),
    });
    holder.store = store;
    cleanup.push(dir.remove, () => store.close());
    const written = store.apply([created(1, 'a'), created(2, 'b')]);
    expect(seen).toEqual([{ indexes: [1, 2], visible: true }]);
    await written;
    await store.apply([created(2, 'b')]); // a replay below the applied index: nothing new
    expect(seen).toHaveLength(1);
  });

  it('replays every event after a revision, in revision order', async () => {
    const { store } = await scratch(100);
    await store.apply([created(1, 'a'), created(2, 'b'), created(3, 'c')]);
    expect(store.eventsSince(0)).toEqual({
      compacted: false,
      events: [
        { revision: 1, path: '/a', kind: 'created' },
        { revision: 1, path: '/', kind: 'childrenChanged' },
        { revision: 2, path: '/b', kind: 'created' },
        { revision: 2, path: '/', kind: 'childrenChanged' },
        { revision: 3, path: '/c', kind: 'created' },
        { revision: 3, path: '/', kind: 'childrenChanged' },
      ],
    });
    expect(store.eventsSince(2)).toMatchObject({ compacted: false, events: [{ revision: 3 }, { revision: 3 }] });
    expect(store.eventsSince(3)).toEqual({ compacted: false, events: [] });
  });

  it('says compacted below its floor instead of skipping, never returning half an entry', async () => {
    const { store } = await scratch(3);
    await store.apply([created(1, 'a'), created(2, 'b'), created(3, 'c')]);
    // Six events into a ring of three: revision 1 is gone, and one event of revision 2 too.
    expect(store.eventsSince(0)).toEqual({ compacted: true, floor: 2 });
    expect(store.eventsSince(1)).toEqual({ compacted: true, floor: 2 });
    expect(store.eventsSince(2)).toMatchObject({ compacted: false, events: [{ revision: 3 }, { revision: 3 }] });
  });

  it('starts from the applied index after a restart, since history lives in memory', async () => {
    const { store, path } = await scratch(100);
    await store.apply([created(1, 'a'), created(2, 'b')]);
    await store.close();
    const reopened = await openStore({ path, watchHistoryEventsMax: 100 });
    cleanup.push(() => reopened.close());
    expect(reopened.appliedIndex).toBe(2);
    expect(reopened.eventsSince(1)).toEqual({ compacted: true, floor: 2 });
    expect(reopened.eventsSince(2)).toEqual({ compacted: false, events: [] });
    await reopened.apply([created(3, 'c')]);
    expect(reopened.eventsSince(2)).toMatchObject({ compacted: false, events: [{ revision: 3, path: '/c' }, { revision: 3 }] });
  });
});
