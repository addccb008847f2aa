import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestId, openStore, perms, permsAll, type AclEntryInput, type Applied, type Caller, type Command, type Store } from '../src/index.js';
import { bytes, scratchStore } from './support.js';

// ZooKeeper's ACLs, decided by the state machine: a write is checked at apply against the caller it
// carries; a read is checked against the caller the serving member names. No caller: no check.

let store: Store;
let path: string;
let run: (command: Command, timeMs?: number) => Promise<Applied>;
let dispose: () => Promise<void>;

beforeEach(async () => {
  ({ store, path, run, dispose } = await scratchStore());
});
afterEach(async () => {
  await dispose();
});

const alice: Caller = { user: 'alice', address: '10.1.2.3' };
const bob: Caller = { user: 'bob', address: '192.168.0.9' };
const root: Caller = { user: 'super', address: '127.0.0.1', superuser: true };
const code = (a: Applied): string | undefined => (a.result.ok ? undefined : a.result.error.code);
const userAcl = (user: string, p: number): AclEntryInput[] => [{ scheme: 'user', id: user, perms: p }];

/** /t (ACL `acl`) holding /t/c (open to everyone), made without checks. */
async function tree(acl: readonly AclEntryInput[]): Promise<void> {
  expect(code(await run({ type: 'create', path: '/t', data: bytes('t'), mode: 'persistent', acl }))).toBeUndefined();
  expect(code(await run({ type: 'create', path: '/t/c', data: bytes('c'), mode: 'persistent', acl: [{ scheme: 'world', id: 'anyone', perms: permsAll }] }))).toBeUndefined();
}

/**
 * Every operation and the one permission on /t it needs (ZooKeeper's rules): `attempt` runs it as
 * alice and says whether it was refused NO_AUTH (and, if not, that it did not fail otherwise).
 */
const operations: { name: string; needs: number; attempt: () => Promise<'refused' | 'allowed'> }[] = [
  { name: 'create a child', needs: perms.create, attempt: async () => writeOutcome(await run({ type: 'create', path: '/t/n', data: bytes(''), mode: 'persistent', caller: alice })) },
  { name: 'create a child with createParents', needs: perms.create, attempt: async () => writeOutcome(await run({ type: 'create', path: '/t/x/y', data: bytes(''), mode: 'persistent', createParents: true, caller: alice })) },
  { name: 'delete a child', needs: perms.delete, attempt: async () => writeOutcome(await run({ type: 'delete', path: '/t/c', caller: alice })) },
  { name: 'set', needs: perms.write, attempt: async () => writeOutcome(await run({ type: 'set', path: '/t', data: bytes('v'), caller: alice })) },
  { name: 'setAcl', needs: perms.admin, attempt: async () => writeOutcome(await run({ type: 'setAcl', path: '/t', acl: userAcl('alice', permsAll), caller: alice })) },
  { name: 'check in a multi', needs: perms.read, attempt: async () => writeOutcome(await run({ type: 'multi', ops: [{ type: 'check', path: '/t' }], caller: alice })) },
  { name: 'set in a multi (second op)', needs: perms.write, attempt: async () => writeOutcome(await run({ type: 'multi', ops: [{ type: 'check', path: '/t/c' }, { type: 'set', path: '/t', data: bytes('m') }], caller: alice })) },
  { name: 'create in a multi', needs: perms.create, attempt: async () => writeOutcome(await run({ type: 'multi', ops: [{ type: 'create', path: '/t/m', data: bytes(''), mode: 'persistent' }], caller: alice })) },
  { name: 'get', needs: perms.read, attempt: async () => readOutcome(store.get('/t', alice)) },
  { name: 'children', needs: perms.read, attempt: async () => readOutcome(store.children('/t', {}, alice)) },
  { name: 'getAcl (read)', needs: perms.read, attempt: async () => readOutcome(store.getAcl('/t', alice)) },
];

/** What the operations could change, read without checks. */
function state(): unknown {
  return { t: store.get('/t'), acl: store.getAcl('/t'), children: store.children('/t') };
}

function writeOutcome(a: Applied): 'refused' | 'allowed' {
  if (!a.result.ok && a.result.error.code === 'NO_AUTH') return 'refused';
  expect(a.result).toMatchObject({ ok: true });
  return 'allowed';
}

function readOutcome(r: { ok: boolean; error?: { code: string } }): 'refused' | 'allowed' {
  if (!r.ok && r.error?.code === 'NO_AUTH') return 'refused';
  expect(r.ok).toBe(true);
  return 'allowed';
}

