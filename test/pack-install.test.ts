import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { TestCluster, fetchJson } from './support/cluster.js';

/**
 * The SDK as a user gets it: `npm pack` of @vigil/protocol and @vigil/client, installed into an
 * empty project outside the monorepo, runs the README's SDK example against a real cluster — on
 * Node 20 through `ws`, and on a runtime with a standard global WebSocket (Node 20 with
 * --experimental-websocket stands in for Node ≥ 22, Deno and Bun) with `ws` not installed at all.
 * The `vigil` binary as an operator gets it: @vigil/cli with what it imports (@vigil/server, and
 * through it @vigil/raft and @vigil/store, plus the SDK), packed and installed the same way, runs
 * `npx vigil --help`, a one-shot command and the shell against the same cluster.
 * Dependencies come from npm's local cache when it has them (`--prefer-offline`).
 */

const repo = fileURLToPath(new URL('..', import.meta.url));
const packages = ['protocol', 'client'] as const;
/** What the CLI adds to the SDK's tarballs; `npm pack` reports them in the root's workspace order. */
const cliPackages = ['raft', 'store', 'server', 'cli'] as const;
const stepTimeoutMs = 120_000;

interface PackedFile {
  readonly path: string;
}
interface Packed {
  readonly name: string;
  readonly version: string;
  readonly filename: string;
  readonly files: readonly PackedFile[];
}

let root: string;
let cluster: TestCluster;
let packed: Packed[];
let cliPacked: Packed[];
const children = new Set<ChildProcess>();

