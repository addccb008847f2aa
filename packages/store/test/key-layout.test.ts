import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import { childrenRange, nodeKey, pathOfNodeKey } from '../src/keys.js';
import { Store, type Command, type Entry } from '../src/index.js';
import { tempDir } from './support.js';

const paths = ['/a', '/a!', '/a!/x', '/a/b', '/a/b/c', '/a/b\u00e9', '/a/c', '/a.b', '/a.b/d', '/ab', '/ab/a', '/a/😀', '/a/\uffe0'];

describe('key layout', () => {
  it('maps every path to a key and back', () => {
    for (const path of ['/', ...paths]) expect(pathOfNodeKey(nodeKey(path))).toBe(path);
  });

  it('makes children(path) a range scan holding exactly the children, in the order children() lists them', async () => {
    const dir = await tempDir();
    const db = new Level<Buffer, Buffer>(dir.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    try {
      const store = await Store.open({ db });
      const entries: Entry[] = paths.map((path, i) => ({
        index: i + 1,
        timeMs: i,
        command: { type: 'create', path, data: new Uint8Array(0), mode: 'persistent' } satisfies Command,
      }));
      await store.apply(entries);
      for (const parent of ['/', '/a', '/a/b', '/a!', '/a.b', '/ab', '/a/c']) {
        const scanned: string[] = [];
        for await (const key of db.keys(childrenRange(parent))) scanned.push(pathOfNodeKey(key));
        const listed = store.children(parent);
        expect(listed.ok).toBe(true);
        const names = listed.ok ? listed.value.names : [];
        expect(scanned, parent).toEqual(names.map((n) => (parent === '/' ? `/${n}` : `${parent}/${n}`)));
      }
      await store.close();
    } finally {
      await db.close();
      await dir.remove();
    }
  });
});
