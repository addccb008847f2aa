import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, type ConfigProblem } from '../src/config/index.js';
import { isServerError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const minimalFlags = [
  '--id', '1',
  '--data-dir', './data/1',
  '--client-listen', '127.0.0.1:8181',
  '--peer-listen', '127.0.0.1:8281',
  '--peers', '1=127.0.0.1:8281,2=127.0.0.1:8282,3=127.0.0.1:8283',
];

/** The CONFIG_INVALID error thrown for these sources; fails the test if none is thrown. */
function configError(sources: Parameters<typeof loadConfig>[0]): { message: string; problems: ConfigProblem[] } {
  try {
    loadConfig(sources);
  } catch (err) {
    if (!isServerError(err)) throw err;
    expect(err.code).toBe('CONFIG_INVALID');
    return { message: err.message, problems: (err.details?.['problems'] ?? []) as ConfigProblem[] };
  }
  throw new Error('expected loadConfig to throw');
}

describe('loadConfig', () => {
  it('builds a founding member from flags, with defaults for the rest', () => {
    const config = loadConfig({ argv: minimalFlags });
    expect(config).toEqual({
      id: 1,
      clusterId: 'vigil',
      dataDir: './data/1',
      clientListen: { host: '127.0.0.1', port: 8181 },
      peerListen: { host: '127.0.0.1', port: 8281 },
      peers: new Map([
        [1, { host: '127.0.0.1', port: 8281 }],
        [2, { host: '127.0.0.1', port: 8282 }],
        [3, { host: '127.0.0.1', port: 8283 }],
      ]),
      join: false,
      logLevel: 'info',
      tickMs: 50,
      electionTicks: 10,
      heartbeatTicks: 1,
      snapshotEveryEntries: 50_000,
      logTrailingEntries: 5_000,
      shutdownTimeoutMs: 5_000,
      sessionTimeoutMinMs: 1_000,
      sessionTimeoutMaxMs: 300_000,
      watchHistoryEvents: 100_000,
      watchHistoryBytes: 64 * 1024 * 1024,
      requestTimeoutMs: 10_000,
      sessionsMax: 50_000,
      clientRequestsPerSecond: 50_000,
      ephemeralsPerSessionMax: 100_000,
      watchesPerSessionMax: 65_536,
      auth: false,
      superuserHash: '',
    });
  });

  it('reads every setting from VIGIL_* environment variables', () => {
    const config = loadConfig({
      env: {
        VIGIL_ID: '2', VIGIL_CLUSTER_ID: 'prod-eu', VIGIL_DATA_DIR: '/var/lib/vigil',
        VIGIL_CLIENT_LISTEN: '0.0.0.0:8182', VIGIL_PEER_LISTEN: '[::1]:8282',
        VIGIL_PEERS: '2=[::1]:8282', VIGIL_JOIN: 'true', VIGIL_LOG_LEVEL: 'debug',
        VIGIL_TICK_MS: '50', VIGIL_ELECTION_TICKS: '20', VIGIL_HEARTBEAT_TICKS: '2',
        VIGIL_SNAPSHOT_EVERY_ENTRIES: '100', VIGIL_LOG_TRAILING_ENTRIES: '0', VIGIL_SHUTDOWN_TIMEOUT_MS: '1000',
        VIGIL_WATCH_HISTORY_BYTES: '1048576',
        HOME: '/root',
      },
    });
    expect(config).toMatchObject({
      id: 2, clusterId: 'prod-eu', dataDir: '/var/lib/vigil', join: true, logLevel: 'debug',
      clientListen: { host: '0.0.0.0', port: 8182 }, peerListen: { host: '::1', port: 8282 },
      tickMs: 50, electionTicks: 20, heartbeatTicks: 2, snapshotEveryEntries: 100, logTrailingEntries: 0, shutdownTimeoutMs: 1000,
      watchHistoryBytes: 1_048_576,
    });
    expect(config.peers.get(2)).toEqual({ host: '::1', port: 8282 });
  });

  it('reads a YAML file with camelCase keys and peers as an object', () => {
    const path = file('node.yaml', [
      'id: 3',
      'dataDir: ./data/3',
      'clientListen: 127.0.0.1:8183',
      'peerListen: { host: 127.0.0.1, port: 8283 }',
      'peers:',
      '  "1": 127.0.0.1:8281',
      '  "3": 127.0.0.1:8283',
      'tickMs: 20',
      'join: true',
    ].join('\n'));
    const config = loadConfig({ argv: ['--config', path] });
    expect(config.id).toBe(3);
    expect(config.peerListen).toEqual({ host: '127.0.0.1', port: 8283 });
    expect([...config.peers.keys()]).toEqual([1, 3]);
    expect(config.tickMs).toBe(20);
    expect(config.join).toBe(true);
  });

  it('reads a JSON file with peers in the string form', () => {
    const path = file('node.json', JSON.stringify({
      id: 1, dataDir: 'd', clientListen: '127.0.0.1:8181', peerListen: '127.0.0.1:8281', peers: '1=127.0.0.1:8281',
    }));
    expect(loadConfig({ file: path }).peers.get(1)).toEqual({ host: '127.0.0.1', port: 8281 });
  });

  it('lets flags override env, env override the file, and the file override defaults', () => {
    const path = file('layers.yaml', 'id: 1\ndataDir: from-file\ntickMs: 10\nelectionTicks: 30\nclientListen: 127.0.0.1:1\npeerListen: 127.0.0.1:2\npeers: "1=127.0.0.1:2"\n');
    const config = loadConfig({
      env: { VIGIL_CONFIG: path, VIGIL_TICK_MS: '20', VIGIL_DATA_DIR: 'from-env' },
      argv: ['--tick-ms', '30'],
    });
    expect(config.tickMs).toBe(30); // flag beats env and file
    expect(config.dataDir).toBe('from-env'); // env beats file
    expect(config.electionTicks).toBe(30); // file beats default
    expect(config.heartbeatTicks).toBe(1); // default
  });

  it('prefers --config over VIGIL_CONFIG over the caller\'s file', () => {
    const a = file('a.yaml', 'dataDir: a\n');
    const b = file('b.yaml', 'dataDir: b\n');
    const c = file('c.yaml', 'dataDir: c\n');
    const rest = ['--id', '1', '--client-listen', 'h:1', '--peer-listen', 'h:2', '--peers', '1=h:2'];
    expect(loadConfig({ argv: ['--config', a, ...rest], env: { VIGIL_CONFIG: b }, file: c }).dataDir).toBe('a');
    expect(loadConfig({ argv: rest, env: { VIGIL_CONFIG: b }, file: c }).dataDir).toBe('b');
    expect(loadConfig({ argv: rest, file: c }).dataDir).toBe('c');
  });

  it('treats empty environment variables as unset', () => {
    expect(loadConfig({ argv: minimalFlags, env: { VIGIL_TICK_MS: '', VIGIL_JOIN: ' ' } }).tickMs).toBe(50);
  });

  it('ignores VIGIL_* variables it does not know, since other commands share the environment', () => {
    expect(loadConfig({ argv: minimalFlags, env: { VIGIL_ENDPOINTS: 'ws://x' } }).id).toBe(1);
  });

  it('names every missing required setting with its flag and env variable', () => {
    const { message, problems } = configError({ argv: [] });
    expect(problems.map((p) => p.setting)).toEqual(['id', 'dataDir', 'clientListen', 'peerListen', 'peers']);
    expect(message).toContain('id is required: pass --id, set VIGIL_ID, or put id in the config file');
    expect(message).toContain('pass --data-dir, set VIGIL_DATA_DIR');
  });

  it('rejects an unknown flag and suggests the closest one', () => {
    const { message, problems } = configError({ argv: [...minimalFlags, '--tick-msec', '5'] });
    expect(message).toBe('unknown flag --tick-msec (did you mean --tick-ms?)');
    expect(problems[0]?.source).toBe('flag');
  });

  it('rejects a stray positional argument and a flag without its value', () => {
    expect(configError({ argv: [...minimalFlags, 'extra'] }).message).toMatch(/extra/);
    expect(configError({ argv: [...minimalFlags, '--tick-ms'] }).message).toMatch(/--tick-ms/);
  });

  it('rejects an unknown file key and suggests the closest one', () => {
    const path = file('typo.yaml', 'clientListn: 127.0.0.1:8181\n');
    const { message, problems } = configError({ argv: [...minimalFlags, '--config', path] });
    expect(message).toBe(`unknown key clientListn in ${path} (file) (did you mean clientListen?)`);
    expect(problems).toEqual([expect.objectContaining({ setting: 'clientListn', source: 'file' })]);
  });

  it('says which source a bad value came from', () => {
    expect(configError({ argv: minimalFlags, env: { VIGIL_TICK_MS: '1.5' } }).message)
      .toBe('VIGIL_TICK_MS (env): must be a positive integer, got "1.5"');
    expect(configError({ argv: [...minimalFlags, '--election-ticks', 'ten'] }).message)
      .toBe('--election-ticks (flag): must be an integer, got "ten"');
    const path = file('float.json', '{ "snapshotEveryEntries": 2.5 }');
    expect(configError({ argv: minimalFlags, file: path }).message)
      .toBe(`snapshotEveryEntries in ${path} (file): must be a positive integer, got 2.5`);
  });

  it('rejects bad host:port values and out-of-range ports', () => {
    const withFlag = (flag: string, value: string): string =>
      configError({ argv: [...minimalFlags, flag, value] }).message;
    expect(withFlag('--client-listen', '127.0.0.1')).toBe('--client-listen (flag): "127.0.0.1" is not host:port (the port is missing)');
    expect(withFlag('--peer-listen', '127.0.0.1:70000')).toBe('--peer-listen (flag): the port 70000 in "127.0.0.1:70000" is out of range (1–65535)');
    expect(withFlag('--peer-listen', 'bad host:1')).toMatch(/"bad host" .* is not a valid host name/);
    expect(withFlag('--peers', '1=127.0.0.1:0')).toBe('--peers (flag): member 1: the port 0 in "127.0.0.1:0" is out of range (1–65535)');
    expect(withFlag('--peers', '1=::1:8281')).toMatch(/write IPv6 addresses as \[::1\]:port/);
  });

  it('accepts host names for peers, as docker compose gives them (service names), beside a wildcard listener', () => {
    const config = loadConfig({
      env: {
        VIGIL_ID: '2', VIGIL_DATA_DIR: '/var/lib/vigil', VIGIL_CLIENT_LISTEN: '0.0.0.0:8181', VIGIL_PEER_LISTEN: '0.0.0.0:8281',
        VIGIL_PEERS: '1=node1:8281,2=node2:8281,3=vigil-node-3.vigil.svc.cluster.local:8281',
      },
    });
    expect(config.peerListen).toEqual({ host: '0.0.0.0', port: 8281 });
    expect([...config.peers]).toEqual([
      [1, { host: 'node1', port: 8281 }],
      [2, { host: 'node2', port: 8281 }],
      [3, { host: 'vigil-node-3.vigil.svc.cluster.local', port: 8281 }],
    ]);
  });

  it('accepts port 0 for the client listener, so tests can ask for a free port', () => {
    expect(loadConfig({ argv: [...minimalFlags, '--client-listen', '127.0.0.1:0'] }).clientListen.port).toBe(0);
  });

  it('rejects an id that is not among the peers', () => {
    expect(configError({ argv: [...minimalFlags, '--id', '4'] }).message)
      .toBe('--peers (flag) must contain this member\'s id 4 (from --id (flag))');
  });

  it('rejects duplicate member ids and duplicate addresses', () => {
    expect(configError({ argv: [...minimalFlags, '--peers', '1=h:1,1=h:2'] }).message).toBe('--peers (flag): member 1 appears twice');
    expect(configError({ argv: [...minimalFlags, '--peers', '1=127.0.0.1:8281,2=127.0.0.1:8281'] }).message)
      .toBe('--peers (flag): members 1 and 2 have the same address 127.0.0.1:8281');
    expect(configError({ argv: [...minimalFlags, '--client-listen', '127.0.0.1:8281'] }).message)
      .toBe('--client-listen (flag) and --peer-listen (flag) are the same address 127.0.0.1:8281');
  });

  it('rejects election ticks not greater than heartbeat ticks', () => {
    expect(configError({ argv: [...minimalFlags, '--election-ticks', '3'], env: { VIGIL_HEARTBEAT_TICKS: '3' } }).message)
      .toBe('--election-ticks (flag) = 3 must be greater than VIGIL_HEARTBEAT_TICKS (env) = 3');
    expect(configError({ argv: [...minimalFlags, '--heartbeat-ticks', '10'] }).message)
      .toBe('electionTicks (default) = 10 must be greater than --heartbeat-ticks (flag) = 10');
  });

  it('rejects an unknown log level, a bad boolean and a bad cluster id', () => {
    expect(configError({ argv: [...minimalFlags, '--log-level', 'verbose'] }).message)
      .toBe('--log-level (flag): must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"');
    expect(configError({ argv: minimalFlags, env: { VIGIL_JOIN: 'maybe' } }).message)
      .toBe('VIGIL_JOIN (env): must be true or false, got "maybe"');
    expect(configError({ argv: [...minimalFlags, '--cluster-id', 'a b'] }).message).toMatch(/^--cluster-id \(flag\): must be 1–64 letters/);
  });

  it('reports every problem at once', () => {
    const { problems } = configError({ argv: ['--id', '0', '--tick-ms=-1'] });
    expect(problems.map((p) => p.setting)).toEqual(['id', 'dataDir', 'clientListen', 'peerListen', 'peers', 'tickMs']);
  });

  it('rejects a missing file, an unknown extension, malformed YAML and a non-object document', () => {
    expect(configError({ argv: ['--config', join(dir, 'none.yaml')] }).message)
      .toBe(`config file ${join(dir, 'none.yaml')} (named by --config (flag)): no such file`);
    expect(configError({ env: { VIGIL_CONFIG: file('x.toml', '') } }).message).toMatch(/named by VIGIL_CONFIG \(env\)\): unknown format ".toml"/);
    expect(configError({ file: file('bad.yaml', 'id: [1\n') }).message).toMatch(/is not valid YAML/);
    expect(configError({ file: file('dup.yaml', 'id: 1\nid: 2\n') }).message).toMatch(/is not valid YAML/);
    expect(configError({ file: file('list.json', '[1, 2]') }).message).toMatch(/must hold an object of settings/);
  });
});