describe('each operation against each permission', () => {
  const singles = [perms.read, perms.write, perms.create, perms.delete, perms.admin];
  for (const op of operations) {
    for (const granted of [0, ...singles, permsAll & ~op.needs, permsAll]) {
      const allowed = (granted & op.needs) === op.needs || (op.name === 'getAcl (read)' && (granted & perms.admin) !== 0);
      it(`${op.name}: ${allowed ? 'allowed' : 'refused'} with perms ${granted}`, async () => {
        await tree(userAcl('alice', granted));
        const before = state();
        const outcome = await op.attempt();
        expect(outcome).toBe(allowed ? 'allowed' : 'refused');
        // A refused write changes nothing.
        if (!allowed) expect(state()).toEqual(before);
      });
    }
  }

  it('exists needs no permission, as in ZooKeeper', async () => {
    await tree(userAcl('bob', permsAll));
    expect(store.exists('/t')).toMatchObject({ ok: true, value: { version: 0 } });
  });
});

describe('schemes and identities', () => {
  it('world:anyone, ip address and subnet, and the superuser', async () => {
    await tree([{ scheme: 'ip', id: '10.0.0.0/8', perms: perms.read }, { scheme: 'ip', id: '192.168.0.9', perms: perms.write }]);
    expect(store.get('/t', alice).ok).toBe(true);
    expect(store.get('/t', bob)).toMatchObject({ ok: false, error: { code: 'NO_AUTH', path: '/t' } });
    expect(code(await run({ type: 'set', path: '/t', data: bytes('b'), caller: bob }))).toBeUndefined();
    expect(code(await run({ type: 'set', path: '/t', data: bytes('a'), caller: alice }))).toBe('NO_AUTH');
    expect(store.get('/t', { address: '::1' })).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
    expect(store.get('/t', root).ok).toBe(true);
    expect(code(await run({ type: 'delete', path: '/t/c', caller: root }))).toBeUndefined();
  });

  it('a node created without an ACL is open without a caller and its creator\'s alone with one', async () => {
    await run({ type: 'create', path: '/open', data: bytes(''), mode: 'persistent' });
    expect(store.getAcl('/open')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'world', id: 'anyone', perms: permsAll }] } });
    await run({ type: 'create', path: '/mine', data: bytes(''), mode: 'persistent', caller: alice });
    expect(store.getAcl('/mine')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'user', id: 'alice', perms: permsAll }] } });
    expect(store.get('/mine', bob)).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
    expect(store.get('/mine', alice).ok).toBe(true);
  });

  it('auth stands for the caller; without one it is INVALID_ACL', async () => {
    const auth: AclEntryInput[] = [{ scheme: 'auth', id: '', perms: perms.read | perms.admin }];
    expect(code(await run({ type: 'create', path: '/a', data: bytes(''), mode: 'persistent', acl: auth, caller: alice }))).toBeUndefined();
    expect(store.getAcl('/a')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'user', id: 'alice', perms: perms.read | perms.admin }] } });
    expect(code(await run({ type: 'create', path: '/b', data: bytes(''), mode: 'persistent', acl: auth }))).toBe('INVALID_ACL');
    expect(code(await run({ type: 'create', path: '/c', data: bytes(''), mode: 'persistent', acl: auth, caller: { address: '10.0.0.1' } }))).toBe('INVALID_ACL');
  });

  it('digest (ZooKeeper\'s): an entry matches a caller that added that name and password, not another password or the user of that name', async () => {
    const id = digestId('zoe', 'secret');
    // base64(sha1("zoe:secret")), computed apart with Python's hashlib.
    expect(id).toBe('zoe:ddaOYmAhaJx64q9aM+MVSP6GxRI=');
    await tree([{ scheme: 'digest', id, perms: perms.read | perms.write }]);
    const zoe: Caller = { address: '10.9.9.9', digests: [digestId('other', 'x'), id] };
    const guess: Caller = { address: '10.9.9.9', digests: [digestId('zoe', 'guess')] };
    expect(store.get('/t', zoe).ok).toBe(true);
    expect(store.get('/t', guess)).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
    expect(store.get('/t', { user: 'zoe', address: '10.9.9.9' })).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
    expect(code(await run({ type: 'set', path: '/t', data: bytes('z'), caller: zoe }))).toBeUndefined();
    expect(code(await run({ type: 'set', path: '/t', data: bytes('g'), caller: guess }))).toBe('NO_AUTH');
    // auth stands for every identity the caller holds: its user and each digest.
    const both: Caller = { user: 'alice', address: '10.1.2.3', digests: [id] };
    expect(code(await run({ type: 'create', path: '/both', data: bytes(''), mode: 'persistent', acl: [{ scheme: 'auth', id: '', perms: perms.read }], caller: both }))).toBeUndefined();
    expect(store.getAcl('/both')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'user', id: 'alice', perms: perms.read }, { scheme: 'digest', id, perms: perms.read }] } });
    expect(code(await run({ type: 'create', path: '/d', data: bytes(''), mode: 'persistent', acl: [{ scheme: 'auth', id: '', perms: permsAll }], caller: zoe }))).toBeUndefined();
    expect(store.getAcl('/d')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'digest', id: digestId('other', 'x') }, { scheme: 'digest', id }] } });
    // A digest id is a name and a base64 sha1; a caller's digests are checked like its other fields.
    expect(code(await run({ type: 'create', path: '/bad', data: bytes(''), mode: 'persistent', acl: [{ scheme: 'digest', id: 'zoe:secret', perms: 1 }] }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ type: 'create', path: '/bad', data: bytes(''), mode: 'persistent', caller: { digests: ['zoe:secret'] } }))).toBe('BAD_ARGUMENTS');
  });

  it('createParents gives the made parents the node\'s ACL and needs create on the deepest existing one', async () => {
    await tree(userAcl('alice', perms.create));
    expect(code(await run({ type: 'create', path: '/t/p/q', data: bytes(''), mode: 'persistent', createParents: true, acl: userAcl('bob', permsAll), caller: alice }))).toBeUndefined();
    expect(store.getAcl('/t/p')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'user', id: 'bob', perms: permsAll }] } });
    expect(code(await run({ type: 'create', path: '/t/p/r/s', data: bytes(''), mode: 'persistent', createParents: true, caller: alice }))).toBe('NO_AUTH');
  });

  it('a refused op in a multi fails the multi at its index and applies none of it', async () => {
    await tree(userAcl('alice', perms.read | perms.create));
    const a = await run({ type: 'multi', ops: [{ type: 'create', path: '/t/ok', data: bytes(''), mode: 'persistent' }, { type: 'delete', path: '/t/c' }], caller: alice });
    expect(a.result).toMatchObject({ ok: false, error: { code: 'NO_AUTH', opIndex: 1, path: '/t' } });
    expect(store.exists('/t/ok')).toMatchObject({ ok: true, value: null });
  });

  it('mayRead: the node, or its nearest existing ancestor once it is gone', async () => {
    await tree(userAcl('alice', perms.read));
    expect(store.mayRead('/t', alice)).toBe(true);
    expect(store.mayRead('/t', bob)).toBe(false);
    expect(store.mayRead('/t/c', bob)).toBe(true);
    expect(store.mayRead('/t/gone/deeper', bob)).toBe(false);
    expect(store.mayRead('/t/gone/deeper', alice)).toBe(true);
    expect(store.mayRead('/t', undefined)).toBe(true);
  });
});

