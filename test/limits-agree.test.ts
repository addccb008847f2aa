import { describe, expect, test } from 'vitest';
import * as protocol from '@vigil/protocol';
import { openStore } from '@vigil/store';
import * as store from '@vigil/store';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `@vigil/protocol` may not import `@vigil/store` (layering), so it repeats the store's limits,
 * create modes and Stat fields on purpose. This is what keeps the copies equal: a client must
 * never be told a request is valid that the store then refuses, or the reverse.
 */
describe('the protocol and the store agree', () => {
  test.each(['dataBytesMax', 'pathBytesMax', 'multiOpsMax', 'childrenPageMax', 'ttlMsMax'] as const)('on %s', (name) => {
    expect(protocol[name]).toBe(store[name]);
  });

  test('on the writes a session may have in flight and the replies the store keeps for them', () => {
    // The SDK holds writes back at the protocol's bound; the store's reply table must hold them all.
    expect(protocol.sessionWritesInFlightMax).toBe(store.sessionRepliesMax);
  });

  test('on the create modes', () => {
    expect([...protocol.createModes].sort()).toEqual([...store.createModes].sort());
  });

  test('on the fields of a Stat', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-agree-'));
    const s = await openStore({ path: dir });
    try {
      const [applied] = await s.apply([{ index: 1, timeMs: 0, command: { type: 'create', path: '/a', data: new Uint8Array([1]), mode: 'persistent' } }]);
      expect(applied!.result.ok).toBe(true);
      const got = s.get('/a');
      expect(got.ok).toBe(true);
      if (got.ok) expect(Object.keys(got.value.stat).sort()).toEqual([...protocol.statFields].sort());
    } finally {
      await s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