/** The environment of the npm and node children: none of an outer `npm test`'s npm_* settings, no NODE_OPTIONS. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'NODE_OPTIONS'));
}

/** Runs a child to its end; `input`, when given, is its whole standard input (else it reads an empty one). */
function run(command: string, args: readonly string[], cwd: string, input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { cwd, env: cleanEnv(), timeout: stepTimeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vigil-pack-'));
  // The tarballs carry dist/: build it (a no-op when `tsc -b` already ran).
  await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-b', 'packages/client', 'packages/cli'], repo);
  const tgz = join(root, 'tgz');
  await mkdir(tgz);
  const json = await run('npm', ['pack', ...packages.flatMap((p) => ['--workspace', `packages/${p}`]), '--pack-destination', tgz, '--json'], repo);
  packed = JSON.parse(json) as Packed[];
  const cliJson = await run('npm', ['pack', ...cliPackages.flatMap((p) => ['--workspace', `packages/${p}`]), '--pack-destination', tgz, '--json'], repo);
  cliPacked = JSON.parse(cliJson) as Packed[];
  cluster = await TestCluster.start();
  await cluster.leader();
}, stepTimeoutMs);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await cluster?.close();
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe('npm pack', () => {
  test('each tarball holds the build, its types, the sources its maps point to and a README; no tests', async () => {
    expect(packed.map((p) => p.name)).toEqual(['@vigil/protocol', '@vigil/client']);
    for (const pkg of packed) {
      const paths = pkg.files.map((f) => f.path);
      expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts']));
      expect(paths.filter((p) => !/^(package\.json|README\.md|dist\/.+\.(js|d\.ts)(\.map)?|src\/.+\.ts)$/.test(p)), pkg.name).toEqual([]);
      expect(paths.filter((p) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.spec\./.test(p)), pkg.name).toEqual([]);
      // Output whose source is gone (a stale dist/) would ship modules nobody maintains.
      const stale = paths.filter((p) => p.startsWith('dist/') && p.endsWith('.js') && !paths.includes(p.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')));
      expect(stale, `${pkg.name}: stale files in dist/ (delete dist/ and run tsc -b)`).toEqual([]);
    }
  });

  test('the manifests are publishable: no private flag, license, engines, types, one version', async () => {
    const manifests = await Promise.all(packages.map(async (p) => JSON.parse(await readFile(join(repo, 'packages', p, 'package.json'), 'utf8')) as Record<string, unknown>));
    for (const m of manifests) {
      expect(m['private'], String(m['name'])).toBeUndefined();
      expect(m).toMatchObject({ license: expect.any(String), engines: { node: '>=20.15' }, types: './dist/index.d.ts', files: ['dist', 'src'] });
    }
    const [protocol, client] = manifests;
    expect(client!['version']).toBe(protocol!['version']);
    expect(client!['dependencies']).toEqual({ '@vigil/protocol': protocol!['version'] });
    // Node 20 needs ws; runtimes with a global WebSocket must not.
    expect(client!['optionalDependencies']).toMatchObject({ ws: expect.any(String) });
  });

  test('the CLI and what it imports pack the build, the sources their maps point to, the bin and a README; no tests', () => {
    expect(cliPacked.map((p) => p.name)).toEqual(['@vigil/raft', '@vigil/store', '@vigil/server', '@vigil/cli']);
    for (const pkg of cliPacked) {
      const paths = pkg.files.map((f) => f.path);
      const bin = pkg.name === '@vigil/cli' ? ['bin/vigil.js'] : [];
      expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts', ...bin]));
      // TypeScript only under src/ (what `files` ships for the maps), JavaScript only under dist/ and the bin.
      expect(paths.filter((p) => !bin.includes(p) && !/^(package\.json|README\.md|dist\/.+\.(js|d\.ts)(\.map)?|src\/.+\.ts)$/.test(p)), pkg.name).toEqual([]);
      expect(paths.filter((p) => /(^|\/)(test|tests|__tests__)\/|\.test\.|\.spec\./.test(p)), pkg.name).toEqual([]);
      const stale = paths.filter((p) => p.startsWith('dist/') && p.endsWith('.js') && !paths.includes(p.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')));
      expect(stale, `${pkg.name}: stale files in dist/ (delete dist/ and run tsc -b)`).toEqual([]);
    }
  });

  test('the CLI\'s manifests are publishable, and each lists in dependencies every package its build imports', async () => {
    const version = (JSON.parse(await readFile(join(repo, 'packages/protocol/package.json'), 'utf8')) as Record<string, unknown>)['version'];
    for (const p of cliPackages) {
      const m = JSON.parse(await readFile(join(repo, 'packages', p, 'package.json'), 'utf8')) as Record<string, unknown>;
      expect(m['private'], p).toBeUndefined();
      expect(m, p).toMatchObject({
        version, license: expect.any(String), engines: { node: '>=20.15' }, types: './dist/index.d.ts',
        files: p === 'cli' ? ['dist', 'bin', 'src'] : ['dist', 'src'],
      });
      const dependencies = (m['dependencies'] ?? {}) as Record<string, string>;
      // What npm installs for a user is `dependencies`: a devDependency imported at run time would be missing.
      expect([...(await distImports(p))].filter((name) => !(name in dependencies)), `${p}: imported but not in dependencies`).toEqual([]);
      for (const [name, range] of Object.entries(dependencies)) if (name.startsWith('@vigil/')) expect(range, `${p} → ${name}`).toBe(version);
    }
    const cli = JSON.parse(await readFile(join(repo, 'packages/cli/package.json'), 'utf8')) as Record<string, unknown>;
    expect(cli['bin']).toEqual({ vigil: './bin/vigil.js' });
  });
});

describe('installed into an empty project', () => {
  test('the README example runs on Node 20 through ws, and its types check', async () => {
    const app = await project('node20', []);
    expect(existsSync(join(app, 'node_modules/ws/package.json'))).toBe(true);
    const out = await runExample(app, []);
    expect(out).toMatch(/^(created|dataChanged|deleted|childrenChanged) \/app\S* \d+$/m);

    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        skipLibCheck: false, typeRoots: [join(repo, 'node_modules/@types')], types: ['node'],
      },
      files: ['example.ts'],
    }));
    await writeFile(join(app, 'example.ts'), await readmeExample());
    await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  }, stepTimeoutMs);

  test('with a global WebSocket it needs no ws: installed without optional dependencies, the example runs', async () => {
    const app = await project('global-websocket', ['--omit=optional']);
    expect(existsSync(join(app, 'node_modules/ws'))).toBe(false);
    const out = await runExample(app, ['--experimental-websocket']);
    expect(out).toMatch(/^(created|dataChanged|deleted|childrenChanged) \/app\S* \d+$/m);
    // The same project on a runtime without one says what is missing.
    await expect(runExample(app, [])).rejects.toThrow(/npm install ws/);
  }, stepTimeoutMs);
});

