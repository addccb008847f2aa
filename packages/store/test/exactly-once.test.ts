import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeCommand, openStore, sessionRepliesMax, StoreError, type Applied, type Command, type Store } from '../src/index.js';
import { decodeSession, encodeSession } from '../src/record-codec.js';
import type { SessionRecord } from '../src/session.js';
import { bytes, scratchStore, tempDir } from './support.js';

// The session's reply table: a write carrying (sessionId, seq) takes effect at most once, and every
// copy of it is answered with the first copy's result (docs/store.md, decision 26).

let store: Store;
let path: string;
let run: (command: Command, timeMs?: number) => Promise<Applied>;
let dispose: () => Promise<void>;

const session = 7;

beforeEach(async () => {
  ({ store, path, run, dispose } = await scratchStore());
  await run({ type: 'sessionOpen', sessionId: session, timeoutMs: 10_000, secret: bytes('s3cret') });
});
afterEach(async () => {
  await dispose();
});

type Write = Extract<Command, { type: 'create' | 'set' | 'delete' | 'multi' }>;
const sequenced = <C extends Write>(command: C, seq: number, seqFloor = seq): C => ({ ...command, sessionId: session, seq, seqFloor });
const create = (p: string): Extract<Command, { type: 'create' }> => ({ type: 'create', path: p, data: bytes('x'), mode: 'persistent' });
const set = (p: string, data: string): Extract<Command, { type: 'set' }> => ({ type: 'set', path: p, data: bytes(data) });
const children = (p: string): readonly string[] => {
  const r = store.children(p);
  return r.ok ? r.value.names : [];
};
const replySeqs = (): number[] => (store.session(session)?.replies ?? []).map((r) => r.seq);
const code = (a: Applied): string | undefined => (a.result.ok ? undefined : a.result.error.code);

describe('a resent write', () => {
  it('gets the recorded result, with no effect and no watch events', async () => {
    await run(create('/q'));
    const first = await run(sequenced(create('/q/a'), 1));
    expect(first.result).toMatchObject({ ok: true, value: { type: 'create', path: '/q/a' } });
    expect(first.events.length).toBeGreaterThan(0);
    const sessionBefore = store.session(session);
    const parentBefore = store.exists('/q');
    const again = await run(sequenced(create('/q/a'), 1));
    expect(again.result).toEqual(first.result);
    expect(again.events).toEqual([]);
    // Only the applied index moved: the tree and the session are as they were.
    expect(children('/q')).toEqual(['a']);
    expect(store.exists('/q')).toEqual(parentBefore);
    expect(store.session(session)).toEqual(sessionBefore);
    await store.verify();
  });

  it('of an unconditional set counts once, and its answer is the stat it made even after later changes', async () => {
    await run(create('/v'));
    const first = await run(sequenced(set('/v', 'one'), 1));
    await run(set('/v', 'by another client'));
    const again = await run(sequenced(set('/v', 'one'), 1));
    expect(again.result).toEqual(first.result);
    expect(again.result).toMatchObject({ ok: true, value: { stat: { version: 1 } } });
    expect(store.exists('/v')).toMatchObject({ ok: true, value: { version: 2 } });
  });

  it('of a write that failed gets the same failure, even once the write would succeed', async () => {
    const failed = await run(sequenced(create('/missing/a'), 1));
    expect(failed.result).toEqual({ ok: false, error: { code: 'NO_NODE', message: 'parent does not exist', path: '/missing' } });
    await run(create('/missing'));
    expect((await run(sequenced(create('/missing/a'), 1))).result).toEqual(failed.result);
    expect(children('/missing')).toEqual([]);

    const multi: Write = { type: 'multi', ops: [create('/m'), { type: 'check', path: '/nope' }] };
    const multiFailed = await run(sequenced(multi, 2));
    expect(multiFailed.result).toMatchObject({ ok: false, error: { code: 'NO_NODE', opIndex: 1 } });
    expect((await run(sequenced(multi, 2))).result).toEqual(multiFailed.result);
    expect(store.exists('/m')).toEqual({ ok: true, value: null });
  });

  it('of a multi gets every op result back', async () => {
    const multi: Write = { type: 'multi', ops: [create('/m'), { ...create('/m/s-'), mode: 'persistent-sequential' }, set('/m', 'y'), { type: 'check', path: '/m' }] };
    const first = await run(sequenced(multi, 1));
    expect(first.result.ok).toBe(true);
    const again = await run(sequenced(multi, 1));
    expect(again.result).toEqual(first.result);
    expect(children('/m')).toEqual(['s-0000000000']);
  });
});

