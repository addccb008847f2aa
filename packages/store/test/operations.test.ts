import { assert, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataBytesMax, type Applied, type Command, type Store } from '../src/index.js';
import { bytes, scratchStore } from './support.js';

let store: Store;
let run: (command: Command, timeMs?: number) => Promise<Applied>;
let dispose: () => Promise<void>;

beforeEach(async () => {
  ({ store, run, dispose } = await scratchStore());
});
afterEach(async () => {
  await dispose();
});

const empty = new Uint8Array(0);
const create = (path: string, extra: Partial<Extract<Command, { type: 'create' }>> = {}): Extract<Command, { type: 'create' }> => ({
  type: 'create',
  path,
  data: empty,
  mode: 'persistent',
  ...extra,
});
const errorCode = (a: Applied): string | undefined => (a.result.ok ? undefined : a.result.error.code);
const statOf = (path: string) => {
  const r = store.exists(path);
  if (!r.ok || r.value === null) throw new Error(`no ${path}`);
  return r.value;
};

describe('create', () => {
  it('creates a persistent node whose stat carries the entry revision and time', async () => {
    const applied = await run({ type: 'create', path: '/a', data: bytes('hi'), mode: 'persistent' }, 5_000);
    expect(applied.result).toEqual({
      ok: true,
      value: {
        type: 'create',
        path: '/a',
        stat: {
          czxid: 1, mzxid: 1, pzxid: 1, ctime: 5_000, mtime: 5_000, version: 0, cversion: 0,
          aversion: 0, ephemeralOwner: 0, dataLength: 2, numChildren: 0,
        },
      },
    });
    expect(applied.events).toEqual([
      { revision: 1, path: '/a', kind: 'created' },
      { revision: 1, path: '/', kind: 'childrenChanged' },
    ]);
    const root = statOf('/');
    expect(root).toMatchObject({ numChildren: 1, cversion: 1, pzxid: 1, mzxid: 0 });
    const got = store.get('/a');
    expect(got.ok && Buffer.from(got.value.data).toString()).toBe('hi');
  });

  it('fails NODE_EXISTS on an existing path and on the root', async () => {
    await run(create('/a'));
    expect(errorCode(await run(create('/a')))).toBe('NODE_EXISTS');
    expect(errorCode(await run(create('/')))).toBe('NODE_EXISTS');
  });

  it('fails NO_NODE without a parent unless asked to create parents', async () => {
    const failed = await run(create('/x/y/z'));
    expect(failed.result).toMatchObject({ ok: false, error: { code: 'NO_NODE', path: '/x/y' } });
    expect(failed.events).toEqual([]);
    const made = await run(create('/x/y/z', { createParents: true, data: bytes('leaf') }));
    expect(made.result.ok).toBe(true);
    expect(made.events.map((e) => `${e.kind} ${e.path}`)).toEqual([
      'created /x', 'childrenChanged /', 'created /x/y', 'childrenChanged /x', 'created /x/y/z', 'childrenChanged /x/y',
    ]);
    expect(statOf('/x/y').numChildren).toBe(1);
  });

  it('rejects invalid paths with BAD_ARGUMENTS', async () => {
    for (const path of ['', 'a', '/a/', '//a', '/a//b', '/a/./b', '/a/..', '/a\u0000b', '/a\u0001', '/\ud800', `/${'x'.repeat(5000)}`]) {
      expect(errorCode(await run(create(path))), path).toBe('BAD_ARGUMENTS');
    }
    expect(errorCode(await run(create('/ünïcödé-名前-😀')))).toBeUndefined();
  });

  it('rejects data over the shared limit and accepts data at it', async () => {
    expect(errorCode(await run(create('/big', { data: new Uint8Array(dataBytesMax + 1) })))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run(create('/big', { data: new Uint8Array(dataBytesMax) })))).toBeUndefined();
    expect(statOf('/big').dataLength).toBe(dataBytesMax);
  });

  it('names sequential nodes with a 10-digit count of the children ever created, which a delete does not advance', async () => {
    await run(create('/q'));
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await run(create('/q/job-', { mode: 'persistent-sequential' }));
      if (r.result.ok && r.result.value.type === 'create') names.push(r.result.value.path);
    }
    await run({ type: 'delete', path: '/q/job-0000000001' });
    const after = await run(create('/q/', { mode: 'persistent-sequential' }));
    expect(names).toEqual(['/q/job-0000000000', '/q/job-0000000001', '/q/job-0000000002']);
    expect(after.result.ok && after.result.value.type === 'create' && after.result.value.path).toBe('/q/0000000003');
    expect(statOf('/q')).toMatchObject({ numChildren: 3, cversion: 5 });
  });

  it('numbers sequential children and counts cversion as ZooKeeper 3.8 does', async () => {
    // Replays a session against ZooKeeper 3.8.0; each step lists the suffix ZooKeeper gave and the
    // parent's cversion and numChildren after it. ZooKeeper's cversion counts creates and deletes;
    // its sequential suffix counts creates only.
    const pathOf = (a: Applied, i = 0): string => {
      assert(a.result.ok);
      const v = a.result.value;
      const r = v.type === 'multi' ? v.results[i] : v;
      return r?.type === 'create' ? r.path.slice('/a/'.length) : '';
    };
    const seq = () => run(create('/a/s-', { mode: 'persistent-sequential' }));
    const parentAfter = (cversion: number, numChildren: number, pzxid = store.appliedIndex) =>
      expect(statOf('/a')).toMatchObject({ cversion, numChildren, pzxid });
    await run(create('/a'));
    parentAfter(0, 0);
    expect(pathOf(await seq())).toBe('s-0000000000');
    parentAfter(1, 1);
    expect(pathOf(await seq())).toBe('s-0000000001');
    parentAfter(2, 2);
    await run({ type: 'delete', path: '/a/s-0000000001' });
    parentAfter(3, 1); // the delete advances cversion and pzxid ...
    expect(pathOf(await seq())).toBe('s-0000000002'); // ... but not the suffix
    parentAfter(4, 2);
    await run({ type: 'delete', path: '/a/s-0000000000' });
    parentAfter(5, 1);
    expect(pathOf(await seq())).toBe('s-0000000003');
    parentAfter(6, 2);
    await run(create('/a/plain')); // a plain create advances the suffix
    parentAfter(7, 3);
    expect(pathOf(await seq())).toBe('s-0000000005');
    parentAfter(8, 4);
    const unchanged = store.appliedIndex;
    expect(errorCode(await run(create('/a/plain')))).toBe('NODE_EXISTS');
    await run({ type: 'set', path: '/a/plain', data: bytes('x') });
    parentAfter(8, 4, unchanged);
    const multi = await run({
      type: 'multi',
      ops: [
        { type: 'delete', path: '/a/plain' },
        { type: 'create', path: '/a/s-', data: empty, mode: 'persistent-sequential' },
        { type: 'delete', path: '/a/s-0000000002' },
        { type: 'create', path: '/a/s-', data: empty, mode: 'persistent-sequential' },
        { type: 'create', path: '/a/p2', data: empty, mode: 'persistent' },
        { type: 'create', path: '/a/s-', data: empty, mode: 'persistent-sequential' },
      ],
    });
    expect([1, 3, 5].map((i) => pathOf(multi, i))).toEqual(['s-0000000006', 's-0000000007', 's-0000000009']);
    parentAfter(14, 6);
    const beforeFailed = store.appliedIndex;
    const failed = await run({
      type: 'multi',
      ops: [
        { type: 'create', path: '/a/s-', data: empty, mode: 'persistent-sequential' },
        { type: 'create', path: '/a/nonexist/x', data: empty, mode: 'persistent' },
      ],
    });
    expect(errorCode(failed)).toBe('NO_NODE');
    parentAfter(14, 6, beforeFailed);
    expect(pathOf(await seq())).toBe('s-0000000010');
    parentAfter(15, 7);
    await run({ type: 'sessionOpen', sessionId: 3, timeoutMs: 10_000 });
    expect(pathOf(await run({ ...create('/a/e-', { mode: 'ephemeral-sequential' }), sessionId: 3 }))).toBe('e-0000000011');
    parentAfter(16, 8);
    await run({ type: 'sessionClose', sessionId: 3 }); // the ephemeral's delete, like any other
    parentAfter(17, 7);
    expect(pathOf(await seq())).toBe('s-0000000012');
    parentAfter(18, 8);
  });

  it('refuses children under an ephemeral node', async () => {
    await run({ type: 'sessionOpen', sessionId: 7, timeoutMs: 10_000 });
    await run({ ...create('/e', { mode: 'ephemeral' }), sessionId: 7 });
    expect(statOf('/e').ephemeralOwner).toBe(7);
    expect(errorCode(await run(create('/e/child')))).toBe('NO_CHILDREN_FOR_EPHEMERALS');
    expect(errorCode(await run(create('/e/child/deeper', { createParents: true })))).toBe('NO_CHILDREN_FOR_EPHEMERALS');
  });

  it('requires a live session for ephemerals and for any write on behalf of a session', async () => {
    expect(errorCode(await run(create('/e', { mode: 'ephemeral' })))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run({ ...create('/e', { mode: 'ephemeral-sequential' }), sessionId: 99 }))).toBe('SESSION_EXPIRED');
    expect(errorCode(await run({ type: 'set', path: '/', data: empty, sessionId: 99 }))).toBe('SESSION_EXPIRED');
  });

  it('validates TTLs: required and bounded for TTL modes, refused for others', async () => {
    expect(errorCode(await run(create('/t', { mode: 'ttl' })))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run(create('/t', { mode: 'ttl', ttlMs: 0 })))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run(create('/t', { ttlMs: 5 })))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run(create('/t', { mode: 'ttl', ttlMs: 5 })))).toBeUndefined();
  });

  it('answers a malformed command with BAD_ARGUMENTS instead of throwing', async () => {
    const bogus = { type: 'create', path: 7 } as unknown as Command;
    expect(errorCode(await run(bogus))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run({ type: 'frobnicate' } as unknown as Command))).toBe('BAD_ARGUMENTS');
    expect(store.appliedIndex).toBe(2);
  });
});

