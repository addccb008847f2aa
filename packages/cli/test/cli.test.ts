import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NodeConfig } from '@vigil/server';

// The server's modules the CLI uses without starting a node (config, errors, logger, the
// test-only switches) are the real ones; startNode is injected where it matters.
vi.mock('@vigil/server', async () => ({
  ...(await import('../../server/src/config/index.js')),
  ...(await import('../../server/src/errors.js')),
  ...(await import('../../server/src/node/logger.js')),
  ...(await import('../../server/src/testing/known-bad.js')),
  ...(await import('../../server/src/testing/power-loss.js')),
  ...(await import('../../server/src/testing/crash-points.js')),
}));

const { runCli } = await import('../src/program.js');
const { runServer } = await import('../src/server-command.js');
const { configSettings, loadConfig } = await import('../../server/src/config/index.js');

const settings = ['--id', '1', '--data-dir', './data/1', '--client-listen', '127.0.0.1:8181', '--peer-listen', '127.0.0.1:8281', '--peers', '1=127.0.0.1:8281'];

function io(runServerResult = 0) {
  let stdout = '';
  let stderr = '';
  const configs: NodeConfig[] = [];
  return {
    io: {
      stdout: (text: string) => void (stdout += text),
      stderr: (text: string) => void (stderr += text),
      env: {} as Record<string, string | undefined>,
      runServer: async (config: NodeConfig) => (configs.push(config), runServerResult),
    },
    out: () => stdout,
    err: () => stderr,
    configs,
  };
}

describe('vigil', () => {
  it('`vigil server --help` lists every flag with its env variable and default', async () => {
    const t = io();
    expect(await runCli(['server', '--help'], t.io)).toBe(0);
    const help = t.out();
    expect(help).toContain('--config <file>  (env VIGIL_CONFIG)');
    for (const s of configSettings) {
      expect(help).toContain(`--${s.flag}`);
      expect(help).toContain(`env ${s.env}`);
    }
    expect(help).toContain('--tick-ms <ms>  (env VIGIL_TICK_MS; file key tickMs; default: 50)');
    expect(help).toContain('--id <n>  (env VIGIL_ID; file key id; required)');
    expect(help).toContain('--join  (env VIGIL_JOIN; file key join; default: false)');
    expect(t.configs).toEqual([]);
  });

  it('`vigil --help` lists every command and the exit statuses; `vigil help server` the server flags', async () => {
    const t = io();
    expect(await runCli(['--help'], t.io)).toBe(0);
    for (const command of ['server', 'shell', 'ls', 'tree', 'get', 'set', 'create', 'delete', 'deleteall', 'stat', 'exists', 'sync', 'watch', 'session', 'cluster', 'status', 'member', 'leader', 'getacl', 'setacl', 'whoami', 'user', 'snapshot', 'hash-secret', 'help']) {
      expect(t.out()).toMatch(new RegExp(`\\n {2}${command} `));
    }
    expect(t.out()).toMatch(/\n +3 {2}no such node/);
    expect(t.out()).toMatch(/\n +130 {2}interrupted/);
    const h = io();
    expect(await runCli(['help', 'server'], h.io)).toBe(0);
    expect(h.out()).toContain('--peers <id=host:port,…>  (env VIGIL_PEERS');
  });

  it('starts the server with the configuration from flags and env', async () => {
    const t = io();
    t.io.env = { VIGIL_TICK_MS: '50' };
    expect(await runCli(['server', ...settings, '--join'], t.io)).toBe(0);
    expect(t.configs).toHaveLength(1);
    expect(t.configs[0]).toMatchObject({ id: 1, join: true, tickMs: 50, dataDir: './data/1' });
  });

  it('exits with the code the server run resolves with', async () => {
    const t = io(1);
    expect(await runCli(['server', ...settings], t.io)).toBe(1);
  });

  it('a bad flag exits 2 with the message on stderr', async () => {
    const t = io();
    expect(await runCli(['server', ...settings, '--tick-msec', '5'], t.io)).toBe(2);
    expect(t.err()).toBe('vigil: unknown flag --tick-msec (did you mean --tick-ms?)\n');
    expect(t.configs).toEqual([]);
  });

  it('a missing setting exits 2 naming its flag and env variable', async () => {
    const t = io();
    expect(await runCli(['server', '--id', '1'], t.io)).toBe(2);
    expect(t.err()).toMatch(/^vigil: dataDir is required: pass --data-dir, set VIGIL_DATA_DIR/);
  });

  it('an unknown command exits 2', async () => {
    const t = io();
    expect(await runCli(['serve'], t.io)).toBe(2);
    expect(t.err()).toMatch(/^vigil: unknown command 'serve'/);
  });

  it('a failure to start exits 1 with the message', async () => {
    const t = io();
    t.io.runServer = async () => { throw new Error('cannot open the database'); };
    expect(await runCli(['server', ...settings], t.io)).toBe(1);
    expect(t.err()).toMatch(/^vigil: cannot open the database\n/);
  });
});

