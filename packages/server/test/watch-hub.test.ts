import { describe, expect, it } from 'vitest';
import type { WatchEvent } from '@vigil/store';
import { WatchHub, type Registration, type WatchKind } from '../src/gateway/watch-hub.js';

/** A sink that records (watchId, path, kind) in delivery order. */
function recorder(): { sink: Registration['sink']; got: [number, string, string][] } {
  const got: [number, string, string][] = [];
  return { got, sink: { deliver: (watchId, e) => got.push([watchId, e.path, e.kind]) } };
}

const ev = (revision: number, path: string, kind: WatchEvent['kind']): WatchEvent => ({ revision, path, kind });

describe('watch hub', () => {
  const cases: [WatchKind, WatchEvent['kind'][]][] = [
    ['data', ['dataChanged', 'deleted']],
    ['exists', ['created', 'dataChanged', 'deleted']],
    ['children', ['childrenChanged', 'deleted']],
    ['persistent', ['created', 'deleted', 'dataChanged', 'childrenChanged']],
  ];
  for (const [kind, fires] of cases) {
    it(`a ${kind} watch on /a fires on ${fires.join(', ')} of /a only`, () => {
      const hub = new WatchHub();
      const r = recorder();
      hub.add({ watchId: 1, path: '/a', kind, sink: r.sink });
      const all: WatchEvent['kind'][] = ['created', 'deleted', 'dataChanged', 'childrenChanged'];
      for (const k of all) hub.dispatch([ev(1, '/a/b', k), ev(1, '/ab', k), ev(1, '/', k)]);
      expect(r.got).toEqual([]);
      const oneShot = kind !== 'persistent';
      for (const k of all) hub.dispatch([ev(2, '/a', k)]);
      const inOrder = all.filter((k) => fires.includes(k));
      const expected = oneShot ? inOrder.slice(0, 1) : inOrder;
      expect(r.got.map(([, , k]) => k)).toEqual(expected);
      expect(hub.size).toBe(oneShot ? 0 : 1);
    });
  }

  it('a recursive watch hears created, deleted and dataChanged at and below its root, not beside it', () => {
    const hub = new WatchHub();
    const r = recorder();
    hub.add({ watchId: 7, path: '/a', kind: 'persistentRecursive', sink: r.sink });
    hub.dispatch([
      ev(1, '/a', 'created'),
      ev(1, '/', 'childrenChanged'),
      ev(2, '/a/b/c', 'created'),
      ev(2, '/a/b', 'childrenChanged'),
      ev(3, '/ab', 'created'),
      ev(4, '/a/b', 'dataChanged'),
      ev(5, '/a', 'deleted'),
    ]);
    expect(r.got).toEqual([
      [7, '/a', 'created'],
      [7, '/a/b/c', 'created'],
      [7, '/a/b', 'dataChanged'],
      [7, '/a', 'deleted'],
    ]);
  });

  it('a recursive watch on / hears everything but childrenChanged; removal stops delivery', () => {
    const hub = new WatchHub();
    const r = recorder();
    const reg: Registration = { watchId: 3, path: '/', kind: 'persistentRecursive', sink: r.sink };
    hub.add(reg);
    hub.dispatch([ev(1, '/x', 'created'), ev(1, '/', 'childrenChanged')]);
    hub.remove(reg);
    hub.dispatch([ev(2, '/y', 'created')]);
    expect(r.got).toEqual([[3, '/x', 'created']]);
    expect(hub.size).toBe(0);
  });
});