describe('the reply table', () => {
  it('drops the replies below the floor a write presents, and refuses a seq below it', async () => {
    for (let seq = 1; seq <= 5; seq++) await run(sequenced(create(`/n${seq}`), seq, 1));
    expect(replySeqs()).toEqual([1, 2, 3, 4, 5]);
    await run(sequenced(create('/n6'), 6, 4));
    expect(replySeqs()).toEqual([4, 5, 6]);
    expect(store.session(session)?.seqFloor).toBe(4);
    const stale = await run(sequenced(create('/n2-again'), 2, 2));
    expect(code(stale)).toBe('STALE_SEQUENCE');
    expect(store.exists('/n2-again')).toEqual({ ok: true, value: null });
    expect(replySeqs()).toEqual([4, 5, 6]);
    // Still kept at or above the floor.
    expect((await run(sequenced(create('/n5'), 5, 4))).result).toMatchObject({ ok: true, value: { path: '/n5' } });
  });

  it('never applies a seq after a later one took effect: that would break the session order', async () => {
    await run(sequenced(create('/a'), 1));
    // seq 2 never arrived; 3 (sent after it) did.
    await run(sequenced(create('/c'), 3, 2));
    const late = await run(sequenced(create('/b'), 2, 2));
    expect(code(late)).toBe('STALE_SEQUENCE');
    expect(late.events).toEqual([]);
    expect(store.exists('/b')).toEqual({ ok: true, value: null });
    // Refusals are not recorded: the table is unchanged.
    expect(replySeqs()).toEqual([3]);
  });

  it(`holds at most sessionRepliesMax (${sessionRepliesMax}) replies, raising the floor past the ones it drops`, async () => {
    const writes = sessionRepliesMax + 5;
    for (let seq = 1; seq <= writes; seq++) await run(sequenced(create(`/k${seq}`), seq, 1));
    expect(replySeqs()).toHaveLength(sessionRepliesMax);
    expect(replySeqs()[0]).toBe(6);
    expect(store.session(session)?.seqFloor).toBe(6);
    // A dropped reply's write can never be applied again; a kept one is answered.
    expect(code(await run(sequenced(create('/k5'), 5, 1)))).toBe('STALE_SEQUENCE');
    expect((await run(sequenced(create('/k6'), 6, 1))).result).toMatchObject({ ok: true, value: { path: '/k6' } });
    expect(children('/')).toHaveLength(writes);
  });

  it('is left alone by writes without a seq, as before', async () => {
    await run({ ...create('/plain'), sessionId: session });
    expect(store.session(session)).toMatchObject({ seqFloor: 0, replies: [] });
    expect((await run({ ...create('/plain'), sessionId: session })).result).toMatchObject({ ok: false, error: { code: 'NODE_EXISTS' } });
  });

  it('goes away with its session, closed or expired', async () => {
    await run(sequenced(create('/gone'), 1));
    await run({ type: 'sessionClose', sessionId: session });
    expect(store.session(session)).toBeUndefined();
    expect(code(await run(sequenced(create('/gone'), 1)))).toBe('SESSION_EXPIRED');
    // A session opened again under the id starts with an empty table.
    await run({ type: 'sessionOpen', sessionId: session, timeoutMs: 10_000 });
    expect(store.session(session)).toMatchObject({ seqFloor: 0, replies: [] });
    await run(sequenced(create('/x'), 1));
    await run({ type: 'sessionExpire', sessionId: session });
    expect(store.sessions()).toEqual([]);
    await store.verify();
  });

  it('is refused on a write without a session, or with a floor above its seq', async () => {
    expect(code(await run({ ...create('/a'), seq: 1, seqFloor: 1 }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ ...create('/a'), sessionId: session, seq: 1, seqFloor: 2 }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ ...create('/a'), sessionId: session, seq: 1 }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ ...create('/a'), sessionId: session, seq: 0, seqFloor: 0 }))).toBe('BAD_ARGUMENTS');
    expect(() => encodeCommand({ ...create('/a'), sessionId: session, seq: 1.5, seqFloor: 1 })).toThrow(StoreError);
    expect(store.exists('/a')).toEqual({ ok: true, value: null });
  });
});

