import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VigilError } from '@vigil/protocol';
import { CliError } from '../src/cli-error.js';
import type { CommandHost } from '../src/commands/command-context.js';
import { httpBaseOf, resolveEndpoints } from '../src/commands/endpoints.js';
import { registerCommands } from '../src/commands/register-commands.js';
import { exitCodes } from '../src/exit-codes.js';
import { describeFailure } from '../src/failure.js';
import { dataAsText, formatBytes, hexDump } from '../src/format/data-text.js';
import { colorsWanted } from '../src/format/palette.js';
import { progressBar } from '../src/format/progress-bar.js';
import { completeLine } from '../src/shell/completion.js';
import { historyLinesMax, historyPath, historyWriter, loadHistory } from '../src/shell/history-file.js';
import { splitLine } from '../src/shell/split-line.js';

describe('splitLine', () => {
  it('splits on whitespace and keeps quoted text whole, as a shell does', () => {
    expect(splitLine('  set /a  "two words" \'it\'\'s\'  ').words).toEqual(['set', '/a', 'two words', 'its']);
    expect(splitLine('create /a "say \\"hi\\"" back\\ slash').words).toEqual(['create', '/a', 'say "hi"', 'back slash']);
    expect(splitLine('create /a ""').words).toEqual(['create', '/a', '']);
  });

  it('tells completion whether the line ends inside a word or a quote', () => {
    expect(splitLine('get /a')).toMatchObject({ endsInWord: true, openQuote: false });
    expect(splitLine('get /a ')).toMatchObject({ endsInWord: false, openQuote: false });
    expect(splitLine('set /a "open')).toMatchObject({ openQuote: true });
  });
});

describe('completeLine', () => {
  const host: CommandHost = { mode: 'shell', commonOptions: (c) => c.option('--json'), run: async () => undefined };
  const program = new Command('vigil');
  registerCommands(program, host);
  program.command('quit').alias('exit');
  const listed: string[] = [];
  const tree: Record<string, string[]> = { '/': ['app', 'apple', 'zoo'], '/app': ['config'], '/app/config': [] };
  const source = {
    program,
    listChildren: async (path: string) => {
      listed.push(path);
      return tree[path] ?? [];
    },
  };

  it('completes command and subcommand names', async () => {
    expect(await completeLine('de', source)).toEqual([['delete', 'deleteall'], 'de']);
    expect(await completeLine('e', source)).toEqual([['exists', 'exit'], 'e']);
    expect(await completeLine('snapshot ', source)).toEqual([['save'], '']);
    expect(await completeLine('help wa', source)).toEqual([['watch'], 'wa']);
  });

  it('completes the flags of the command being typed', async () => {
    expect(await completeLine('create /a --', source)).toEqual([['--acl', '--container', '--ephemeral', '--json', '--parents', '--sequential', '--ttl-ms'], '--']);
    expect(await completeLine('get -', source)).toEqual([['--json', '--raw', '--stat', '--watch', '-s', '-w'], '-']);
  });

  it('completes paths from the live listing of the parent, and goes into a path typed in full', async () => {
    listed.length = 0;
    expect(await completeLine('get /ap', source)).toEqual([['/app', '/apple'], '/ap']);
    expect(await completeLine('ls ', source)).toEqual([['/app', '/apple', '/zoo'], '']);
    expect(await completeLine('get -s /app/c', source)).toEqual([['/app/config'], '/app/c']);
    expect(await completeLine('stat /zoo', source)).toEqual([['/zoo'], '/zoo']);
    expect(listed).toEqual(['/', '/', '/app', '/', '/zoo']);
  });

  it('does not offer paths where the command takes none', async () => {
    listed.length = 0;
    expect(await completeLine('set /app ', source)).toEqual([[], '']);
    expect(await completeLine('set /app -v ', source)).toEqual([[], '']);
    expect(await completeLine('member add ', source)).toEqual([[], '']);
    expect(await completeLine('bogus /', source)).toEqual([[], '/']);
    expect(listed).toEqual([]);
  });
});

