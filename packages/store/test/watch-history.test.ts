import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Entry, type Store } from '../src/index.js';
import { tempDir } from './support.js';
import { watchEventBytes, WatchHistory } from '../src/watch-history.js';
import type { WatchEvent } from '../src/index.js';

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

describe('watch history bounded in bytes', () => {
  const event = (revision: number, path: string): WatchEvent => ({ revision, path, kind: 'created' });

  it('evicts the oldest events once their bytes pass the bound, and raises the floor to the last evicted', () => {
    const e = (revision: number): WatchEvent => event(revision, `/${'x'.repeat(99)}`); // 64 + 200 bytes
    expect(watchEventBytes(e(1))).toBe(264);
    const history = new WatchHistory(1_000, 0, 1_000);
    history.append([e(1), e(2), e(3)]);
    expect(history.size).toEqual({ events: 3, bytes: 792 });
    expect(history.floor).toBe(0);
    history.append([e(4)]);
    expect(history.size).toEqual({ events: 3, bytes: 792 });
    expect(history.floor).toBe(1);
    expect(history.since(0)).toEqual({ compacted: true, floor: 1 });
    expect(history.since(1)).toEqual({ compacted: false, events: [e(2), e(3), e(4)] });
  });

  it('still holds the newest event when it alone is larger than the bound', () => {
    const history = new WatchHistory(1_000, 0, 300);
    history.append([event(1, '/a'), event(2, `/${'y'.repeat(500)}`)]);
    expect(history.size.events).toBe(1);
    expect(history.floor).toBe(1);
    expect(history.since(1)).toEqual({ compacted: false, events: [event(2, `/${'y'.repeat(500)}`)] });
    history.append([event(3, '/b')]);
    expect(history.since(2)).toEqual({ compacted: false, events: [event(3, '/b')] });
    expect(history.size).toEqual({ events: 1, bytes: watchEventBytes(event(3, '/b')) });
  });

  it('a store keeps to its byte bound', async () => {
    const dir = await tempDir();
    const store = await openStore({ path: dir.path, watchHistoryEventsMax: 1_000, watchHistoryBytesMax: 10 * watchEventBytes(event(1, '/n00')) });
    cleanup.push(dir.remove, () => store.close());
    await store.apply(Array.from({ length: 30 }, (_, i) => created(i + 1, `n${String(i).padStart(2, '0')}`)));
    // Each create is two events, the node's (72 bytes) and its parent's children (66 bytes): the
    // 720 bytes hold the last five creates' ten events.
    expect(store.eventsSince(0)).toEqual({ compacted: true, floor: 25 });
    const kept = store.eventsSince(25);
    expect(kept.compacted === false && kept.events.map((x) => `${x.revision} ${x.path}`)).toEqual(
      [26, 27, 28, 29, 30].flatMap((r) => [`${r} /n${r - 1}`, `${r} /`]),
    );
  });
});

describe('watch history by path', () => {
  it("answers a path's events as the whole history filtered to that path would, through eviction and reset", () => {
    const paths = ['/a', '/b', '/a/x', '/hot'];
    for (const [capacity, bytesMax] of [[7, Number.POSITIVE_INFINITY], [50, 2_000], [300, Number.POSITIVE_INFINITY]] as const) {
      const history = new WatchHistory(capacity, 0, bytesMax);
      let seed = capacity;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      let revision = 0;
      for (let round = 0; round < 400; round++) {
        if (round === 250) history.reset(revision);
        revision++;
        // Most events on one hot path, as a set-heavy workload makes them.
        const events: WatchEvent[] = Array.from({ length: 1 + random(3) }, () => ({ revision, path: random(2) === 0 ? '/hot' : (paths[random(paths.length)] as string), kind: 'dataChanged' }));
        history.append(events);
        for (const from of [0, history.floor, revision - 5, revision - 1, revision]) {
          const all = history.since(from);
          for (const path of [...paths, '/never']) {
            const one = history.since(from, path);
            if (all.compacted) expect(one).toEqual(all);
            else expect(one).toEqual({ compacted: false, events: all.events.filter((e) => e.path === path) });
          }
        }
      }
    }
  });
});