describe('set, delete, check', () => {
  it('a node keeps its own copy of its data, not a view into the command that carried it', async () => {
    // A command decoded from a Raft entry carries views into the entry's buffer; a node holding
    // such a view would keep the whole buffer alive and change with it.
    const entryBytes = new Uint8Array([9, 9, 1, 2, 3, 9, 9, 4, 5, 9]);
    await run(create('/a', { data: entryBytes.subarray(2, 5) }));
    await run(create('/b'));
    await run({ type: 'set', path: '/b', data: entryBytes.subarray(7, 9), version: -1 });
    entryBytes.fill(0);
    for (const [path, want] of [['/a', [1, 2, 3]], ['/b', [4, 5]]] as const) {
      const got = store.get(path);
      if (!got.ok) throw new Error(`no ${path}`);
      expect([...got.value.data]).toEqual(want);
      expect(got.value.data.buffer.byteLength).toBe(want.length);
    }
  });

  it('set bumps version, mzxid and mtime, and honours an expected version', async () => {
    await run(create('/a'), 10);
    const ok = await run({ type: 'set', path: '/a', data: bytes('v1'), version: 0 }, 20);
    expect(ok.result).toMatchObject({ ok: true, value: { stat: { version: 1, mzxid: 2, mtime: 20, czxid: 1, ctime: 10, dataLength: 2 } } });
    expect(ok.events).toEqual([{ revision: 2, path: '/a', kind: 'dataChanged' }]);
    expect(errorCode(await run({ type: 'set', path: '/a', data: empty, version: 0 }))).toBe('BAD_VERSION');
    expect(errorCode(await run({ type: 'set', path: '/a', data: empty, version: -1 }))).toBeUndefined();
    expect(errorCode(await run({ type: 'set', path: '/nope', data: empty }))).toBe('NO_NODE');
    expect(errorCode(await run({ type: 'set', path: '/a', data: new Uint8Array(dataBytesMax + 1) }))).toBe('BAD_ARGUMENTS');
  });

  it('delete checks existence, then version, then children', async () => {
    await run(create('/a'));
    await run(create('/a/b'));
    expect(errorCode(await run({ type: 'delete', path: '/zz' }))).toBe('NO_NODE');
    expect(errorCode(await run({ type: 'delete', path: '/a', version: 3 }))).toBe('BAD_VERSION');
    expect(errorCode(await run({ type: 'delete', path: '/a' }))).toBe('NOT_EMPTY');
    expect(errorCode(await run({ type: 'delete', path: '/' }))).toBe('BAD_ARGUMENTS');
    const gone = await run({ type: 'delete', path: '/a/b', version: 0 });
    expect(gone.events).toEqual([
      { revision: 7, path: '/a/b', kind: 'deleted' },
      { revision: 7, path: '/a', kind: 'childrenChanged' },
    ]);
    expect(statOf('/a')).toMatchObject({ numChildren: 0, cversion: 2, pzxid: 7 });
    expect(store.exists('/a/b')).toEqual({ ok: true, value: null });
  });

  it('an expected version below -1 or past any a node has is BAD_VERSION, as in ZooKeeper', async () => {
    await run(create('/a'));
    for (const version of [-2, -(2 ** 31), 2 ** 31 - 1]) {
      expect(errorCode(await run({ type: 'set', path: '/a', data: empty, version }))).toBe('BAD_VERSION');
      expect(errorCode(await run({ type: 'delete', path: '/a', version }))).toBe('BAD_VERSION');
      expect(errorCode(await run({ type: 'check', path: '/a', version }))).toBe('BAD_VERSION');
      expect(errorCode(await run({ type: 'setAcl', path: '/a', acl: [{ scheme: 'world', id: 'anyone', perms: 31 }], version }))).toBe('BAD_VERSION');
    }
    expect(errorCode(await run({ type: 'delete', path: '/missing', version: -2 }))).toBe('NO_NODE');
    expect(statOf('/a')).toMatchObject({ version: 0, aversion: 0 });
  });

  it('check reports NO_NODE and BAD_VERSION and changes nothing', async () => {
    await run(create('/a'));
    expect(errorCode(await run({ type: 'check', path: '/a', version: 0 }))).toBeUndefined();
    expect(errorCode(await run({ type: 'check', path: '/a', version: 1 }))).toBe('BAD_VERSION');
    expect(errorCode(await run({ type: 'check', path: '/b' }))).toBe('NO_NODE');
  });

  it('get of a missing node is NO_NODE and of a bad path BAD_ARGUMENTS', () => {
    expect(store.get('/missing')).toMatchObject({ ok: false, error: { code: 'NO_NODE' } });
    expect(store.get('nope')).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENTS' } });
    expect(store.exists('/a/')).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENTS' } });
  });
});

