import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VigilError } from '@vigil/client';
import { basicAuthorization, resolveCredentials } from '../src/commands/credentials.js';
import { parseRoles } from '../src/commands/security-commands.js';
import { exitCodes } from '../src/exit-codes.js';
import { describeFailure } from '../src/failure.js';
import { aclEntryText, parseAclText, parsePerms, permsText } from '../src/format/acl-text.js';
import { runCli } from '../src/program.js';
import type { CliIo } from '../src/cli-io.js';

/** A CliError with this exit code whose message matches. */
function refusal(exitCode: number, message: RegExp): Error {
  return expect.objectContaining({ name: 'CliError', exitCode, message: expect.stringMatching(message) }) as Error;
}

describe('ACL text', () => {
  it('reads comma-separated scheme:id:perms, perms as rwcda letters in any order', () => {
    expect(parseAclText('world:anyone:r,user:alice:rwcda,ip:10.0.0.0/8:r,auth::cdrwa')).toEqual([
      { scheme: 'world', id: 'anyone', perms: 1 },
      { scheme: 'user', id: 'alice', perms: 31 },
      { scheme: 'ip', id: '10.0.0.0/8', perms: 1 },
      { scheme: 'auth', id: '', perms: 31 },
    ]);
    expect(parsePerms('ar', 'x')).toBe(17);
    expect(parsePerms('rr', 'x')).toBe(1);
  });

  it('takes an id with colons whole: an IPv6 address needs no quoting', () => {
    expect(parseAclText('ip:fd00::/8:rw')).toEqual([{ scheme: 'ip', id: 'fd00::/8', perms: 3 }]);
  });

  it('prints perms in rwcda order, - for none, and reads back what it prints', () => {
    expect(permsText(31)).toBe('rwcda');
    expect(permsText(4 | 16)).toBe('ca');
    expect(permsText(0)).toBe('-');
    const acl = [{ scheme: 'user', id: 'bob', perms: 10 }, { scheme: 'ip', id: '::1', perms: 1 }] as const;
    const text = acl.map(aclEntryText).join(',');
    expect(text).toBe('user:bob:wd,ip:::1:r');
    expect(parseAclText(text)).toEqual(acl);
  });

  it.each([
    ['', /empty entry/],
    ['world:anyone:r,', /empty entry/],
    ['world:anyone', /is not scheme:id:perms/],
    ['anyone', /is not scheme:id:perms/],
    ['sasl:bob:x:r', /unknown scheme "sasl" \(schemes: world, user, ip, digest, auth\)/],
    ['world:anyone:rx', /"x" is not a permission/],
    ['world:anyone:', /grants nothing/],
    ['world:bob:r', /world scheme's id is anyone/],
    ['auth:bob:r', /auth scheme has an empty id/],
    ['user::r', /user scheme needs an id/],
    ['ip::r', /ip scheme needs an id/],
    [Array.from({ length: 33 }, (_, i) => `user:u${i}:r`).join(','), /at most 32 entries/],
  ] as const)('refuses %j as a usage error that says what is wrong', (text: string, message: RegExp) => {
    expect(() => parseAclText(text)).toThrow(refusal(exitCodes.usage, message));
  });
});

describe('credentials', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-cli-credentials-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('none without --user or VIGIL_USER (a stray VIGIL_SECRET is ignored)', async () => {
    expect(await resolveCredentials({}, {})).toBeNull();
    expect(await resolveCredentials({}, { VIGIL_SECRET: 's' })).toBeNull();
  });

  it('--user (or VIGIL_USER) with the secret from VIGIL_SECRET', async () => {
    expect(await resolveCredentials({ user: 'alice' }, { VIGIL_SECRET: 'wonderland' })).toEqual({ user: 'alice', secret: 'wonderland' });
    expect(await resolveCredentials({}, { VIGIL_USER: 'bob', VIGIL_SECRET: 'b' })).toEqual({ user: 'bob', secret: 'b' });
    expect(await resolveCredentials({ user: 'carol' }, { VIGIL_USER: 'bob', VIGIL_SECRET: 'c' })).toMatchObject({ user: 'carol' });
  });

  it('--secret-file: the first line, without its line ending, before VIGIL_SECRET', async () => {
    const file = join(dir, 'alice.secret');
    await writeFile(file, 'from the file\r\nsecond line\n');
    expect(await resolveCredentials({ user: 'alice', secretFile: file }, { VIGIL_SECRET: 'env' })).toEqual({ user: 'alice', secret: 'from the file' });
    const bare = join(dir, 'bare.secret');
    await writeFile(bare, 'no newline');
    expect(await resolveCredentials({ user: 'alice', secretFile: bare }, {})).toMatchObject({ secret: 'no newline' });
  });

  it('refuses half-given or unusable credentials as usage errors', async () => {
    await expect(resolveCredentials({ user: 'alice' }, {})).rejects.toEqual(refusal(exitCodes.usage, /--user alice needs a secret: --secret-file <file> or env VIGIL_SECRET/));
    await expect(resolveCredentials({ secretFile: join(dir, 'x') }, {})).rejects.toEqual(refusal(exitCodes.usage, /--secret-file goes with --user/));
    await expect(resolveCredentials({ user: 'alice', secretFile: join(dir, 'missing') }, {})).rejects.toEqual(refusal(exitCodes.usage, /no such file/));
    const empty = join(dir, 'empty.secret');
    await writeFile(empty, '\nsecret on the second line\n');
    await expect(resolveCredentials({ user: 'alice', secretFile: empty }, {})).rejects.toEqual(refusal(exitCodes.usage, /first line \(the secret\) is empty/));
    const long = join(dir, 'long.secret');
    await writeFile(long, `${'x'.repeat(2000)}\n`);
    await expect(resolveCredentials({ user: 'alice', secretFile: long }, {})).rejects.toEqual(refusal(exitCodes.usage, /longer than 1024 bytes/));
    await expect(resolveCredentials({ user: 'u'.repeat(65) }, { VIGIL_SECRET: 's' })).rejects.toEqual(refusal(exitCodes.usage, /at most 64 bytes/));
  });

  it('HTTP Basic of user:secret in base64', () => {
    expect(basicAuthorization({ user: 'alice', secret: 'open sesame' })).toBe(`Basic ${Buffer.from('alice:open sesame').toString('base64')}`);
  });

  it('roles: a comma-separated list of the admin API\'s roles', () => {
    expect(parseRoles(undefined)).toEqual([]);
    expect(parseRoles('admin,users,admin')).toEqual(['admin', 'users']);
    expect(() => parseRoles('admin,root')).toThrow(refusal(exitCodes.usage, /unknown role "root" \(roles: admin, membership, leadership, snapshots, users\)/));
  });
});