describe('describeFailure', () => {
  it('maps each documented outcome to its exit status and one line', () => {
    expect(describeFailure(new VigilError('NO_NODE', 'x', { path: '/a/b' }))).toMatchObject({ exitCode: 3, message: 'no such node: /a/b' });
    expect(describeFailure(new VigilError('NODE_EXISTS', 'x', { path: '/a' }))).toMatchObject({ exitCode: 4, message: 'node already exists: /a' });
    expect(describeFailure(new VigilError('BAD_VERSION', 'x'), '/a')).toMatchObject({ exitCode: 5, path: '/a' });
    expect(describeFailure(new VigilError('NOT_EMPTY', 'x', { path: '/a' }))).toMatchObject({ exitCode: 6 });
    expect(describeFailure(new VigilError('BAD_ARGUMENTS', 'path must be absolute'))).toMatchObject({ exitCode: 2, message: 'invalid argument: path must be absolute' });
    for (const code of ['CONNECTION_LOSS', 'TIMEOUT', 'NO_LEADER', 'SESSION_EXPIRED', 'UNAVAILABLE'] as const) {
      expect(describeFailure(new VigilError(code)).exitCode).toBe(exitCodes.unavailable);
    }
    expect(describeFailure(new VigilError('CANCELLED'))).toMatchObject({ exitCode: 130, message: 'cancelled' });
    expect(describeFailure(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"))).toMatchObject({ exitCode: 2, message: "unknown option '--x'" });
    expect(describeFailure(new CliError('nope', exitCodes.unavailable, 'UNREACHABLE'))).toMatchObject({ exitCode: 7, code: 'UNREACHABLE', unexpected: false });
    expect(describeFailure(new TypeError('a bug'))).toMatchObject({ exitCode: 1, unexpected: true });
    // vigil server: the server's errors, recognised by shape (the CLI loads @vigil/server lazily).
    const serverError = (code: string): Error => Object.assign(new Error(code), { name: 'ServerError', code });
    expect(describeFailure(serverError('CONFIG_INVALID'))).toMatchObject({ exitCode: 2, unexpected: false });
    expect(describeFailure(serverError('STORAGE_FAILED'))).toMatchObject({ exitCode: 70, unexpected: false });
    expect(describeFailure(serverError('DATA_DIR_INVALID'))).toMatchObject({ exitCode: 1, unexpected: false });
  });
});

describe('formats', () => {
  it('shows UTF-8 text as it is, and anything else as a hex dump', () => {
    expect(dataAsText(new TextEncoder().encode('héllo\n\tworld'))).toBe('héllo\n\tworld');
    expect(dataAsText(new Uint8Array([0xff, 0xfe]))).toBeNull();
    expect(dataAsText(new TextEncoder().encode('bell\u0007'))).toBeNull();
    expect(dataAsText(new TextEncoder().encode('\u001b[31mred'))).toBeNull();
    const dump = hexDump(new Uint8Array(Array.from({ length: 20 }, (_, i) => i + 60)));
    expect(dump.split('\n')).toEqual([
      '00000000  3c 3d 3e 3f 40 41 42 43  44 45 46 47 48 49 4a 4b |<=>?@ABCDEFGHIJK|',
      `00000010  ${'4c 4d 4e 4f'.padEnd(48)} |LMNO|`,
    ]);
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });

  it('colours only a terminal, and never with NO_COLOR set', () => {
    expect(colorsWanted(true, {})).toBe(true);
    expect(colorsWanted(false, {})).toBe(false);
    expect(colorsWanted(undefined, {})).toBe(false);
    expect(colorsWanted(true, { NO_COLOR: '1' })).toBe(false);
    expect(colorsWanted(true, { NO_COLOR: '' })).toBe(true);
  });

  it('draws a progress bar only once a transfer has run for half a second, then clears it', () => {
    let now = 0;
    let screen = '';
    const bar = progressBar({ write: (t) => (screen += t), label: 'saving', totalBytes: 4096, nowMs: () => now });
    bar.update(100);
    now = 400;
    bar.update(1000);
    expect(screen).toBe('');
    now = 600;
    bar.update(2048);
    expect(screen).toContain('saving [############············] 2.0 KiB / 4.0 KiB 50%');
    bar.finish();
    expect(screen.endsWith('\r\u001b[2K')).toBe(true);
  });
});

describe('endpoints', () => {
  it('takes --endpoints, else VIGIL_ENDPOINTS, else the local cluster; admin HTTP is on the same host:port', () => {
    expect(resolveEndpoints(undefined, {})).toEqual(['ws://127.0.0.1:8181', 'ws://127.0.0.1:8182', 'ws://127.0.0.1:8183']);
    expect(resolveEndpoints(undefined, { VIGIL_ENDPOINTS: 'a:1, b:2' })).toEqual(['a:1', 'b:2']);
    expect(resolveEndpoints('c:3', { VIGIL_ENDPOINTS: 'a:1' })).toEqual(['c:3']);
    expect(() => resolveEndpoints('http://x:1', {})).toThrow(/is not ws:\/\/host:port/);
    expect(() => resolveEndpoints('ws://', {})).toThrow(CliError);
    expect(httpBaseOf('ws://10.0.0.1:8181/')).toBe('http://10.0.0.1:8181');
    expect(httpBaseOf('wss://vigil.example:8443/ws')).toBe('https://vigil.example:8443');
    expect(httpBaseOf('wss://vigil.example/ws')).toBe('https://vigil.example');
    expect(httpBaseOf('[::1]:8181')).toBe('http://[::1]:8181');
  });
});

describe('history', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-history-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lives in ~/.vigil_history unless VIGIL_HISTORY names another file, or none', () => {
    expect(historyPath({}, '/home/op')).toBe('/home/op/.vigil_history');
    expect(historyPath({ VIGIL_HISTORY: '/tmp/h' }, '/home/op')).toBe('/tmp/h');
    expect(historyPath({ VIGIL_HISTORY: '' }, '/home/op')).toBeNull();
  });

  it(`keeps the newest ${historyLinesMax} lines, readable by the user only`, async () => {
    const path = join(dir, 'h');
    const lines = Array.from({ length: historyLinesMax + 50 }, (_, i) => `get /n${i}`);
    const writer = historyWriter(path);
    writer.save([...lines].reverse());
    await writer.flush();
    const saved = (await readFile(path, 'utf8')).trim().split('\n');
    expect(saved).toHaveLength(historyLinesMax);
    expect(saved.at(-1)).toBe(`get /n${historyLinesMax + 49}`);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const loaded = await loadHistory(path);
    expect(loaded[0]).toBe(`get /n${historyLinesMax + 49}`);
    await writeFile(path, 'ls /\n\n  \nget /a\n');
    expect(await loadHistory(path)).toEqual(['get /a', 'ls /']);
    expect(await loadHistory(join(dir, 'missing'))).toEqual([]);
  });
});