describe('children', () => {
  it('lists children sorted by code point, with stats, in pages', async () => {
    await run(create('/p'));
    for (const name of ['b', 'a', 'é', 'c', '😀', '\uffe0', 'aa']) await run(create(`/p/${name}`));
    await run(create('/p/a/deep'));
    const all = store.children('/p');
    expect(all.ok && all.value.names).toEqual(['a', 'aa', 'b', 'c', 'é', '\uffe0', '😀']);
    const first = store.children('/p', { limit: 3, withStats: true });
    expect(first).toMatchObject({ ok: true, value: { names: ['a', 'aa', 'b'], next: 'b' } });
    expect(first.ok && first.value.stats?.map((s) => s.numChildren)).toEqual([1, 0, 0]);
    const second = store.children('/p', { limit: 3, after: 'b' });
    expect(second).toEqual({ ok: true, value: { names: ['c', 'é', '\uffe0'], next: '\uffe0' } });
    const last = store.children('/p', { limit: 3, after: '\uffe0' });
    expect(last).toEqual({ ok: true, value: { names: ['😀'] } });
    expect(store.children('/nope')).toMatchObject({ ok: false, error: { code: 'NO_NODE' } });
    expect(store.children('/p', { limit: 0 })).toMatchObject({ ok: false, error: { code: 'BAD_ARGUMENTS' } });
  });
});