describe('security failures', () => {
  it('AUTH_FAILED exits 8, NO_AUTH 9, INVALID_ACL 2, each with a line that says what to do', () => {
    expect(describeFailure(new VigilError('AUTH_FAILED', 'wrong secret'))).toMatchObject({ exitCode: exitCodes.authFailed, code: 'AUTH_FAILED', message: expect.stringMatching(/^authentication failed: wrong secret \(check --user/) });
    expect(describeFailure(new VigilError('NO_AUTH', 'not authorised to read /a', { path: '/a' }))).toMatchObject({ exitCode: exitCodes.notPermitted, path: '/a', message: 'not permitted by the ACL of /a: not authorised to read /a' });
    expect(describeFailure(new VigilError('INVALID_ACL', 'auth without an authenticated identity'))).toMatchObject({ exitCode: exitCodes.usage, message: 'invalid ACL: auth without an authenticated identity' });
    expect([exitCodes.authFailed, exitCodes.notPermitted]).toEqual([8, 9]);
  });
});

/** The CLI in-process, its output captured; nothing listens at the endpoint it is given. */
function cli(env: Record<string, string> = {}, stdin?: string): { io: CliIo; out: () => string; err: () => string } {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env,
    runServer: async () => 0,
    ...(stdin === undefined
      ? {}
      : { streams: { stdin: Readable.from([Buffer.from(stdin)]), stdout: process.stdout, stderr: process.stderr } as unknown as NonNullable<CliIo['streams']> }),
  };
  return { io, out: () => stdout, err: () => stderr };
}

