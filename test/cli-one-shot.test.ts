import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { exitCodes } from '@vigil/cli';
import { freePort, TestCluster, waitFor } from './support/cluster.js';
import { FakeInterrupts, vigil, vigilProcess } from './support/vigil-cli.js';

/**
 * `vigil <command>` for scripts, against a real three-node cluster: text and `--json` output,
 * the exit status of every documented outcome, data from files and stdin, Ctrl-C, the admin
 * commands. Most runs are in-process (runCli, what bin/vigil.js calls); a few are the binary.
 */

let cluster: TestCluster;
let endpoints: string[];
let client: VigilClient;
let dir: string;

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
  endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);
  client = await connect({ endpoints });
  dir = await mkdtemp(join(tmpdir(), 'vigil-cli-'));
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

const run = (...argv: string[]) => vigil(argv, { endpoints });
const json = <T = Record<string, unknown>>(text: string): T => JSON.parse(text) as T;

describe('znode commands', () => {
  test('create, get, set, stat, exists, delete: text output and exit status of each outcome', async () => {
    expect(await run('create', '/one/a', 'hello', '-p')).toMatchObject({ code: 0, stdout: 'created /one/a\n' });
    expect(await run('create', '/one/a', 'again')).toMatchObject({ code: exitCodes.nodeExists, stdout: '', stderr: 'vigil: node already exists: /one/a\n' });
    expect(await run('get', '/one/a')).toMatchObject({ code: 0, stdout: 'hello\n' });
    expect(await run('get', '/one/nope')).toMatchObject({ code: exitCodes.noNode, stderr: 'vigil: no such node: /one/nope\n' });
    expect(await run('set', '/one/a', 'v2', '-v', '7')).toMatchObject({ code: exitCodes.badVersion, stderr: 'vigil: version mismatch: /one/a is not at the expected version\n' });
    expect(await run('set', '/one/a', 'v2', '-v', '0')).toMatchObject({ code: 0, stdout: 'set /one/a (version 1)\n' });
    expect(await run('delete', '/one')).toMatchObject({ code: exitCodes.notEmpty, stderr: 'vigil: node has children: /one (deleteall removes a subtree)\n' });
    expect(await run('exists', '/one/a')).toMatchObject({ code: 0, stdout: '/one/a exists\n' });
    expect(await run('exists', '/one/b')).toMatchObject({ code: exitCodes.noNode, stdout: '/one/b does not exist\n', stderr: '' });

    const stat = await run('stat', '/one/a');
    expect(stat.code).toBe(0);
    expect(stat.stdout).toMatch(/^czxid += \d+\nctime += \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
    expect(stat.stdout).toContain('version        = 1\n');
    expect(stat.stdout).toContain('dataLength     = 2\n');
    const withStat = await run('get', '-s', '/one/a');
    expect(withStat.stdout.startsWith('v2\n\nczxid')).toBe(true);

    expect(await run('delete', '/one/a', '-v', '0')).toMatchObject({ code: exitCodes.badVersion });
    expect(await run('delete', '/one/a')).toMatchObject({ code: 0, stdout: 'deleted /one/a\n' });
    expect(await client.exists('/one/a')).toBeNull();
  });

  test('usage errors exit 2 with one line, never a stack trace', async () => {
    const missing = await run('get');
    expect(missing.code).toBe(exitCodes.usage);
    expect(missing.stderr).toMatch(/^vigil: missing required argument 'path'\n\(vigil help get shows its usage\)\n$/);
    expect((await run('get', '/x', '--bogus')).code).toBe(exitCodes.usage);
    expect((await run('set', '/x', 'y', '-v', 'seven')).code).toBe(exitCodes.usage);
    expect((await run('nonsense')).code).toBe(exitCodes.usage);
    const relative = await run('get', 'no/slash');
    expect(relative.code).toBe(exitCodes.usage);
    expect(relative.stderr.split('\n')).toHaveLength(2);
    expect(relative.stderr).toMatch(/^vigil: invalid argument: /);
    expect((await run('create', '/x', '-e', '-t', '100')).stderr).toBe('vigil: -e (ephemeral) and -t (TTL) exclude each other\n');
    expect((await run('set', '/x', '@' + join(dir, 'missing.json'))).stderr).toBe(`vigil: no such file: ${join(dir, 'missing.json')}\n`);
  });

  test('an unreachable cluster exits 7, within the timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const result = await vigil(['get', '/x', '--timeout-ms', '300'], { endpoints: [`127.0.0.1:${port}`] });
    expect(result.code).toBe(exitCodes.unavailable);
    expect(result.stderr).toMatch(new RegExp(`^vigil: cannot connect to 127\\.0\\.0\\.1:${port}: `));
    expect(Date.now() - started).toBeLessThan(5_000);
    const status = await vigil(['status', '--timeout-ms', '300'], { endpoints: [`127.0.0.1:${port}`] });
    expect(status.code).toBe(exitCodes.unavailable);
    expect(status.stdout).toContain('unreachable');
  });

  test('--json: one JSON document per line, errors as JSON on stderr', async () => {
    const created = json<{ path: string; stat: { version: number } }>((await run('create', '/js/job-', 'a', '-s', '-p', '--json')).stdout);
    expect(created.path).toMatch(/^\/js\/job-\d{10}$/);
    expect(created.stat.version).toBe(0);
    await run('create', '/js/text', '{"k":1}');
    const got = json((await run('get', '/js/text', '--json')).stdout);
    expect(got).toMatchObject({ path: '/js/text', data: '{"k":1}', encoding: 'utf8', stat: { version: 0, dataLength: 7 } });
    expect(json((await run('ls', '/js', '--json')).stdout)).toEqual({ path: '/js', children: [created.path.slice(4), 'text'] });
    const listed = json<{ children: { name: string; stat: { numChildren: number } }[] }>((await run('ls', '-s', '/js', '--json')).stdout);
    expect(listed.children.map((c) => c.name)).toEqual([created.path.slice(4), 'text']);
    expect(json((await run('exists', '/js/none', '--json')).stdout)).toEqual({ path: '/js/none', exists: false });
    expect(json((await run('set', '/js/text', 'x', '--json')).stdout)).toMatchObject({ path: '/js/text', stat: { version: 1 } });

    const failed = await run('get', '/js/none', '--json');
    expect(failed.code).toBe(exitCodes.noNode);
    expect(failed.stdout).toBe('');
    expect(json(failed.stderr)).toEqual({ error: { code: 'NO_NODE', message: 'no such node: /js/none', path: '/js/none', exitCode: 3 } });

    expect(json((await run('session', '--json')).stdout)).toMatchObject({ state: 'connected', sessionTimeoutMs: 10_000 });
    expect(json<{ serverId: number }>((await run('sync', '--json')).stdout).serverId).toBeGreaterThan(0);
  });

  test('data from a file, from stdin and as @@text; binary data shows as hex, --raw gives the bytes', async () => {
    const binary = Buffer.from([0, 1, 2, 0x62, 0x69, 0x6e, 0xff, 0x0a]);
    const file = join(dir, 'blob.bin');
    await writeFile(file, binary);
    expect((await run('create', '/data/blob', `@${file}`, '-p')).code).toBe(0);
    expect(Buffer.from((await client.get('/data/blob')).data)).toEqual(binary);
    expect((await run('get', '/data/blob')).stdout).toBe(`00000000  ${'00 01 02 62 69 6e ff 0a'.padEnd(48)} |...bin..|\n`);
    expect((await run('get', '--raw', '/data/blob')).bytes).toEqual(binary);
    expect(json((await run('get', '/data/blob', '--json')).stdout)).toMatchObject({ encoding: 'base64', data: binary.toString('base64') });

    expect((await vigil(['set', '/data/blob', '-'], { endpoints, stdin: 'from stdin\n' })).code).toBe(0);
    expect(new TextDecoder().decode((await client.get('/data/blob')).data)).toBe('from stdin\n');
    expect((await run('set', '/data/blob', '@@handle')).code).toBe(0);
    expect((await run('get', '/data/blob')).stdout).toBe('@handle\n');
    const tooBig = await vigil(['set', '/data/blob', '-'], { endpoints, stdin: Buffer.alloc(1024 * 1024 + 1) });
    expect(tooBig).toMatchObject({ code: exitCodes.usage, stderr: 'vigil: data is over 1.0 MiB, the most a znode holds\n' });
  });

  test('ls -R, tree and deleteall walk a subtree', async () => {
    await run('create', '/tr/a/x', '1', '-p');
    await run('create', '/tr/a/y', '2');
    await run('create', '/tr/b', '3');
    expect((await run('ls', '-R', '/tr')).stdout).toBe('/tr\n/tr/a\n/tr/a/x\n/tr/a/y\n/tr/b\n');
    expect((await run('tree', '/tr')).stdout).toBe('/tr\n├── a\n│   ├── x\n│   └── y\n└── b\n');
    expect((await run('tree', '/tr', '--depth', '1')).stdout).toBe('/tr\n├── a (2 more below)\n└── b\n');
    const tree = json<{ children: { name: string; children: unknown[] }[] }>((await run('tree', '/tr', '--json')).stdout);
    expect(tree.children.map((c) => [c.name, c.children.length])).toEqual([['a', 2], ['b', 0]]);
    expect(await run('deleteall', '/tr')).toMatchObject({ code: 0, stdout: 'deleted 5 nodes\n' });
    expect(await client.exists('/tr')).toBeNull();
  });

  test('watch prints the events another client causes, until --count or Ctrl-C', async () => {
    await client.create('/w', 'v0');
    let seen = '';
    const watching = vigil(['watch', '/w', '--count', '2'], { endpoints, onOutput: (_out, err) => (seen = err) });
    await waitFor('the watch to be registered', () => (seen.includes('watching /w') ? true : undefined));
    await client.set('/w', 'v1');
    await client.create('/w/child');
    const result = await watching;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^dataChanged \/w \(revision \d+\)\nchildrenChanged \/w \(revision \d+\)\n$/);

    const interrupts = new FakeInterrupts();
    let ready = '';
    let events = '';
    const streaming = vigil(['watch', '-R', '/w', '--json'], { endpoints, interrupts, onOutput: (out, err) => ((ready = err), (events = out)) });
    await waitFor('the recursive watch', () => (ready.includes('watching /w and every node below') ? true : undefined));
    await client.set('/w/child', 'x');
    await waitFor('the event', () => (events.includes('\n') ? true : undefined));
    interrupts.interrupt();
    const streamed = await streaming;
    // Ctrl-C is how a watch ends: status 0.
    expect(streamed.code).toBe(0);
    expect(json(streamed.stdout.trim())).toMatchObject({ kind: 'dataChanged', path: '/w/child' });
  });

  test('get -w waits for the change; Ctrl-C before it exits 130', async () => {
    await client.create('/gw', 'before');
    let seen = '';
    const waiting = vigil(['get', '-w', '/gw'], { endpoints, onOutput: (_o, err) => (seen = err) });
    await waitFor('the one-shot watch', () => (seen.includes('watching /gw once') ? true : undefined));
    await client.set('/gw', 'after');
    const result = await waiting;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^before\nevent: dataChanged \/gw \(revision \d+\)\n$/);

    const interrupts = new FakeInterrupts();
    let armed = '';
    const cancelled = vigil(['get', '-w', '/gw'], { endpoints, interrupts, onOutput: (_o, err) => (armed = err) });
    await waitFor('the second one-shot watch', () => (armed.includes('watching /gw once') ? true : undefined));
    interrupts.interrupt();
    expect(await cancelled).toMatchObject({ code: exitCodes.interrupted, stderr: 'watching /gw once; Ctrl-C stops\nvigil: cancelled\n' });
  });
});