describe('multi', () => {
  it('applies all ops atomically and returns per-op results', async () => {
    await run(create('/a'));
    const r = await run({
      type: 'multi',
      ops: [
        { type: 'check', path: '/a', version: 0 },
        { type: 'create', path: '/a/b', data: empty, mode: 'persistent' },
        { type: 'set', path: '/a', data: bytes('x') },
        { type: 'delete', path: '/a/b' },
      ],
    });
    expect(r.result.ok && r.result.value.type === 'multi' && r.result.value.results.map((x) => x.type)).toEqual([
      'check', 'create', 'set', 'delete',
    ]);
    expect(r.events.map((e) => e.kind)).toEqual(['created', 'childrenChanged', 'dataChanged', 'deleted', 'childrenChanged']);
    expect(statOf('/a')).toMatchObject({ version: 1, numChildren: 0, cversion: 2 });
  });

  it('applies nothing when one op fails and names the first failure', async () => {
    await run(create('/a'));
    const before = await store.digest();
    const r = await run({
      type: 'multi',
      ops: [
        { type: 'create', path: '/a/b', data: empty, mode: 'persistent' },
        { type: 'set', path: '/a', data: bytes('x') },
        { type: 'delete', path: '/a', version: 5 },
        { type: 'delete', path: '/missing' },
      ],
    });
    expect(r.result).toMatchObject({ ok: false, error: { code: 'BAD_VERSION', opIndex: 2, path: '/a' } });
    expect(r.events).toEqual([]);
    expect(store.exists('/a/b')).toEqual({ ok: true, value: null });
    expect(statOf('/a').version).toBe(0);
    // Only the applied index moved.
    expect(await store.digest()).not.toBe(before);
    expect(store.appliedIndex).toBe(2);
  });
});

