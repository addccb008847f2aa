import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import type { Message } from '@vigil/raft';
import {
  decodeHello,
  decodeAfterHandshake,
  decodeWelcome,
  encodePeerFrame,
  messageBytesEstimate,
} from '../src/transport/peer-codec.js';
import { reconnectDelayMs } from '../src/transport/reconnect-backoff.js';

const raw = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false });
const expected = { from: 1, to: 2 };

const every: Message[] = [
  { type: 'vote', from: 1, to: 2, term: 3, lastIndex: 4, lastTerm: 2, transfer: false },
  { type: 'preVote', from: 1, to: 2, term: 3, lastIndex: 4, lastTerm: 2, transfer: true },
  { type: 'voteResp', from: 1, to: 2, term: 3, reject: false },
  { type: 'preVoteResp', from: 1, to: 2, term: 3, reject: true },
  {
    type: 'app', from: 1, to: 2, term: 3, prevIndex: 4, prevTerm: 2, commit: 4,
    entries: [
      { term: 3, index: 5, kind: 'normal', data: new Uint8Array([1, 2, 3]) },
      { term: 3, index: 6, kind: 'noop', data: new Uint8Array(0) },
      { term: 3, index: 7, kind: 'conf', data: new Uint8Array([255]) },
    ],
  },
  { type: 'appResp', from: 1, to: 2, term: 3, index: 7, reject: false, rejectHint: 0, hintTerm: 0 },
  { type: 'heartbeat', from: 1, to: 2, term: 3, commit: 7, readRound: 9 },
  { type: 'heartbeatResp', from: 1, to: 2, term: 3, readRound: 9 },
  {
    type: 'snap', from: 1, to: 2, term: 3, offset: 0, totalBytes: 4, chunk: new Uint8Array([9, 8, 7, 6]),
    meta: { index: 10, term: 3, conf: { voters: [1, 2, 3], learners: [4] } },
  },
  { type: 'snapResp', from: 1, to: 2, term: 3, snapshotIndex: 10, offset: 4 },
  { type: 'timeoutNow', from: 1, to: 2, term: 3 },
  { type: 'readIndex', from: 1, to: 2, term: 3, ctx: 42 },
  { type: 'readIndexResp', from: 1, to: 2, term: 3, ctx: 42, index: 7, reject: false },
];

/** The Raft messages of a frame, or why it is not a valid batch of them. */
function decodeMessages(data: Uint8Array, to: typeof expected): { ok: true; value: readonly Message[] } | { ok: false; reason: string } {
  const decoded = decodeAfterHandshake(data, to);
  if (!decoded.ok) return decoded;
  return decoded.value.kind === 'msgs' ? { ok: true, value: decoded.value.msgs } : { ok: false, reason: 'an rpc frame' };
}

function frameOf(msgs: unknown[]): Uint8Array {
  return raw.pack({ kind: 'msgs', msgs });
}

