import { describe, expect, it } from 'vitest';
import { DataArena, ownedCopy } from '../src/owned-bytes.js';

describe('copies of node data (decisions 36 and 48)', () => {
  it('ownedCopy gives each copy an ArrayBuffer of its own, whatever the source shares', () => {
    const entry = new Uint8Array([9, 1, 2, 3, 9]);
    const copy = ownedCopy(entry.subarray(1, 4));
    entry.fill(0);
    expect([...copy]).toEqual([1, 2, 3]);
    expect(copy.buffer.byteLength).toBe(3);
  });

  it('a DataArena cuts small copies one after another from a shared slab, each independent of its source', () => {
    const arena = new DataArena();
    const source = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const a = arena.copy(source.subarray(0, 2));
    const b = arena.copy(source.subarray(2, 6));
    source.fill(0);
    expect([...a]).toEqual([1, 2]);
    expect([...b]).toEqual([3, 4, 5, 6]);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 2);
    expect(a.buffer).not.toBe(source.buffer);
  });

  it('a DataArena starts a new slab when one is full, and gives large data a buffer of its own', () => {
    const arena = new DataArena();
    const small = new Uint8Array(4096).fill(7);
    const copies = Array.from({ length: 17 }, () => arena.copy(small));
    expect(new Set(copies.map((c) => c.buffer)).size).toBe(2); // 16 fit in 64 KiB
    expect(copies.every((c) => c.byteLength === 4096 && c[0] === 7 && c[4095] === 7)).toBe(true);
    const large = arena.copy(new Uint8Array(4097));
    expect(large.buffer.byteLength).toBe(4097);
    expect(arena.copy(new Uint8Array(0)).byteLength).toBe(0);
  });
});
