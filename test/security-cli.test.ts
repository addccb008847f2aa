import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { aclPerms, acls, connect, type VigilClient } from '@vigil/client';
import { exitCodes } from '@vigil/cli';
import { TestCluster } from './support/cluster.js';
import { vigil, vigilProcess } from './support/vigil-cli.js';

/**
 * `vigil` and the SDK against a real three-node cluster run with `--auth --superuser-hash` (made
 * by `vigil hash-secret`): users added through the CLI, sessions that say who they are, ACLs set
 * and read, and the refusals a script sees as exit statuses (8 credentials, 9 not permitted).
 */

const superSecret = 'correct horse battery staple';

let cluster: TestCluster;
let endpoints: string[];
let dir: string;
let superFile: string;
let aliceFile: string;
const clients: VigilClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-security-cli-'));
  superFile = join(dir, 'super.secret');
  aliceFile = join(dir, 'alice.secret');
  await writeFile(superFile, `${superSecret}\n`);
  await writeFile(aliceFile, 'alice in wonderland\n');
  await chmod(superFile, 0o600);
  // The hash the members take, made as an operator would: the built binary, the secret on stdin.
  const hashed = await vigilProcess(['hash-secret'], { input: `${superSecret}\n` });
  expect(hashed).toMatchObject({ code: 0, stderr: '' });
  const hash = hashed.stdout.trim();
  expect(hash).toMatch(/^scrypt\$/);
  const basic = `Basic ${Buffer.from(`super:${superSecret}`).toString('base64')}`;
  cluster = await TestCluster.start({ extraArgs: ['--auth', '--superuser-hash', hash], httpHeaders: { authorization: basic } });
  await cluster.leader();
  endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);
});
afterAll(async () => {
  for (const c of clients) await c.close();
  await cluster?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const asSuper = (...argv: string[]) => vigil([...argv, '--user', 'super', '--secret-file', superFile], { endpoints });
const asAlice = (...argv: string[]) => vigil([...argv, '--user', 'alice', '--secret-file', aliceFile], { endpoints });
const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;

describe('vigil against a cluster run with --auth', () => {
  test('user add (secret from a file or stdin) and user list as the superuser, then whoami as the new users (flags, or env for the binary)', async () => {
    expect(await asSuper('user', 'add', 'alice', '--roles', 'snapshots', '--new-secret-file', aliceFile)).toMatchObject({ code: 0, stdout: 'added user alice (roles snapshots)\n' });
    const bobSecret = join(dir, 'bob.secret');
    await writeFile(bobSecret, 'bob builds\n');
    expect(await vigil(['user', 'add', 'bob', '--new-secret-file', '-', '--user', 'super', '--secret-file', superFile], { endpoints, stdin: 'bob builds\n' })).toMatchObject({ code: 0, stdout: 'added user bob (no roles)\n' });

    const listed = await asSuper('user', 'list', '--json');
    expect(listed.code).toBe(0);
    expect(json<{ users: { name: string; roles: string[] }[] }>(listed.stdout).users).toEqual(
      expect.arrayContaining([{ name: 'alice', roles: ['snapshots'] }, { name: 'bob', roles: [] }]),
    );

    const who = await asAlice('whoami', '--json');
    expect(who.code).toBe(0);
    expect(json(who.stdout)).toEqual({ user: 'alice', superuser: false, roles: ['snapshots'], address: '127.0.0.1' });
    // The built binary, with the user and secret from the environment.
    const env = { VIGIL_ENDPOINTS: endpoints.join(','), VIGIL_USER: 'bob', VIGIL_SECRET: 'bob builds' };
    const bob = await vigilProcess(['whoami'], { env });
    expect(bob.code).toBe(0);
    expect(bob.stdout).toMatch(/^user +bob\nsuperuser +no\nroles +\(none\)\naddress +127\.0\.0\.1\n$/);
  });

  test('create --acl, getacl, setacl with the aversion; another user is refused NO_AUTH (exit 9)', async () => {
    expect(await asAlice('create', '/alice', 'mine', '--acl', 'auth::rwcda')).toMatchObject({ code: 0, stdout: 'created /alice\n' });
    expect(await asAlice('getacl', '/alice')).toMatchObject({ code: 0, stdout: 'user:alice:rwcda\naversion 0\n' });

    const bob = (...argv: string[]) => vigilProcess(argv, { env: { VIGIL_ENDPOINTS: endpoints.join(','), VIGIL_USER: 'bob', VIGIL_SECRET: 'bob builds' } });
    const refused = await bob('get', '/alice');
    expect(refused.code).toBe(exitCodes.notPermitted);
    expect(refused.stderr).toMatch(/^vigil: not permitted by the ACL of \/alice: /);

    expect(await asAlice('setacl', '/alice', 'user:alice:rwcda,user:bob:r', '-v', '7')).toMatchObject({ code: exitCodes.badVersion });
    expect(await asAlice('setacl', '/alice', 'user:alice:rwcda,user:bob:r', '-v', '0')).toMatchObject({
      code: 0,
      stdout: 'set the ACL of /alice (aversion 1): user:alice:rwcda,user:bob:r\n',
    });
    expect(await bob('get', '/alice')).toMatchObject({ code: 0, stdout: 'mine\n' });
    expect(await bob('set', '/alice', 'theirs')).toMatchObject({ code: exitCodes.notPermitted });
    expect(await bob('setacl', '/alice', 'world:anyone:rwcda')).toMatchObject({ code: exitCodes.notPermitted });

    const acl = await asAlice('getacl', '/alice', '--json');
    expect(json(acl.stdout)).toMatchObject({
      path: '/alice',
      acl: [{ scheme: 'user', id: 'alice', perms: 31, text: 'user:alice:rwcda' }, { scheme: 'user', id: 'bob', perms: 1, text: 'user:bob:r' }],
      stat: { aversion: 1 },
    });
    // A bad ACL text never reaches the cluster: a usage error naming the entry.
    expect(await asAlice('setacl', '/alice', 'user:bob:rq')).toMatchObject({ code: exitCodes.usage, stderr: 'vigil: invalid ACL: "user:bob:rq": "q" is not a permission (r read, w write, c create, d delete, a admin)\n' });
  });

  test('the shell takes --user and --secret-file for its session', async () => {
    const shell = await vigilProcess(['shell', '--user', 'alice', '--secret-file', aliceFile], {
      env: { VIGIL_ENDPOINTS: endpoints.join(','), VIGIL_HISTORY: '' },
      input: 'whoami --json\ngetacl /alice\nset /alice ours\n',
    });
    expect(shell.code).toBe(0);
    const [identity, ...rest] = shell.stdout.split('\n');
    expect(json(identity ?? '')).toMatchObject({ user: 'alice' });
    expect(rest).toEqual(['user:alice:rwcda', 'user:bob:r', 'aversion 1', 'set /alice (version 1)', '']);
  });

  test('a wrong secret, or no credentials at all, is refused AUTH_FAILED: exit 8 with what to check', async () => {
    const wrong = join(dir, 'wrong.secret');
    await writeFile(wrong, 'not it\n');
    const refused = await vigil(['get', '/', '--user', 'alice', '--secret-file', wrong], { endpoints });
    expect(refused.code).toBe(exitCodes.authFailed);
    expect(refused.stderr).toMatch(/^vigil: authentication failed at .*: as alice: unknown user or wrong secret \(check --user and its secret/);
    const anonymous = await vigil(['ls', '/'], { endpoints });
    expect(anonymous.code).toBe(exitCodes.authFailed);
    expect(anonymous.stderr).toMatch(/no credentials were given and the cluster requires them/);
    // The admin API too: no credentials is 401, a user without the role is 403.
    expect(await vigil(['user', 'list'], { endpoints })).toMatchObject({ code: exitCodes.authFailed });
    const noRole = await asAlice('user', 'list');
    expect(noRole.code).toBe(exitCodes.notPermitted);
    expect(noRole.stderr).toMatch(/NO_AUTH; the user lacks the admin role/);
  });

  test('user remove: the user can no longer authenticate', async () => {
    const carolFile = join(dir, 'carol.secret');
    await writeFile(carolFile, 'carol\n');
    expect(await asSuper('user', 'add', 'carol', '--new-secret-file', carolFile)).toMatchObject({ code: 0 });
    expect(await vigil(['whoami', '--user', 'carol', '--secret-file', carolFile], { endpoints })).toMatchObject({ code: 0 });
    expect(await asSuper('user', 'remove', 'carol')).toMatchObject({ code: 0, stdout: 'removed user carol\n' });
    expect(await vigil(['whoami', '--user', 'carol', '--secret-file', carolFile], { endpoints })).toMatchObject({ code: exitCodes.authFailed });
    expect(await asSuper('user', 'remove', 'carol')).toMatchObject({ code: exitCodes.failure });
  });
});

describe('the SDK against a cluster run with --auth', () => {
  test('connect({ auth }) acts as the user; acls.creatorAll keeps a node to its creator; a wrong secret rejects AUTH_FAILED at once', async () => {
    const alice = await connect({ endpoints, auth: { user: 'alice', secret: 'alice in wonderland' } });
    clients.push(alice);
    expect(await alice.whoami()).toMatchObject({ user: 'alice', superuser: false });
    await alice.create('/sdk', 'x', { acl: acls.creatorAll });
    expect(await alice.getAcl('/sdk')).toMatchObject({ acl: [{ scheme: 'user', id: 'alice', perms: aclPerms.all }], stat: { aversion: 0 } });
    const stat = await alice.setAcl('/sdk', [...acls.readOnly, { scheme: 'user', id: 'alice', perms: aclPerms.all }], { version: 0 });
    expect(stat.aversion).toBe(1);

    const bob = await connect({ endpoints, auth: { user: 'bob', secret: 'bob builds' } });
    clients.push(bob);
    expect(Buffer.from((await bob.get('/sdk')).data).toString()).toBe('x');
    await expect(bob.set('/sdk', 'y')).rejects.toMatchObject({ code: 'NO_AUTH', path: '/sdk' });

    await expect(connect({ endpoints, auth: { user: 'bob', secret: 'wrong' }, connectTimeoutMs: 30_000 })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  test('a client whose user is given another secret is closed AUTH_FAILED at its next call', async () => {
    const daveFile = join(dir, 'dave.secret');
    await writeFile(daveFile, 'dave one\n');
    expect(await asSuper('user', 'add', 'dave', '--new-secret-file', daveFile)).toMatchObject({ code: 0 });
    const dave = await connect({ endpoints, auth: { user: 'dave', secret: 'dave one' } });
    clients.push(dave);
    await dave.sync();
    const closed = new Promise<void>((resolve) => dave.on('state', (s) => s === 'closed' && resolve()));
    await writeFile(daveFile, 'dave two\n');
    expect(await asSuper('user', 'add', 'dave', '--new-secret-file', daveFile)).toMatchObject({ code: 0, stdout: 'updated user dave (no roles)\n' });
    // The change was committed before the CLI returned; once dave's member has applied it (a sync
    // through it waits for that, unless the member has applied it already and refuses the sync),
    // its next request is refused.
    const synced = await dave.sync().then(() => null, (err: unknown) => err);
    if (synced !== null) expect(synced).toMatchObject({ code: 'AUTH_FAILED' });
    await expect(dave.exists('/')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await closed;
    expect(dave.state).toBe('closed');
    await expect(dave.get('/')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});