describe('runServer', () => {
  const config = loadConfig({ argv: [...settings, '--shutdown-timeout-ms', '1000'] });
  const logger = pino({ level: 'silent' });

  afterEach(() => {
    vi.useRealTimers();
  });

  function harness(close: () => Promise<void>) {
    const signals = new EventEmitter();
    const exits: number[] = [];
    const started: NodeConfig[] = [];
    const closes = vi.fn(close);
    const run = runServer(config, {
      logger,
      signals,
      exit: (code) => void exits.push(code),
      start: async (c) => (started.push(c), { close: closes }),
    });
    return { signals, exits, started, closes, run };
  }

  it('closes the node once on SIGTERM and resolves 0', async () => {
    const h = harness(async () => {});
    await vi.waitFor(() => expect(h.signals.listenerCount('SIGTERM')).toBe(1), { interval: 1 });
    expect(h.started).toEqual([config]);
    h.signals.emit('SIGTERM', 'SIGTERM');
    expect(await h.run).toBe(0);
    expect(h.closes).toHaveBeenCalledTimes(1);
    expect(h.exits).toEqual([]);
  });

  it('exits 1 at once on a second signal, without closing again', async () => {
    const h = harness(() => new Promise<void>(() => {}));
    await vi.waitFor(() => expect(h.signals.listenerCount('SIGINT')).toBe(1), { interval: 1 });
    h.signals.emit('SIGINT', 'SIGINT');
    h.signals.emit('SIGTERM', 'SIGTERM');
    expect(h.exits).toEqual([1]);
    expect(h.closes).toHaveBeenCalledTimes(1);
  });

  it('resolves 1 when closing fails', async () => {
    const h = harness(async () => { throw new Error('flush failed'); });
    await vi.waitFor(() => expect(h.signals.listenerCount('SIGTERM')).toBe(1), { interval: 1 });
    h.signals.emit('SIGTERM', 'SIGTERM');
    expect(await h.run).toBe(1);
  });

  it('stops waiting and resolves 1 when closing outlasts the shutdown timeout', async () => {
    vi.useFakeTimers();
    const h = harness(() => new Promise<void>(() => {}));
    await vi.waitFor(() => expect(h.signals.listenerCount('SIGTERM')).toBe(1), { interval: 1 });
    h.signals.emit('SIGTERM', 'SIGTERM');
    await vi.advanceTimersByTimeAsync(1_999);
    let settled = false;
    void h.run.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await h.run).toBe(1);
  });
});

// The built binary, end to end; `npm test` builds it (tsc -b) before running the tests.
const bin = fileURLToPath(new URL('../bin/vigil.js', import.meta.url));

describe('bin/vigil.js', () => {
  it('is built', () => {
    expect(existsSync(fileURLToPath(new URL('../dist/main.js', import.meta.url))), 'run `npx tsc -b` first').toBe(true);
  });

  it('prints the server flags for `vigil server --help`', () => {
    const result = spawnSync(process.execPath, [bin, 'server', '--help'], { encoding: 'utf8', env: {} });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('--peers <id=host:port,…>');
    expect(result.stdout).toContain('VIGIL_SHUTDOWN_TIMEOUT_MS');
  });

  it('exits 2 with the message for a bad flag', () => {
    const result = spawnSync(process.execPath, [bin, 'server', '--bogus'], { encoding: 'utf8', env: {} });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('vigil: unknown flag --bogus\n');
  });
});