describe('sessions', () => {
  it('close and expire delete every ephemeral of the session in one entry', async () => {
    await run({ type: 'sessionOpen', sessionId: 1, timeoutMs: 5_000 }, 100);
    await run({ type: 'sessionOpen', sessionId: 2, timeoutMs: 5_000 }, 100);
    await run(create('/locks'));
    await run({ ...create('/locks/a', { mode: 'ephemeral' }), sessionId: 1 });
    await run({ ...create('/locks/n-', { mode: 'ephemeral-sequential' }), sessionId: 1 });
    await run({ ...create('/locks/b', { mode: 'ephemeral' }), sessionId: 2 });
    expect(store.session(1)?.ephemerals).toEqual(['/locks/a', '/locks/n-0000000001']);
    const expired = await run({ type: 'sessionExpire', sessionId: 1 });
    expect(expired.result).toEqual({ ok: true, value: { type: 'sessionExpire', sessionId: 1, deleted: ['/locks/a', '/locks/n-0000000001'] } });
    expect(expired.events.filter((e) => e.kind === 'deleted').map((e) => e.path)).toEqual(['/locks/a', '/locks/n-0000000001']);
    expect(store.session(1)).toBeUndefined();
    expect(errorCode(await run({ type: 'sessionExpire', sessionId: 1 }))).toBe('SESSION_EXPIRED');
    const closed = await run({ type: 'sessionClose', sessionId: 2 });
    expect(closed.result).toMatchObject({ ok: true, value: { deleted: ['/locks/b'] } });
    expect(store.children('/locks')).toEqual({ ok: true, value: { names: [] } });
  });

  it('a node deleted and created again in one multi belongs to what the new node is, not the old', async () => {
    await run({ type: 'sessionOpen', sessionId: 1, timeoutMs: 5_000 }, 100);
    await run({ type: 'sessionOpen', sessionId: 2, timeoutMs: 5_000 }, 100);
    // An ephemeral replaced by a persistent node: the session no longer owns it, and its end keeps it.
    await run({ ...create('/e', { mode: 'ephemeral' }), sessionId: 1 });
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/e' }, create('/e')] });
    // A persistent node replaced by an ephemeral one: the session owns it, and its end deletes it.
    await run(create('/p'));
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/p' }, create('/p', { mode: 'ephemeral' })], sessionId: 1 });
    // An ephemeral of one session replaced by an ephemeral of another.
    await run({ ...create('/o', { mode: 'ephemeral' }), sessionId: 1 });
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/o' }, create('/o', { mode: 'ephemeral' })], sessionId: 2 });
    expect(store.session(1)?.ephemerals).toEqual(['/p']);
    expect(store.session(2)?.ephemerals).toEqual(['/o']);
    const closed = await run({ type: 'sessionClose', sessionId: 1 });
    expect(closed.result).toMatchObject({ ok: true, value: { deleted: ['/p'] } });
    expect(statOf('/e').ephemeralOwner).toBe(0);
    expect(statOf('/o').ephemeralOwner).toBe(2);
    // A TTL node replaced by a persistent one is never swept; a persistent one replaced by a TTL node is.
    await run(create('/t', { mode: 'ttl', ttlMs: 1_000 }), 1_000);
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/t' }, create('/t')] }, 1_000);
    await run(create('/u'), 1_000);
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/u' }, create('/u', { mode: 'ttl', ttlMs: 1_000 })] }, 1_000);
    expect(store.sweepCandidates(10_000)).toEqual(['/u']);
  });

  it('records open time, timeout and committed heartbeats; refuses a reused id and a bad timeout', async () => {
    const secret = new Uint8Array([1, 2, 3, 4]);
    await run({ type: 'sessionOpen', sessionId: 3, timeoutMs: 4_000, secret }, 1_000);
    expect(errorCode(await run({ type: 'sessionOpen', sessionId: 3, timeoutMs: 4_000 }))).toBe('BAD_ARGUMENTS');
    expect(errorCode(await run({ type: 'sessionOpen', sessionId: 4, timeoutMs: 0 }))).toBe('BAD_ARGUMENTS');
    const hb = await run({ type: 'sessionHeartbeat', sessionIds: [3, 77] }, 2_500);
    expect(hb.result).toEqual({ ok: true, value: { type: 'sessionHeartbeat', touched: 1 } });
    expect(store.sessions()).toEqual([{ sessionId: 3, timeoutMs: 4_000, openedMs: 1_000, lastSeenMs: 2_500, secret, seqFloor: 0, replies: [], ephemerals: [] }]);
  });
});