describe('peer codec', () => {
  it('round-trips every message type with bytes as plain Uint8Array copies', () => {
    const frame = encodePeerFrame({ kind: 'msgs', msgs: every });
    const decoded = decodeMessages(frame, expected);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value).toEqual(every);
    const app = decoded.value[4];
    const snap = decoded.value[8];
    if (app?.type !== 'app' || snap?.type !== 'snap') throw new Error('unexpected order');
    for (const e of app.entries) expect(e.data.constructor).toBe(Uint8Array);
    expect(snap.chunk.constructor).toBe(Uint8Array);
    // A copy: the decoded bytes do not keep the frame alive.
    expect(snap.chunk.buffer.byteLength).toBe(4);
  });

  it('round-trips an rpc payload as a copy, and refuses one whose data is not bytes', () => {
    const payload = new Uint8Array([1, 2, 3]);
    const decoded = decodeAfterHandshake(encodePeerFrame({ kind: 'rpc', data: payload }), expected);
    expect(decoded).toEqual({ ok: true, value: { kind: 'rpc', data: payload } });
    expect(decodeAfterHandshake(raw.pack({ kind: 'rpc', data: 'x' }), expected)).toEqual({ ok: false, reason: 'data is not bytes' });
  });

  it('drops fields that are not part of the message', () => {
    const decoded = decodeMessages(frameOf([{ type: 'timeoutNow', from: 1, to: 2, term: 3, extra: 'x' }]), expected);
    expect(decoded).toEqual({ ok: true, value: [{ type: 'timeoutNow', from: 1, to: 2, term: 3 }] });
  });

  const invalid: [string, unknown, string][] = [
    ['an unknown type', { type: 'nope', from: 1, to: 2, term: 1 }, 'message type is unknown'],
    ['a negative term', { type: 'timeoutNow', from: 1, to: 2, term: -1 }, 'term is not a non-negative safe integer'],
    ['a fractional index', { type: 'readIndexResp', from: 1, to: 2, term: 1, ctx: 1, index: 1.5, reject: false }, 'index is not a non-negative safe integer'],
    ['an unsafe integer', { type: 'heartbeat', from: 1, to: 2, term: 2 ** 60, commit: 0, readRound: 0 }, 'term is not a non-negative safe integer'],
    ['a string for a boolean', { type: 'voteResp', from: 1, to: 2, term: 1, reject: 'no' }, 'reject is not a boolean'],
    ['a missing field', { type: 'heartbeatResp', from: 1, to: 2, term: 1 }, 'readRound is not a non-negative safe integer'],
    ['a string for entry data', { type: 'app', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, kind: 'normal', data: 'x' }] }, 'data is not bytes'],
    ['a bad entry kind', { type: 'app', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ term: 1, index: 1, kind: 'weird', data: new Uint8Array(0) }] }, 'entry kind is invalid'],
    ['entries that are not an array', { type: 'app', from: 1, to: 2, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: {} }, 'entries is not an array'],
    ['a bad voter id', { type: 'snap', from: 1, to: 2, term: 1, offset: 0, totalBytes: 0, chunk: new Uint8Array(0), meta: { index: 1, term: 1, conf: { voters: [0], learners: [] } } }, 'voters holds an invalid node id'],
    ['a forged sender', { type: 'timeoutNow', from: 3, to: 2, term: 1 }, 'message from is not the connected peer'],
    ['another recipient', { type: 'timeoutNow', from: 1, to: 3, term: 1 }, 'message to is not this node'],
    ['a non-map message', [1, 2], 'message is not a map'],
  ];
  for (const [what, message, reason] of invalid) {
    it(`rejects a message with ${what}`, () => {
      expect(decodeMessages(frameOf([message]), expected)).toEqual({ ok: false, reason });
    });
  }

  it('rejects a whole frame when one of its messages is invalid', () => {
    const decoded = decodeMessages(frameOf([every[0], { type: 'timeoutNow', from: 1, to: 2, term: -1 }]), expected);
    expect(decoded.ok).toBe(false);
  });

  it('rejects garbage, truncated data, trailing bytes and wrong frame kinds without throwing', () => {
    const good = encodePeerFrame({ kind: 'msgs', msgs: [] });
    for (const bytes of [
      new Uint8Array([0xc1]),
      good.subarray(0, good.length - 1),
      new Uint8Array([...good, 0x01]),
      raw.pack('msgs'),
      raw.pack({ kind: 'hello' }),
      raw.pack({ kind: 'msgs', msgs: 'x' }),
    ]) {
      expect(decodeMessages(bytes, expected).ok).toBe(false);
    }
  });

  it('decodes a hello and refuses other first frames', () => {
    const hello = encodePeerFrame({ kind: 'hello', version: 1, clusterId: 'c', from: 1, to: 2 });
    expect(decodeHello(hello)).toEqual({ ok: true, value: { kind: 'hello', version: 1, clusterId: 'c', from: 1, to: 2 } });
    expect(decodeHello(encodePeerFrame({ kind: 'welcome' }))).toEqual({ ok: false, reason: 'first frame is not a hello' });
    expect(decodeHello(raw.pack({ kind: 'hello', version: 1, clusterId: 7, from: 1, to: 2 })).ok).toBe(false);
    expect(decodeHello(raw.pack({ kind: 'hello', version: 1, clusterId: 'x'.repeat(1000), from: 1, to: 2 })).ok).toBe(false);
    expect(decodeWelcome(encodePeerFrame({ kind: 'welcome' })).ok).toBe(true);
    expect(decodeWelcome(hello).ok).toBe(false);
  });

  it('estimates at least the encoded size of a message', () => {
    for (const m of every) {
      const alone = encodePeerFrame({ kind: 'msgs', msgs: [m] }).length;
      expect(messageBytesEstimate(m)).toBeGreaterThanOrEqual(alone);
    }
  });
});

describe('reconnect backoff', () => {
  const backoff = { baseMs: 100, maxMs: 5_000 };
  it('doubles the cap per attempt up to the maximum, with full jitter below it', () => {
    const top = (): number => 0.999_999;
    expect(reconnectDelayMs(backoff, 0, top)).toBe(99);
    expect(reconnectDelayMs(backoff, 3, top)).toBe(799);
    expect(reconnectDelayMs(backoff, 10, top)).toBe(4_999);
    expect(reconnectDelayMs(backoff, 1_000, top)).toBe(4_999);
    expect(reconnectDelayMs(backoff, 5, () => 0)).toBe(0);
    expect(reconnectDelayMs(backoff, 5, () => 0.5)).toBe(1_600);
  });
});
