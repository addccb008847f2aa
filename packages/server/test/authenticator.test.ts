import { describe, expect, it } from 'vitest';
import type { UserRecord } from '@vigil/store';
import { AuthFailures } from '../src/security/auth-failures.js';
import { Authenticator, type Authenticated, type Identity } from '../src/security/authenticator.js';
import { hashSecret, parseSecretHash, verifySecret } from '../src/security/secret-hash.js';

function identityOf(result: Authenticated): Identity {
  if (!result.ok) throw new Error(`refused: ${result.why}`);
  return result.identity;
}

function table(): { users: Map<string, UserRecord>; store: { user: (name: string) => UserRecord | undefined } } {
  const users = new Map<string, UserRecord>();
  return { users, store: { user: (name) => users.get(name) } };
}

describe('secret hashes', () => {
  it('verify the secret they were made from and nothing else; malformed hashes match nothing', async () => {
    const hash = await hashSecret('s3cret');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/);
    expect(hash).not.toContain('s3cret');
    expect(await verifySecret('s3cret', hash)).toBe(true);
    expect(await verifySecret('s3cret ', hash)).toBe(false);
    expect(await hashSecret('s3cret')).not.toBe(hash); // salted
    expect(await verifySecret('s3cret', 'scrypt$3$8$1$AA==$AA==')).toBe(false);
    expect(parseSecretHash('scrypt$1048576$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==')).toMatch(/more than/);
    expect(parseSecretHash('md5$abc')).toMatch(/not a scrypt/);
  });
});

describe('Authenticator', () => {
  it('knows users by their secret, the superuser by its setting, and refuses the rest with one answer', async () => {
    const { users, store } = table();
    users.set('alice', { name: 'alice', hash: await hashSecret('a'), roles: ['snapshots'] });
    const auth = new Authenticator({ required: true, superuserHash: await hashSecret('root'), store });
    expect(await auth.authenticate({ user: 'alice', secret: 'a' }, null, '10.0.0.1')).toMatchObject({ ok: true, identity: { user: 'alice', superuser: false, roles: ['snapshots'] } });
    expect(await auth.authenticate({ user: 'super', secret: 'root' }, null, '10.0.0.1')).toMatchObject({ ok: true, identity: { user: 'super', superuser: true } });
    expect(await auth.authenticate({ user: 'alice', secret: 'b' }, null, '10.0.0.2')).toEqual({ ok: false, why: 'unknown user or wrong secret' });
    expect(await auth.authenticate({ user: 'bob', secret: 'a' }, null, '10.0.0.2')).toEqual({ ok: false, why: 'unknown user or wrong secret' });
    expect(await auth.authenticate(undefined, null, '10.0.0.2')).toMatchObject({ ok: false, why: expect.stringContaining('requires authentication') });
    expect(await auth.authenticate(undefined, 'alice', '10.0.0.2')).toMatchObject({ ok: true, identity: { user: 'alice', roles: ['snapshots'], by: 'certificate' } });
    expect(auth.caller({ user: 'alice', superuser: false, roles: [], by: 'secret' }, '10.0.0.1')).toEqual({ user: 'alice', address: '10.0.0.1' });
  });

  it('without --auth lets anonymous clients in and stamps no caller', async () => {
    const auth = new Authenticator({ required: false, superuserHash: '', store: table().store });
    const result = await auth.authenticate(undefined, null, '10.0.0.1');
    expect(result).toMatchObject({ ok: true, identity: { superuser: false, by: 'anonymous' } });
    expect(auth.caller(identityOf(result), '10.0.0.1')).toBeUndefined();
    // Nor is there a superuser without its hash.
    expect(await auth.authenticate({ user: 'super', secret: '' }, null, '10.0.0.1')).toMatchObject({ ok: false });
  });

  it('a remembered check stands only while the user keeps its hash; a changed user voids identities proven before', async () => {
    const { users, store } = table();
    users.set('alice', { name: 'alice', hash: await hashSecret('old'), roles: [] });
    const auth = new Authenticator({ required: true, superuserHash: '', store });
    const identity = identityOf(await auth.authenticate({ user: 'alice', secret: 'old' }, null, '10.0.0.1'));
    expect(auth.stillValid(identity)).toBe(true);
    expect((await auth.authenticate({ user: 'alice', secret: 'old' }, null, '10.0.0.1')).ok).toBe(true);
    users.set('alice', { name: 'alice', hash: await hashSecret('new'), roles: [] });
    expect(auth.stillValid(identity)).toBe(false);
    expect(await auth.authenticate({ user: 'alice', secret: 'old' }, null, '10.0.0.1')).toMatchObject({ ok: false });
    expect((await auth.authenticate({ user: 'alice', secret: 'new' }, null, '10.0.0.1')).ok).toBe(true);
    users.set('alice', { ...(users.get('alice') as UserRecord), roles: ['admin'] });
    const withRole = await auth.authenticate({ user: 'alice', secret: 'new' }, null, '10.0.0.1');
    expect(withRole).toMatchObject({ ok: true, identity: { roles: ['admin'] } });
    users.delete('alice');
    expect(auth.stillValid(identityOf(withRole))).toBe(false);
  });

  it('an address past its allowance of failures is refused without a check until a token comes back', async () => {
    let nowMs = 0;
    const failures = new AuthFailures({ burst: 2, refillMs: 1_000, addressesMax: 2 }, () => nowMs);
    const { users, store } = table();
    users.set('alice', { name: 'alice', hash: await hashSecret('a'), roles: [] });
    const auth = new Authenticator({ required: true, superuserHash: '', store, failures });
    for (let i = 0; i < 2; i++) expect(await auth.authenticate({ user: 'alice', secret: 'x' }, null, '1.1.1.1')).toMatchObject({ why: 'unknown user or wrong secret' });
    expect(await auth.authenticate({ user: 'alice', secret: 'a' }, null, '1.1.1.1')).toEqual({ ok: false, why: 'too many failed attempts from 1.1.1.1; try again in 1000 ms' });
    expect((await auth.authenticate({ user: 'alice', secret: 'a' }, null, '2.2.2.2')).ok).toBe(true);
    nowMs = 1_000;
    expect((await auth.authenticate({ user: 'alice', secret: 'a' }, null, '1.1.1.1')).ok).toBe(true);
    // Addresses beyond addressesMax: the one that failed longest ago is forgotten.
    failures.failed('3.3.3.3');
    failures.failed('4.4.4.4');
    failures.failed('4.4.4.4');
    expect(failures.waitMs('1.1.1.1')).toBe(0);
    expect(failures.waitMs('4.4.4.4')).toBe(1_000);
  });
});