describe('the CLI installed into an empty project', () => {
  let client: VigilClient | undefined;
  afterAll(async () => {
    await client?.close();
  });

  test('npx vigil: --help lists the shell; a one-shot get and the shell (fed on stdin) see what the SDK wrote', async () => {
    const app = await install('cli', [...packed, ...cliPacked], []);
    expect(existsSync(join(app, 'node_modules/.bin/vigil'))).toBe(true);
    const endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);
    const name = `pack-cli-${process.pid}`;
    const data = `written through the SDK at ${new Date().toISOString()}`;
    client = await connect({ endpoints });
    await client.create(`/${name}`, data);

    // The bin is there (checked above), so npx runs it rather than looking for a `vigil` elsewhere.
    const vigil = (args: readonly string[], input?: string): Promise<string> => run('npx', ['vigil', ...args], app, input);
    expect(await vigil(['--help'])).toMatch(/^\s+shell\b/m);
    expect(await vigil(['get', `/${name}`, '--endpoints', endpoints.join(',')])).toBe(`${data}\n`);
    // Piped input runs as a script; `run` rejects unless it exits 0.
    const shell = await vigil(['shell', '--endpoints', endpoints.join(',')], 'ls /\nquit\n');
    expect(shell).toMatch(new RegExp(`^${name}$`, 'm'));
  }, stepTimeoutMs);
});

/** An empty ESM project with both tarballs installed, and the README's example as example.mjs. */
async function project(name: string, npmFlags: readonly string[]): Promise<string> {
  const app = await install(name, packed, npmFlags);
  await writeFile(join(app, 'example.mjs'), await readmeExample());
  return app;
}

/** An empty ESM project with the given tarballs installed. */
async function install(name: string, from: readonly Packed[], npmFlags: readonly string[]): Promise<string> {
  const app = join(root, name);
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: `vigil-pack-${name}`, private: true, type: 'module' }));
  const tarballs = from.map((p) => join(root, 'tgz', p.filename));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', ...npmFlags, ...tarballs], app);
  return app;
}

/**
 * The packages a workspace package's build imports: the bare specifiers of every `from '…'` and
 * `import('…')` in its dist/ (and the CLI's bin/), by package name; Node's built-ins left out.
 */
async function distImports(pkg: string): Promise<Set<string>> {
  const names = new Set<string>();
  for (const dir of ['dist', 'bin'].map((d) => join(repo, 'packages', pkg, d)).filter((d) => existsSync(d))) {
    for (const file of await readdir(dir, { recursive: true })) {
      if (!file.endsWith('.js')) continue;
      const code = await readFile(join(dir, file), 'utf8');
      for (const m of code.matchAll(/(?:(?:^|[\s}])from\s*|\bimport\s*\(\s*|^import\s+)['"]([^'"\s]+)['"]/gm)) {
        const specifier = m[1]!;
        if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
        names.add(specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/'));
      }
    }
  }
  return names;
}

/**
 * The README's first TypeScript block that connects with @vigil/client, its endpoints pointed at
 * the test cluster. It is plain JavaScript as well (the README keeps it so).
 */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(repo, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).find((code) => code.includes("from '@vigil/client'") && code.includes('connect('));
  if (block === undefined) throw new Error('README.md has no ```ts block that imports @vigil/client and calls connect()');
  let replaced = 0;
  const code = block.replace(/ws:\/\/(?:127\.0\.0\.1|localhost):818([1-9])/g, (_all, n: string) => {
    replaced += 1;
    return `ws://127.0.0.1:${cluster.node(Number(n)).clientPort}`;
  });
  if (replaced === 0) throw new Error("the README's SDK example no longer names the endpoints ws://127.0.0.1:8181-8183");
  return code;
}

/**
 * Runs example.mjs; it ends by itself, or (as the README's does) watches forever: then the test
 * writes under /app until the example prints an event, and stops it. Rejects with its output if
 * it exits non-zero or prints nothing within the deadline.
 */
async function runExample(app: string, nodeFlags: readonly string[]): Promise<string> {
  const child = spawn(process.execPath, [...nodeFlags, 'example.mjs'], { cwd: app, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  let probe = 0;
  try {
    for (;;) {
      const code = await Promise.race([exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 200))]);
      if (code !== 'running') {
        if (code === 0) return stdout;
        throw new Error(`example exited with ${String(code)}:\n${stdout}${stderr}`);
      }
      // The example may print other lines first (the README's prints its leadership token).
      if (/^(created|dataChanged|deleted|childrenChanged) \/app\S* \d+$/m.test(stdout)) return stdout;
      if (Date.now() > deadline) throw new Error(`example printed no event within 30 s:\n${stdout}${stderr}`);
      probe += 1;
      await fetchJson(cluster.url(1, `/v1/znodes/app/pack-probe-${process.pid}-${probe}`), {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ createParents: true }),
      }).catch(() => undefined);
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
    children.delete(child);
  }
}