describe('setAcl', () => {
  it('checks the aversion, bumps it, and leaves data and version alone', async () => {
    await tree(userAcl('alice', permsAll));
    const first = await run({ type: 'setAcl', path: '/t', acl: userAcl('alice', perms.admin | perms.read), version: 0, caller: alice });
    expect(first.result).toMatchObject({ ok: true, value: { type: 'setAcl', stat: { aversion: 1, version: 0 } } });
    expect(code(await run({ type: 'setAcl', path: '/t', acl: userAcl('alice', permsAll), version: 0, caller: alice }))).toBe('BAD_VERSION');
    expect(code(await run({ type: 'set', path: '/t', data: bytes('x'), caller: alice }))).toBe('NO_AUTH');
    expect(store.get('/t', alice)).toMatchObject({ ok: true, value: { stat: { aversion: 1, version: 0 } } });
    expect(code(await run({ type: 'setAcl', path: '/nope', acl: userAcl('alice', permsAll), caller: alice }))).toBe('NO_NODE');
    expect(code(await run({ type: 'setAcl', path: '/t', acl: [], caller: alice }))).toBe('BAD_ARGUMENTS');
  });

  it('is exactly-once under a session seq: a resend gets the recorded answer', async () => {
    await run({ type: 'sessionOpen', sessionId: 5, timeoutMs: 10_000 });
    await tree(userAcl('alice', permsAll));
    const command: Command = { type: 'setAcl', path: '/t', acl: userAcl('alice', permsAll), version: 0, sessionId: 5, seq: 1, seqFloor: 1, caller: alice };
    const first = await run(command);
    expect(first.result).toMatchObject({ ok: true, value: { stat: { aversion: 1 } } });
    expect((await run(command)).result).toEqual(first.result);
    expect(store.get('/t')).toMatchObject({ ok: true, value: { stat: { aversion: 1 } } });
  });
});