describe('containers and TTL nodes', () => {
  it('a container disappears with its last child, cascading through container parents', async () => {
    await run(create('/c', { mode: 'container' }));
    await run(create('/c/inner', { mode: 'container' }));
    await run(create('/c/inner/x'));
    await run(create('/c/inner/y'));
    await run({ type: 'delete', path: '/c/inner/x' });
    expect(statOf('/c/inner').numChildren).toBe(1);
    const last = await run({ type: 'delete', path: '/c/inner/y' });
    expect(last.events.filter((e) => e.kind === 'deleted').map((e) => e.path)).toEqual(['/c/inner/y', '/c/inner', '/c']);
    expect(store.exists('/c')).toEqual({ ok: true, value: null });
  });

  it('a container that never had children stays, and one refilled in the same multi stays', async () => {
    await run(create('/c', { mode: 'container' }));
    await run(create('/c/a'));
    await run({ type: 'multi', ops: [{ type: 'delete', path: '/c/a' }, { type: 'create', path: '/c/b', data: empty, mode: 'persistent' }] });
    expect(store.children('/c')).toEqual({ ok: true, value: { names: ['b'] } });
    await run(create('/fresh', { mode: 'container' }));
    expect(statOf('/fresh').numChildren).toBe(0);
  });

  it('a TTL node is swept only once childless and unmodified for longer than its TTL', async () => {
    await run(create('/t', { mode: 'ttl', ttlMs: 1_000 }), 10_000);
    await run(create('/s-', { mode: 'persistent-sequential-ttl', ttlMs: 5_000 }), 10_000);
    expect(store.sweepCandidates(11_000)).toEqual([]);
    expect(store.sweepCandidates(11_001)).toEqual(['/t']);
    await run({ type: 'set', path: '/t', data: bytes('touch') }, 10_500);
    expect(store.sweepCandidates(11_001)).toEqual([]);
    // A sweep proposed too early (by the leader's clock) is re-checked against the entry time.
    const early = await run({ type: 'sweep', paths: ['/t', '/s-0000000001', '/nope', 'bad'] }, 11_200);
    expect(early.result).toEqual({ ok: true, value: { type: 'sweep', deleted: [] } });
    await run(create('/t/child'), 11_300);
    expect(store.sweepCandidates(20_000)).toEqual(['/s-0000000001']);
    const swept = await run({ type: 'sweep', paths: ['/t', '/s-0000000001'] }, 20_000);
    expect(swept.result).toEqual({ ok: true, value: { type: 'sweep', deleted: ['/s-0000000001'] } });
    expect(swept.events).toEqual([
      { revision: 6, path: '/s-0000000001', kind: 'deleted' },
      { revision: 6, path: '/', kind: 'childrenChanged' },
    ]);
  });
});

describe('apply', () => {
  it('skips entries at or below the applied index and applies the rest in one call', async () => {
    await run(create('/a'));
    const applied = await store.apply([
      { index: 1, timeMs: 1, command: create('/a') },
      { index: 2, timeMs: 2, command: create('/b') },
      { index: 3, timeMs: 3, command: { type: 'noop' } },
    ]);
    expect(applied.map((a) => a.index)).toEqual([2, 3]);
    expect(store.appliedIndex).toBe(3);
    expect(await store.apply([{ index: 3, timeMs: 3, command: create('/c') }])).toEqual([]);
  });

  it('throws on a gap in the indexes, a broken invariant', async () => {
    await expect(async () => store.apply([{ index: 5, timeMs: 1, command: { type: 'noop' } }])).rejects.toThrow(/invariant/);
  });

  it('refuses work after close with STORE_CLOSED, and closing twice is harmless', async () => {
    await store.close();
    await store.close();
    expect(() => store.apply([{ index: 1, timeMs: 1, command: { type: 'noop' } }])).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
    expect(() => store.snapshotStream()).toThrow(expect.objectContaining({ code: 'STORE_CLOSED' }));
  });

  it('keeps memory and the durable image in agreement', async () => {
    await run(create('/a', { data: bytes('x') }));
    await run({ type: 'sessionOpen', sessionId: 1, timeoutMs: 1_000 });
    await store.verify();
    expect(await store.digest()).toBe(store.memoryDigest());
  });
});