describe('vigil security commands: argument handling', () => {
  const nowhere = ['--endpoints', '127.0.0.1:1', '--timeout-ms', '200'];

  it.each([
    [['setacl', '/a', 'world:anyone:rx'], /invalid ACL: "world:anyone:rx": "x" is not a permission/],
    [['create', '/a', '--acl', 'sasl:x:r'], /invalid ACL: .*unknown scheme "sasl"/],
    [['get', '/a', '--user', 'alice'], /--user alice needs a secret/],
    [['user', 'add', 'bob'], /user add needs the new user's secret: --new-secret-file <file>/],
    [['user', 'add', 'bob', '--roles', 'root', '--new-secret-file', '/dev/null'], /unknown role "root"/],
  ] as const)('`vigil %s` is a usage error (exit 2) before anything is sent', async (args: readonly string[], message: RegExp) => {
    const t = cli();
    expect(await runCli([...args, ...nowhere], t.io)).toBe(exitCodes.usage);
    expect(t.err()).toMatch(message);
    expect(t.err()).not.toMatch(/cannot reach|cannot connect/);
  });

  it('hash-secret prints a hash of the first line of standard input that verifies against it', async () => {
    const t = cli({}, 'correct horse\nignored\n');
    expect(await runCli(['hash-secret'], t.io)).toBe(0);
    const hash = t.out().trim();
    expect(hash).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const { verifySecret } = await import('@vigil/server');
    expect(await verifySecret('correct horse', hash)).toBe(true);
    expect(await verifySecret('correct horse\n', hash)).toBe(false);
  });

  it('hash-secret of empty input is a usage error', async () => {
    const t = cli({}, '\n');
    expect(await runCli(['hash-secret'], t.io)).toBe(exitCodes.usage);
    expect(t.err()).toMatch(/empty/);
  });
});

describe('vigil admin commands over HTTP with --user', () => {
  let server: Server;
  let endpoint: string;
  const seen: { method: string; url: string; authorization: string | undefined; body: string }[] = [];
  /** What /admin/users answers: 200, or the refusal of a server run with --auth. */
  let refuse: 401 | 403 | null = null;
  const status = { id: 1, role: 'leader', term: 1, leaderId: 1, members: [] };

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
        const json = (code: number, value: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
        if (req.url === '/status' && refuse !== 401) return json(200, status);
        if (refuse === 401) return json(401, { error: { code: 'AUTH_FAILED', message: 'unknown user or wrong secret' } });
        if (refuse === 403) return json(403, { error: { code: 'NO_AUTH', message: 'the users role is needed' } });
        if (req.method === 'PUT') return json(200, { name: 'bob', created: true });
        if (req.method === 'DELETE') return json(200, {});
        return json(200, { users: [{ name: 'alice', roles: ['admin'] }, { name: 'bob', roles: [] }] });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const alice = (): Record<string, string> => ({ VIGIL_SECRET: 'wonderland' });
  const authorization = `Basic ${Buffer.from('alice:wonderland').toString('base64')}`;

  it('user add PUTs the secret (from --new-secret-file, - for stdin) and roles to the leader, with HTTP Basic auth', async () => {
    seen.length = 0;
    refuse = null;
    const t = cli(alice(), 'builder\n');
    expect(await runCli(['user', 'add', 'bob', '--roles', 'snapshots,users', '--new-secret-file', '-', '--user', 'alice', '--endpoints', endpoint], t.io)).toBe(0);
    expect(t.out()).toBe('added user bob (roles snapshots, users)\n');
    const put = seen.find((r) => r.method === 'PUT');
    expect(put).toMatchObject({ url: '/admin/users/bob', authorization });
    expect(JSON.parse(put?.body ?? '')).toEqual({ secret: 'builder', roles: ['snapshots', 'users'] });
    expect(seen.every((r) => r.authorization === authorization)).toBe(true);
  });

  it('user list and user remove', async () => {
    refuse = null;
    const list = cli(alice());
    expect(await runCli(['user', 'list', '--user', 'alice', '--endpoints', endpoint], list.io)).toBe(0);
    expect(list.out().split('\n').map((l) => l.trim().split(/\s+/))).toEqual([['NAME', 'ROLES'], ['alice', 'admin'], ['bob', '-'], ['']]);
    const remove = cli(alice());
    expect(await runCli(['user', 'remove', 'bob', '--user', 'alice', '--endpoints', endpoint, '--json'], remove.io)).toBe(0);
    expect(JSON.parse(remove.out())).toEqual({ name: 'bob', removed: true });
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', url: '/admin/users/bob', authorization });
  });

  it('without --user no Authorization is sent, and a 401 exits 8 naming what to check', async () => {
    seen.length = 0;
    refuse = 401;
    const t = cli();
    expect(await runCli(['user', 'list', '--endpoints', endpoint], t.io)).toBe(exitCodes.authFailed);
    expect(t.err()).toMatch(/unknown user or wrong secret \(AUTH_FAILED; check --user and its secret/);
    expect(seen.every((r) => r.authorization === undefined)).toBe(true);
  });

  it('a /status refused 401 is the caller\'s failure (exit 8), not a member down (7)', async () => {
    refuse = 401;
    const t = cli();
    expect(await runCli(['status', '--endpoints', endpoint], t.io)).toBe(exitCodes.authFailed);
    expect(t.err()).toMatch(/AUTH_FAILED; check --user/);
  });

  it('a 403 (the user lacks the role) exits 9', async () => {
    refuse = 403;
    const t = cli(alice());
    expect(await runCli(['user', 'list', '--user', 'alice', '--endpoints', endpoint, '--json'], t.io)).toBe(exitCodes.notPermitted);
    expect(JSON.parse(t.err())).toMatchObject({ error: { code: 'NO_AUTH', exitCode: 9 } });
  });
});