describe('replicated state', () => {
  const fill = async (): Promise<Applied> => {
    await run(create('/r'));
    await run(sequenced(create('/r/a'), 1));
    await run(sequenced({ type: 'delete', path: '/r/none' }, 2, 1));
    return run(sequenced(set('/r', 'v'), 3, 1));
  };

  it('a snapshot carries the table: the restored store answers a resend with the recorded result', async () => {
    const last = await fill();
    const dir = await tempDir();
    const target = await openStore({ path: dir.path });
    try {
      await target.restoreSnapshot(store.snapshotStream());
      expect(await target.digest()).toBe(await store.digest());
      expect(target.session(session)).toEqual(store.session(session));
      const [again] = await target.apply([{ index: target.appliedIndex + 1, timeMs: 9_999, command: sequenced(set('/r', 'v'), 3, 1) }]);
      expect(again?.result).toEqual(last.result);
      expect(target.exists('/r')).toMatchObject({ ok: true, value: { version: 1 } });
    } finally {
      await target.close();
      await dir.remove();
    }
  });

  it('the durable image carries the table: a reopened store still knows every reply', async () => {
    await fill();
    const replies = store.session(session)?.replies;
    const digest = store.memoryDigest();
    await store.close();
    const reopened = await openStore({ path });
    try {
      expect(reopened.session(session)?.replies).toEqual(replies);
      expect(reopened.memoryDigest()).toBe(digest);
      await reopened.verify();
    } finally {
      await reopened.close();
    }
  });

  it('a record without a table keeps the version 1 bytes; one with a table round-trips exactly', () => {
    const plain: SessionRecord = { sessionId: 3, timeoutMs: 5_000, openedMs: 1, lastSeenMs: 2, secret: bytes('abc'), seqFloor: 0, replies: [] };
    const v1 = encodeSession(plain);
    expect(v1[0]).toBe(1);
    expect(v1.byteLength).toBe(1 + 3 * 8 + 3);
    expect(decodeSession(3, v1)).toEqual(plain);
    const stat = { czxid: 4, mzxid: 5, pzxid: 4, ctime: 1.7e12, mtime: 1.7e12 + 1, version: 1, cversion: 0, aversion: 0, ephemeralOwner: 3, dataLength: 2, numChildren: 0 };
    const withTable: SessionRecord = {
      ...plain,
      seqFloor: 9,
      replies: [
        { seq: 9, result: { ok: true, value: { type: 'create', path: '/é/ü', stat } } },
        { seq: 10, result: { ok: false, error: { code: 'BAD_VERSION', message: 'version mismatch', path: '/a', opIndex: 3 } } },
        { seq: 2 ** 53 - 1, result: { ok: true, value: { type: 'multi', results: [{ type: 'set', stat }, { type: 'delete' }, { type: 'check' }] } } },
      ],
    };
    const v2 = encodeSession(withTable);
    expect(v2[0]).toBe(2);
    expect(decodeSession(3, v2)).toEqual(withTable);
    expect(encodeSession(decodeSession(3, v2)).equals(v2)).toBe(true);
    expect(() => decodeSession(3, v2.subarray(0, v2.byteLength - 1))).toThrow(/invariant/);
  });
});
