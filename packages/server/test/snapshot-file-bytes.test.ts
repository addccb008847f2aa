import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotFileBytes } from '../src/storage/snapshot-file-bytes.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-snapshot-bytes-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a snapshot file as Raft reads it', () => {
  // 251 is prime: no range below starts at a multiple of the period, so a read from the wrong offset shows.
  const image = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251);

  it('has the file length and returns the requested ranges as copies of their own', async () => {
    const path = join(dir, 'snap.bin');
    await writeFile(path, image);
    const bytes = SnapshotFileBytes.open(path);
    try {
      expect(bytes.length).toBe(image.length);
      expect(bytes.subarray(0, 10)).toEqual(Buffer.from(image.subarray(0, 10)));
      expect(bytes.subarray(65_536, 100_000)).toEqual(Buffer.from(image.subarray(65_536, 100_000)));
      expect(bytes.subarray(500, 500)).toHaveLength(0);
      const a = bytes.subarray(0, 4);
      a.fill(0);
      expect(bytes.subarray(0, 4)).toEqual(Buffer.from(image.subarray(0, 4)));
    } finally {
      bytes.close();
    }
  });

  it('refuses a range outside the file, and any read after close', async () => {
    const path = join(dir, 'snap.bin');
    await writeFile(path, image);
    const bytes = SnapshotFileBytes.open(path);
    expect(() => bytes.subarray(-1, 3)).toThrow(/range/);
    expect(() => bytes.subarray(5, 4)).toThrow(/range/);
    expect(() => bytes.subarray(99_999, 100_001)).toThrow(/range/);
    bytes.close();
    bytes.close();
    expect(() => bytes.subarray(0, 1)).toThrow(/after close/);
  });

  it('stays readable after a newer snapshot prunes the file', async () => {
    const path = join(dir, 'snap.bin');
    await writeFile(path, image);
    const bytes = SnapshotFileBytes.open(path);
    try {
      await unlink(path);
      expect(bytes.subarray(99_000, 100_000)).toEqual(Buffer.from(image.subarray(99_000, 100_000)));
    } finally {
      bytes.close();
    }
  });

  it('says so when the file is shorter than it was when opened', async () => {
    const path = join(dir, 'snap.bin');
    await writeFile(path, image);
    const bytes = SnapshotFileBytes.open(path);
    try {
      await writeFile(path, image.subarray(0, 1000));
      expect(() => bytes.subarray(0, 2000)).toThrow(/ended at 1000/);
    } finally {
      bytes.close();
    }
  });
});