describe('cluster and admin commands', () => {
  test('cluster and status show every member; member list and leader transfer go to the leader', async () => {
    const view = json<{ leaderId: number; members: { id: number; role: string; membership: string; lag: number | null }[] }>((await run('cluster', '--json')).stdout);
    expect(view.members.map((m) => m.id)).toEqual([1, 2, 3]);
    expect(view.members.filter((m) => m.role === 'leader').map((m) => m.id)).toEqual([view.leaderId]);
    expect(view.members.every((m) => m.membership === 'voter' && m.lag !== null)).toBe(true);
    const text = (await run('cluster')).stdout;
    expect(text).toMatch(new RegExp(`^leader ${view.leaderId}, term \\d+\\nID +ENDPOINT +ROLE +MEMBER +TERM +COMMIT +APPLIED +SNAPSHOT +LAST +LAG\\n`));

    const status = await run('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/healthy: leader \d, term \d+; 3 of 3 endpoints answered\n$/);

    const members = json<{ leaderId: number; members: { id: number }[] }>((await run('member', 'list', '--json')).stdout);
    expect(members.members.map((m) => m.id)).toEqual([1, 2, 3]);

    const to = [1, 2, 3].find((id) => id !== view.leaderId)!;
    expect(json((await run('leader', 'transfer', '--to', String(to), '--json')).stdout)).toEqual({ from: view.leaderId, leaderId: to });
    expect(await cluster.leader()).toBe(to);
    expect((await run('leader', 'transfer', '--to', String(to))).stdout).toBe(`member ${to} already leads\n`);

    // A change the membership refuses: one line, status 1.
    const refused = await run('member', 'add', '2', '127.0.0.1:1');
    expect(refused.code).toBe(exitCodes.failure);
    expect(refused.stderr).toMatch(/^vigil: 127\.0\.0\.1:\d+: .*\(INVALID_CONF_CHANGE\)\n$/);
  });
});

describe('the binary', () => {
  test('exit statuses and stdin reach the process; --help and help <command> agree', async () => {
    const env = { VIGIL_ENDPOINTS: endpoints.join(',') };
    const set = await vigilProcess(['create', '/bin-stdin', '-'], { input: 'piped\n', env });
    expect(set).toMatchObject({ code: 0, stdout: 'created /bin-stdin\n' });
    expect(await vigilProcess(['get', '/bin-stdin'], { env })).toMatchObject({ code: 0, stdout: 'piped\n' });
    expect(await vigilProcess(['get', '/bin-none'], { env })).toMatchObject({ code: exitCodes.noNode, stderr: 'vigil: no such node: /bin-none\n' });
    const viaFlag = await vigilProcess(['help', 'get']);
    const viaHelp = await vigilProcess(['get', '--help']);
    expect(viaFlag.code).toBe(0);
    expect(viaFlag.stdout).toBe(viaHelp.stdout);
    expect(viaFlag.stdout).toContain('--raw');
  });
});
