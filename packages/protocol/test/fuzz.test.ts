import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { createPrng } from '@vigil/raft';
import { decodeClientFrame, decodeServerFrame, encodeFrame, type Decoded } from '../src/index.js';
import { clientSamples, plain, serverSamples } from './samples.js';

const decodeErrorCodes = new Set(['MALFORMED_FRAME', 'FRAME_TOO_LARGE', 'UNKNOWN_OP', 'BAD_ARGUMENTS']);
const loose = new Packr({ useRecords: false, variableMapSize: true });

const keys = ['t', 'id', 'op', 'path', 'data', 'mode', 'ttlMs', 'version', 'watch', 'ops', 'stat', 'ok', 'revision', 'error', 'code', 'events', 'session', '__proto__', 'constructor'];
const strings = ['req', 'res', 'hello', 'welcome', 'watch', 'create', 'get', 'multi', 'ttl', '/', '/a', '', 'persistent', 'toString'];

/** A random msgpack-able value, biased towards the protocol's own keys and words. */
function randomValue(rand: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const r = rand();
  if (depth > 4 || r < 0.3) {
    return pick<() => unknown>([
      () => null,
      () => rand() < 0.5,
      () => Math.floor(rand() * 2 ** 33) - 2 ** 32,
      () => (rand() - 0.5) * 1e20,
      () => pick(strings),
      () => new Uint8Array(Math.floor(rand() * 20)),
      () => 2 ** 53 + Math.floor(rand() * 1000),
    ])();
  }
  if (r < 0.5) return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth + 1));
  const out: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 8); i > 0; i--) {
    // defineProperty: a plain assignment to __proto__ would set the prototype instead of a key.
    Object.defineProperty(out, pick(keys), { value: randomValue(rand, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function mutate(bytes: Uint8Array, rand: () => number): Uint8Array {
  const b = Uint8Array.from(bytes);
  switch (Math.floor(rand() * 4)) {
    case 0: // flip bits
      for (let i = 1 + Math.floor(rand() * 3); i > 0; i--) b[Math.floor(rand() * b.length)]! ^= 1 << Math.floor(rand() * 8);
      return b;
    case 1: // truncate
      return b.subarray(0, Math.floor(rand() * b.length));
    case 2: // overwrite a byte with an interesting one
      b[Math.floor(rand() * b.length)] = [0xc1, 0xc7, 0xd4, 0xdf, 0xdb, 0xff, 0x00, 0x7f, 0xc0][Math.floor(rand() * 9)]!;
      return b;
    default: { // splice a random run
      const at = Math.floor(rand() * b.length);
      const extra = Uint8Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256));
      return Uint8Array.from([...b.subarray(0, at), ...extra, ...b.subarray(at)]);
    }
  }
}

function checkDecoded(decoded: Decoded<unknown>, encodeAgain: (v: never) => Uint8Array, decodeAgain: (b: Uint8Array) => Decoded<unknown>): void {
  if (decoded.ok) {
    // Whatever passes validation re-encodes to a frame that decodes to the same value.
    const again = decodeAgain(encodeAgain(decoded.value as never));
    expect(again.ok).toBe(true);
    if (again.ok) expect(plain(again.value)).toEqual(plain(decoded.value));
  } else {
    expect(decodeErrorCodes.has(decoded.error.code)).toBe(true);
    // The subset check is complete: msgpackr itself never has to reject what passed it.
    expect(decoded.error.message.startsWith('undecodable')).toBe(false);
  }
}

describe('decoding hostile bytes', () => {
  const seeds = [1, 2, 3];
  const perSeed = 1500;

  it.each(seeds)('never throws on random and mutated frames (seed %i)', (seed) => {
    const seeded = createPrng(seed);
    const rand = (): number => seeded.nextFloat();
    const valid = [...clientSamples, ...serverSamples].map((f) => encodeFrame(f));
    let accepted = 0;
    for (let i = 0; i < perSeed; i++) {
      let bytes: Uint8Array;
      const r = rand();
      if (r < 0.5) bytes = mutate(valid[Math.floor(rand() * valid.length)]!, rand);
      else if (r < 0.8) bytes = loose.pack(randomValue(rand, 0));
      else bytes = Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
      let client: Decoded<unknown> | undefined;
      let server: Decoded<unknown> | undefined;
      expect(() => {
        client = decodeClientFrame(bytes);
        server = decodeServerFrame(bytes);
      }, `seed ${seed} iteration ${i}: ${Buffer.from(bytes).toString('hex')}`).not.toThrow();
      checkDecoded(client!, encodeFrame, decodeClientFrame);
      checkDecoded(server!, encodeFrame, decodeServerFrame);
      if (client!.ok || server!.ok) accepted++;
    }
    // The mutations are not all fatal: some frames still decode, so both paths are exercised.
    expect(accepted).toBeGreaterThan(0);
  });
});