describe('durability', () => {
  it('ACLs and users survive a reopen and a snapshot, with equal digests; open nodes keep their old record bytes', async () => {
    await run({ type: 'create', path: '/plain', data: bytes('p'), mode: 'persistent' });
    const plainDigest = store.memoryDigest();
    await tree(userAcl('alice', perms.read | perms.admin));
    await run({ type: 'create', path: '/ip', data: bytes('i'), mode: 'persistent', acl: [{ scheme: 'ip', id: 'fe80::/10', perms: perms.read }] });
    await run({ type: 'create', path: '/digest', data: bytes('d'), mode: 'persistent', acl: [{ scheme: 'digest', id: digestId('zoe', 'pw'), perms: perms.read }] });
    expect((await run({ type: 'userPut', name: 'alice', hash: 'scrypt$16384$8$1$c2FsdA==$a2V5a2V5a2V5a2V5a2V5aw==', roles: ['snapshots'] })).result).toMatchObject({ ok: true, value: { created: true } });
    await run({ type: 'userPut', name: 'bob', hash: 'scrypt$16384$8$1$c2FsdA==$Ym9iYm9iYm9iYm9iYm9iYg==', roles: [] });
    expect((await run({ type: 'userPut', name: 'bob', hash: 'scrypt$16384$8$1$c2FsdA==$Ym9iYm9iYm9iYm9iYm9iYw==', roles: ['admin'] })).result).toMatchObject({ ok: true, value: { created: false } });
    await run({ type: 'userPut', name: 'carol', hash: 'scrypt$16384$8$1$c2FsdA==$Y2Fyb2xjYXJvbGNhcm9sYw==', roles: ['users', 'membership'] });
    expect(code(await run({ type: 'userDelete', name: 'carol' }))).toBeUndefined();
    expect(code(await run({ type: 'userDelete', name: 'carol' }))).toBe('NO_USER');
    expect(plainDigest).not.toBe(store.memoryDigest());
    await store.verify();
    const digest = await store.digest();
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.snapshotStream()) chunks.push(chunk);
    await store.close();

    const reopened = await openStore({ path });
    try {
      expect(reopened.memoryDigest()).toBe(digest);
      expect(reopened.getAcl('/t')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'user', id: 'alice', perms: perms.read | perms.admin }] } });
      expect(reopened.getAcl('/ip')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'ip', id: 'fe80::/10', perms: perms.read }] } });
      expect(reopened.getAcl('/digest')).toMatchObject({ ok: true, value: { acl: [{ scheme: 'digest', id: digestId('zoe', 'pw'), perms: perms.read }] } });
      expect(reopened.get('/t', bob)).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
      expect(reopened.user('bob')).toEqual({ name: 'bob', hash: 'scrypt$16384$8$1$c2FsdA==$Ym9iYm9iYm9iYm9iYm9iYw==', roles: ['admin'] });
      expect(reopened.user('carol')).toBeUndefined();
      expect(reopened.users().map((u) => u.name).sort()).toEqual(['alice', 'bob']);
    } finally {
      await reopened.close();
    }

    const { store: other, dispose: disposeOther } = await scratchStore();
    try {
      await other.restoreSnapshot(chunks);
      expect(await other.digest()).toBe(digest);
      expect(other.user('alice')?.roles).toEqual(['snapshots']);
      expect(other.get('/t', bob)).toMatchObject({ ok: false, error: { code: 'NO_AUTH' } });
    } finally {
      await disposeOther();
    }
    // Re-open for afterEach's dispose.
    store = await openStore({ path });
  });

  it('refuses malformed users and callers as BAD_ARGUMENTS on every replica', async () => {
    expect(code(await run({ type: 'userPut', name: 'no spaces', hash: 'x', roles: [] }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ type: 'userPut', name: 'ok', hash: 'x', roles: ['root' as never] }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ type: 'create', path: '/x', data: bytes(''), mode: 'persistent', caller: { user: 'a:b' } }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ type: 'create', path: '/x', data: bytes(''), mode: 'persistent', acl: [{ scheme: 'ip', id: '10.0.0.0/33', perms: 1 }] }))).toBe('BAD_ARGUMENTS');
    expect(code(await run({ type: 'create', path: '/x', data: bytes(''), mode: 'persistent', acl: [{ scheme: 'world', id: 'someone', perms: 1 }] }))).toBe('BAD_ARGUMENTS');
  });
});
