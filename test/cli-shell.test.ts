import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connect, type VigilClient } from '@vigil/client';
import { TestCluster, vigilBin, waitFor } from './support/cluster.js';
import { vigilProcess } from './support/vigil-cli.js';

/**
 * `vigil shell` as a user meets it: on a pseudo-terminal (util-linux `script` allocates one), with
 * Tab completion of a path from the cluster, a watch that prints what another client does, Ctrl-C
 * back to the prompt, and history in the home directory; and with piped input, as a script.
 */

let cluster: TestCluster;
let endpoints: string[];
let client: VigilClient;
let home: string;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
  endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`);
  client = await connect({ endpoints });
  home = await mkdtemp(join(tmpdir(), 'vigil-home-'));
});
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
  if (home !== undefined) await rm(home, { recursive: true, force: true });
});

// eslint-disable-next-line no-control-regex
const ansi = /\u001b\[[0-9;?]*[A-Za-z]/g;
// The pseudo-terminal comes from util-linux's `script` (Debian's essential bsdutils package).
const shellQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** A process on a pseudo-terminal: keys in, screen text out (ANSI sequences stripped for matching). */
class Terminal {
  raw = '';
  private readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], env: Record<string, string>) {
    const command = [process.execPath, vigilBin, ...args].map(shellQuote).join(' ');
    this.proc = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env } });
    procs.push(this.proc);
    this.proc.stdout!.on('data', (d: Buffer) => (this.raw += d.toString('utf8')));
    this.proc.stderr!.on('data', (d: Buffer) => (this.raw += d.toString('utf8')));
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
  }

  get screen(): string {
    return this.raw.replace(ansi, '');
  }

  type(keys: string): void {
    this.proc.stdin!.write(keys);
  }

  /** Waits until the screen, from `from` on, matches; returns where the match ends. */
  async until(what: string | RegExp, from = 0): Promise<number> {
    return waitFor(`${String(what)} on the terminal`, () => {
      const text = this.screen.slice(from);
      const at = typeof what === 'string' ? text.indexOf(what) : text.search(what);
      if (at < 0) return undefined;
      const length = typeof what === 'string' ? what.length : (text.slice(at).match(what)?.[0].length ?? 0);
      return from + at + length;
    }, 15_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- screen ---\n${this.screen.slice(from)}`);
    });
  }
}

describe('vigil shell on a terminal', () => {
  test('completes a path, streams a watch until Ctrl-C, returns to the prompt, keeps history', async () => {
    await client.create('/sh', '');
    await client.create('/sh/alpha', 'A');
    await client.create('/sh/beta', 'B');
    const term = new Terminal(['shell', '--endpoints', endpoints.join(',')], { HOME: home });
    const prompt = /vigil \[member \d · connected\]> /;
    let at = await term.until(prompt);
    // Colours on a terminal: the state is green.
    expect(term.raw).toContain('\u001b[32mconnected');

    // Tab completes the path from the cluster's listing of /sh.
    term.type('get /sh/al\t');
    at = await term.until('get /sh/alpha', at);
    term.type('\r');
    at = await term.until(/\r?\nA\r?\n/, at);
    at = await term.until(prompt, at);

    // A watch prints what another client does; Ctrl-C ends it and the prompt comes back.
    term.type('watch /sh/alpha\r');
    at = await term.until('watching /sh/alpha; Ctrl-C stops', at);
    await client.set('/sh/alpha', 'A2');
    at = await term.until(/dataChanged \/sh\/alpha \(revision \d+\)/, at);
    term.type('\u0003');
    at = await term.until(prompt, at);
    term.type('exists /sh/beta\r');
    at = await term.until('/sh/beta exists', at);
    at = await term.until(prompt, at);

    // Errors are one line; the shell goes on.
    term.type('get /sh/none\r');
    at = await term.until('no such node: /sh/none', at);
    await term.until(prompt, at);
    expect(term.screen).not.toMatch(/\n\s+at /);

    term.type('quit\r');
    expect(await term.exited).toBe(0);
    const history = (await readFile(join(home, '.vigil_history'), 'utf8')).trim().split('\n');
    expect(history).toEqual(['get /sh/alpha', 'watch /sh/alpha', 'exists /sh/beta', 'get /sh/none', 'quit']);
  });

  test('Ctrl-C at the prompt keeps the shell, Ctrl-D leaves it', async () => {
    const term = new Terminal(['shell', '--endpoints', endpoints.join(',')], { HOME: home, NO_COLOR: '1', VIGIL_HISTORY: '' });
    let at = await term.until(/connected\]> /);
    expect(term.raw).not.toContain('\u001b[32m');
    term.type('\u0003');
    at = await term.until('(Ctrl-D or quit leaves the shell)', at);
    term.type('session\r');
    await term.until(/state +connected/, at);
    term.type('\u0004');
    expect(await term.exited).toBe(0);
  });
});

describe('vigil shell with piped input', () => {
  test('runs the lines as a script: results on stdout, errors on stderr, no prompt or colour, status of the last line', async () => {
    const script = ['create /sc/x "two words" -p', 'get /sc/x', 'get /sc/none', 'ls /sc --json', ''].join('\n');
    const ok = await vigilProcess(['shell', '--endpoints', endpoints.join(',')], { input: script, env: { HOME: home } });
    expect(ok).toMatchObject({ code: 0, stdout: 'created /sc/x\ntwo words\n{"path":"/sc","children":["x"]}\n', stderr: 'no such node: /sc/none\n' });
    const failing = await vigilProcess(['shell', '--endpoints', endpoints.join(',')], { input: 'get /sc/x\nget /sc/none\n', env: { HOME: home } });
    expect(failing).toMatchObject({ code: 3, stdout: 'two words\n' });
  });
});
