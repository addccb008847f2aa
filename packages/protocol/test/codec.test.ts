import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  dataBytesMax,
  decodeClientFrame,
  decodeServerFrame,
  encodeFrame,
  frameBytesMax,
  validateClientFrame,
  validateServerFrame,
  VigilError,
  type ClientFrame,
} from '../src/index.js';
import { clientSamples, plain, serverSamples } from './samples.js';

describe('codec', () => {
  it('round-trips every client frame type', () => {
    for (const frame of clientSamples) {
      const decoded = decodeClientFrame(encodeFrame(frame));
      expect(decoded.ok, JSON.stringify(decoded)).toBe(true);
      if (decoded.ok) expect(plain(decoded.value)).toEqual(plain(frame));
    }
  });

  it('round-trips every server frame type', () => {
    for (const frame of serverSamples) {
      const decoded = decodeServerFrame(encodeFrame(frame));
      expect(decoded.ok, JSON.stringify(decoded)).toBe(true);
      if (decoded.ok) expect(plain(decoded.value)).toEqual(plain(frame));
    }
  });

  it('accepts its own samples through the in-memory validators', () => {
    for (const frame of clientSamples) expect(validateClientFrame(frame).ok).toBe(true);
    for (const frame of serverSamples) expect(validateServerFrame(frame).ok).toBe(true);
  });

  it('does not take client frames for server frames or the reverse', () => {
    for (const frame of clientSamples) expect(decodeServerFrame(encodeFrame(frame)).ok).toBe(false);
    for (const frame of serverSamples) expect(decodeClientFrame(encodeFrame(frame)).ok).toBe(false);
  });

  it('leaves undefined fields out of the bytes and reads nil as absent', () => {
    const withUndefined = { t: 'req', id: 1, op: 'get', path: '/a', watch: undefined } as unknown as ClientFrame;
    expect(Buffer.from(encodeFrame(withUndefined))).toEqual(Buffer.from(encodeFrame({ t: 'req', id: 1, op: 'get', path: '/a' })));
    const withNil = new Packr({ useRecords: false }).pack({ t: 'req', id: 1, op: 'get', path: '/a', watch: null });
    const decoded = decodeClientFrame(withNil);
    expect(decoded.ok && plain(decoded.value)).toEqual({ t: 'req', id: 1, op: 'get', path: '/a' });
  });

  it('drops keys it does not know', () => {
    const bytes = new Packr({ useRecords: false }).pack({ t: 'req', id: 1, op: 'ping', future: [1, 2] });
    const decoded = decodeClientFrame(bytes);
    expect(decoded.ok && decoded.value).toEqual({ t: 'req', id: 1, op: 'ping' });
  });

  it('copies data out of the frame', () => {
    const bytes = encodeFrame({ t: 'req', id: 1, op: 'set', path: '/a', data: new Uint8Array(10) });
    const decoded = decodeClientFrame(bytes);
    if (!decoded.ok || decoded.value.t !== 'req' || decoded.value.op !== 'set') throw new Error('expected a set');
    expect(decoded.value.data.buffer).not.toBe(bytes.buffer);
  });

  it('carries a full-size value in a frame, and refuses to encode a frame past frameBytesMax', () => {
    const big = encodeFrame({ t: 'req', id: 1, op: 'set', path: '/a', data: new Uint8Array(dataBytesMax) });
    expect(big.byteLength).toBeLessThan(frameBytesMax);
    expect(decodeClientFrame(big).ok).toBe(true);
    const ops = [0, 1, 2].map(() => ({ op: 'set' as const, path: '/a', data: new Uint8Array(dataBytesMax) }));
    expect(() => encodeFrame({ t: 'req', id: 1, op: 'multi', ops })).toThrow(VigilError);
    try {
      encodeFrame({ t: 'req', id: 1, op: 'multi', ops });
    } catch (err) {
      expect((err as VigilError).code).toBe('FRAME_TOO_LARGE');
    }
  });

  it('encodes the same frame to the same bytes every time', () => {
    const first = clientSamples.map((f) => Buffer.from(encodeFrame(f)).toString('hex'));
    const again = [...clientSamples].reverse().map((f) => Buffer.from(encodeFrame(f)).toString('hex')).reverse();
    expect(again).toEqual(first);
  });
});
