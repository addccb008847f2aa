import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { SnapshotBytes } from '@vigil/raft';
import { decodeSnapshotEnvelope, decodeSnapshotEnvelopeMembers, encodeSnapshotEnvelope } from '../src/consensus/raft-driver.js';

const members = new Map([[1, { peer: '127.0.0.1:1', client: '127.0.0.1:2' }], [2, { peer: '127.0.0.1:3', client: null }]]);

describe('snapshot envelope', () => {
  it('round-trips members, removed ids and the store chunks, byte for byte', async () => {
    const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(70_000).fill(9)];
    const data = await encodeSnapshotEnvelope(members, new Set([7]), chunks);
    const e = decodeSnapshotEnvelope(data);
    expect(e.members).toEqual([...members]);
    expect(e.removed).toEqual([7]);
    expect(e.store.map((c) => Buffer.from(c).toString('hex'))).toEqual(chunks.map((c) => Buffer.from(c).toString('hex')));
  });

  it('still reads the version 1 layout (one msgpack map)', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });
    const v1 = packr.pack({ v: 1, members: [...members], removed: [], store: [new Uint8Array([5])] });
    const e = decodeSnapshotEnvelope(v1);
    expect(e).toMatchObject({ members: [...members], removed: [] });
    expect(e.store.map((c) => [...c])).toEqual([[5]]);
  });

  it('refuses an envelope whose chunks do not fit', async () => {
    const data = await encodeSnapshotEnvelope(members, new Set(), [new Uint8Array(10)]);
    expect(() => decodeSnapshotEnvelope(data.subarray(0, data.length - 1))).toThrow(/chunk lengths fit/);
  });

  it('gives the members and removed ids from the header alone, reading no chunk', async () => {
    const data = await encodeSnapshotEnvelope(members, new Set([7]), [new Uint8Array(300_000).fill(4)]);
    const read: [number, number][] = [];
    const bytes: SnapshotBytes = { length: data.length, subarray: (start, end) => (read.push([start, end]), data.subarray(start, end)) };
    expect(decodeSnapshotEnvelopeMembers(bytes)).toEqual({ members: [...members], removed: [7] });
    expect(Math.max(...read.map(([, end]) => end))).toBeLessThan(1_000);
  });

  it('reads a version 1 envelope whole for its members', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });
    const v1 = packr.pack({ v: 1, members: [...members], removed: [3], store: [new Uint8Array([5])] });
    expect(decodeSnapshotEnvelopeMembers(v1)).toMatchObject({ members: [...members], removed: [3] });
  });
});