describe('loadConfig: TLS and the admin address', () => {
  const pem = (name: string): string => file(name, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');

  it('leaves TLS and the admin address off when none of their settings is given', () => {
    const config = loadConfig({ argv: minimalFlags });
    expect('tlsCert' in config || 'tlsKey' in config || 'tlsCa' in config || 'adminListen' in config).toBe(false);
  });

  it('takes the three TLS files and the admin address from flags, env and file alike', () => {
    const [cert, key, ca] = [pem('node.pem'), pem('node-key.pem'), pem('ca.pem')];
    const config = loadConfig({
      argv: [...minimalFlags, '--tls-cert', cert, '--admin-listen', '127.0.0.1:9181'],
      env: { VIGIL_TLS_KEY: key },
      file: file('tls.json', JSON.stringify({ tlsCa: ca })),
    });
    expect(config).toMatchObject({ tlsCert: cert, tlsKey: key, tlsCa: ca, adminListen: { host: '127.0.0.1', port: 9181 } });
  });

  it('refuses one or two of the TLS files without the others, naming what is missing', () => {
    const { message, problems } = configError({ argv: [...minimalFlags, '--tls-cert', pem('only.pem')] });
    expect(message).toBe('TLS needs all three of --tls-cert, --tls-key and --tls-ca, or none: --tls-cert (flag) set, --tls-key, --tls-ca missing');
    expect(problems).toEqual([expect.objectContaining({ setting: 'tlsCert', source: 'flag' })]);
    expect(configError({ argv: minimalFlags, env: { VIGIL_TLS_KEY: pem('k.pem'), VIGIL_TLS_CA: pem('c.pem') } }).message)
      .toBe('TLS needs all three of --tls-cert, --tls-key and --tls-ca, or none: VIGIL_TLS_KEY (env), VIGIL_TLS_CA (env) set, --tls-cert missing');
  });

  it('refuses TLS files that cannot be read, each with its reason', () => {
    const missing = join(dir, 'missing.pem');
    const { message, problems } = configError({ argv: [...minimalFlags, '--tls-cert', missing, '--tls-key', dir, '--tls-ca', pem('ca2.pem')] });
    expect(message).toBe(`--tls-cert (flag): cannot read "${missing}": no such file; --tls-key (flag): "${dir}" is not a file`);
    expect(problems.map((p) => p.setting)).toEqual(['tlsCert', 'tlsKey']);
  });

  it('refuses an admin address equal to the client or peer address', () => {
    expect(configError({ argv: [...minimalFlags, '--admin-listen', '127.0.0.1:8181'] }).message)
      .toBe('--admin-listen (flag) and --client-listen (flag) are the same address 127.0.0.1:8181');
    expect(configError({ argv: [...minimalFlags, '--admin-listen', 'nowhere'] }).message).toMatch(/^--admin-listen \(flag\): /);
  });
});
