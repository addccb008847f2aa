import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { parseSecretHash } from '../security/secret-hash.js';
import { sessionTimeoutMsMax, sessionTimeoutMsMin, watchesPerSessionMax as protocolWatchesPerSessionMax } from '@vigil/protocol';
import { ServerError } from '../errors.js';
import { formatHostPort, parseHostPort, sameHostPort, type HostPort } from './host-port.js';
import {
  clusterIdBytesMax,
  configFileEnv,
  configFileFlag,
  configSettings,
  electionTicksMax,
  logLevels,
  peersMax,
  sessionsMaxMax,
  clientRequestsPerSecondMax,
  ephemeralsPerSessionMaxMax,
  shutdownTimeoutMsMax,
  tickMsMax,
  type ConfigKey,
  type ConfigSetting,
  type LogLevel,
  type NodeConfig,
} from './node-config.js';

export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

export interface ConfigSources {
  /** Command-line arguments after the subcommand, e.g. `['--id', '1', '--join']`. */
  readonly argv?: readonly string[];
  /** The environment; only `VIGIL_*` variables are read. The caller passes `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A config file path, used when neither `--config` nor `VIGIL_CONFIG` names one. */
  readonly file?: string;
}

/** One thing wrong with the configuration, as reported in the error's `details.problems`. */
export interface ConfigProblem {
  /** The camelCase setting, or the unknown name as written. */
  readonly setting: string;
  readonly source: ConfigSource;
  readonly message: string;
}

/** Files larger than this are certainly not a node configuration. */
export const configFileBytesMax = 1024 * 1024;

interface Origin {
  readonly source: ConfigSource;
  /** How the user wrote it: `--tick-ms`, `VIGIL_TICK_MS`, `tickMs in ./vigil.yaml`. */
  readonly name: string;
}

interface RawValue {
  readonly value: unknown;
  readonly origin: Origin;
}

const settingsByKey = new Map<ConfigKey, ConfigSetting>(configSettings.map((s) => [s.key, s]));
const settingsByFlag = new Map<string, ConfigSetting>(configSettings.map((s) => [s.flag, s]));

/**
 * Builds the node configuration from defaults < file < env `VIGIL_*` < flags, and validates it.
 * Pure apart from reading the config file: the caller passes argv and env. Every problem found is
 * reported at once in one `ServerError('CONFIG_INVALID')`, each naming the setting, where the
 * value came from and what is wrong.
 */
export function loadConfig(sources: ConfigSources): NodeConfig {
  const problems: ConfigProblem[] = [];
  const raw = new Map<ConfigKey, RawValue>();

  const flags = readFlags(sources.argv ?? [], problems);
  const env = sources.env ?? {};
  const envValues = readEnv(env);

  const filePath = flags.configFile ?? nonEmpty(env[configFileEnv]) ?? sources.file;
  if (filePath !== undefined) {
    const namedBy: ConfigSource = flags.configFile !== undefined ? 'flag' : nonEmpty(env[configFileEnv]) !== undefined ? 'env' : 'file';
    for (const [key, value] of readFile(filePath, namedBy, problems)) raw.set(key, value);
  }
  for (const [key, value] of envValues) raw.set(key, value);
  for (const [key, value] of flags.values) raw.set(key, value);

  throwIfAny(problems);
  const config = validate(raw, problems);
  throwIfAny(problems);
  if (config === undefined) throw new ServerError('CONFIG_INVALID');
  return config;
}

/** A JSON-friendly view of a config, for the startup log line and `/status`-like output. */
export function configToJson(config: NodeConfig): Record<string, unknown> {
  return {
    ...config,
    clientListen: formatHostPort(config.clientListen),
    peerListen: formatHostPort(config.peerListen),
    ...(config.adminListen === undefined ? {} : { adminListen: formatHostPort(config.adminListen) }),
    ...(config.zookeeperListen === undefined ? {} : { zookeeperListen: formatHostPort(config.zookeeperListen) }),
    peers: Object.fromEntries([...config.peers].map(([id, address]) => [String(id), formatHostPort(address)])),
  };
}

function throwIfAny(problems: readonly ConfigProblem[]): void {
  if (problems.length === 0) return;
  const message = problems.map((p) => p.message).join('; ');
  throw new ServerError('CONFIG_INVALID', message, { problems });
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === '' ? undefined : text;
}

function describe(origin: Origin): string {
  return origin.source === 'default' ? `${origin.name} (default)` : `${origin.name} (${origin.source})`;
}

// ---------------------------------------------------------------------------------------------
// Sources

function readFlags(
  argv: readonly string[],
  problems: ConfigProblem[],
): { values: Map<ConfigKey, RawValue>; configFile?: string } {
  const values = new Map<ConfigKey, RawValue>();
  const options = {
    [configFileFlag]: { type: 'string' },
    ...Object.fromEntries(configSettings.map((s) => [s.flag, { type: s.kind === 'boolean' ? 'boolean' : 'string' } as const])),
  } as const;
  // parseArgs' own message for an unknown flag is about positionals; ours names the flag and
  // suggests the closest one. A lenient pass finds the option tokens (not the values).
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === configFileFlag || settingsByFlag.has(token.name)) continue;
    const closest = closestName(token.name, [...settingsByFlag.keys(), configFileFlag]);
    problems.push({
      setting: token.rawName,
      source: 'flag',
      message: `unknown flag ${token.rawName}${closest === undefined ? '' : ` (did you mean --${closest}?)`}`,
    });
  }
  if (problems.length > 0) return { values };

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message.replace(/^Option /, 'flag ') : String(err);
    problems.push({ setting: 'argv', source: 'flag', message: message.charAt(0).toLowerCase() + message.slice(1) });
    return { values };
  }
  for (const setting of configSettings) {
    const value = parsed.values[setting.flag];
    if (value !== undefined) values.set(setting.key, { value, origin: { source: 'flag', name: `--${setting.flag}` } });
  }
  const configFile = parsed.values[configFileFlag];
  return typeof configFile === 'string' ? { values, configFile } : { values };
}

function readEnv(env: Readonly<Record<string, string | undefined>>): Map<ConfigKey, RawValue> {
  // Unknown VIGIL_* variables are not errors: the environment is shared with other commands
  // (the shell's VIGIL_ENDPOINTS, for one). Empty values count as unset, as compose files
  // often write `VIGIL_JOIN=${JOIN:-}`.
  const values = new Map<ConfigKey, RawValue>();
  for (const setting of configSettings) {
    const value = nonEmpty(env[setting.env]);
    if (value !== undefined) values.set(setting.key, { value, origin: { source: 'env', name: setting.env } });
  }
  return values;
}

function readFile(path: string, namedBy: ConfigSource, problems: ConfigProblem[]): Map<ConfigKey, RawValue> {
  const values = new Map<ConfigKey, RawValue>();
  const via = namedBy === 'flag' ? `named by --${configFileFlag} (flag)` : namedBy === 'env' ? `named by ${configFileEnv} (env)` : 'file';
  const fail = (message: string): Map<ConfigKey, RawValue> => {
    problems.push({ setting: 'config', source: namedBy, message: `config file ${path} (${via}): ${message}` });
    return values;
  };
  const extension = extname(path).toLowerCase();
  if (extension !== '.json' && extension !== '.yaml' && extension !== '.yml') {
    return fail(`unknown format "${extension || '(no extension)'}"; use .json, .yaml or .yml`);
  }
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.byteLength > configFileBytesMax) return fail(`larger than ${configFileBytesMax} bytes`);
    text = bytes.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(err)})`);
  }
  let document: unknown;
  try {
    document = extension === '.json' ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    return fail(`is not valid ${extension === '.json' ? 'JSON' : 'YAML'}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
  if (document === null || document === undefined) return values; // an empty file sets nothing
  if (typeof document !== 'object' || Array.isArray(document)) return fail('must hold an object of settings at the top level');
  for (const [key, value] of Object.entries(document)) {
    const setting = settingsByKey.get(key as ConfigKey);
    if (setting === undefined) {
      const closest = closestName(key, [...settingsByKey.keys()]);
      problems.push({
        setting: key,
        source: 'file',
        message: `unknown key ${key} in ${path} (file)${closest === undefined ? '' : ` (did you mean ${closest}?)`}`,
      });
      continue;
    }
    values.set(setting.key, { value, origin: { source: 'file', name: `${key} in ${path}` } });
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// Validation

function validate(raw: ReadonlyMap<ConfigKey, RawValue>, problems: ConfigProblem[]): NodeConfig | undefined {
  const origins = new Map<ConfigKey, Origin>();
  const report = (key: ConfigKey, origin: Origin, message: string): undefined => {
    problems.push({ setting: key, source: origin.source, message: `${describe(origin)}: ${message}` });
    return undefined;
  };

  const get = <T>(key: ConfigKey, parse: (value: unknown, fail: (message: string) => undefined) => T | undefined): T | undefined => {
    const setting = settingsByKey.get(key);
    const entry = raw.get(key) ?? (setting?.defaultValue === undefined
      ? undefined
      : { value: setting.defaultValue, origin: { source: 'default', name: key } satisfies Origin });
    if (entry === undefined) {
      if (setting !== undefined && setting.optional !== true) {
        problems.push({
          setting: key,
          source: 'default',
          message: `${key} is required: pass --${setting.flag}, set ${setting.env}, or put ${key} in the config file`,
        });
      }
      return undefined;
    }
    origins.set(key, entry.origin);
    return parse(entry.value, (message) => report(key, entry.origin, message));
  };

  const id = get('id', integer(1, Number.MAX_SAFE_INTEGER));
  const clusterId = get('clusterId', clusterName);
  const dataDir = get('dataDir', path);
  const clientListen = get('clientListen', hostPort(0));
  const peerListen = get('peerListen', hostPort(1));
  const peers = get('peers', peerMap);
  const join = get('join', boolean);
  const logLevel = get('logLevel', level);
  const tickMs = get('tickMs', integer(1, tickMsMax));
  const electionTicks = get('electionTicks', integer(2, electionTicksMax));
  const heartbeatTicks = get('heartbeatTicks', integer(1, electionTicksMax));
  const snapshotEveryEntries = get('snapshotEveryEntries', integer(1, Number.MAX_SAFE_INTEGER));
  const logTrailingEntries = get('logTrailingEntries', integer(0, Number.MAX_SAFE_INTEGER));
  const shutdownTimeoutMs = get('shutdownTimeoutMs', integer(1, shutdownTimeoutMsMax));
  const sessionTimeoutMinMs = get('sessionTimeoutMinMs', integer(sessionTimeoutMsMin, sessionTimeoutMsMax));
  const sessionTimeoutMaxMs = get('sessionTimeoutMaxMs', integer(sessionTimeoutMsMin, sessionTimeoutMsMax));
  const watchHistoryEvents = get('watchHistoryEvents', integer(1, 10_000_000));
  const watchHistoryBytes = get('watchHistoryBytes', integer(1024, 64 * 1024 * 1024 * 1024));
  const requestTimeoutMs = get('requestTimeoutMs', integer(100, 600_000));
  const sessionsMax = get('sessionsMax', integer(1, sessionsMaxMax));
  const clientRequestsPerSecond = get('clientRequestsPerSecond', integer(1, clientRequestsPerSecondMax));
  const ephemeralsPerSessionMax = get('ephemeralsPerSessionMax', integer(1, ephemeralsPerSessionMaxMax));
  const watchesPerSessionMax = get('watchesPerSessionMax', integer(1, protocolWatchesPerSessionMax));
  const auth = get('auth', boolean);
  const superuserHash = get('superuserHash', secretHash);
  // Optional: undefined when absent (the feature is off) or invalid (a problem is reported).
  const adminListen = get('adminListen', hostPort(0));
  const zookeeperListen = get('zookeeperListen', hostPort(0));
  const tlsCert = get('tlsCert', readablePath);
  const tlsKey = get('tlsKey', readablePath);
  const tlsCa = get('tlsCa', readablePath);

  const origin = (key: ConfigKey): string => describe(origins.get(key) ?? { source: 'default', name: key });
  const crossProblem = (key: ConfigKey, message: string): void => {
    problems.push({ setting: key, source: origins.get(key)?.source ?? 'default', message });
  };

  if (electionTicks !== undefined && heartbeatTicks !== undefined && electionTicks <= heartbeatTicks) {
    crossProblem('electionTicks', `${origin('electionTicks')} = ${electionTicks} must be greater than ${origin('heartbeatTicks')} = ${heartbeatTicks}`);
  }
  if (sessionTimeoutMinMs !== undefined && sessionTimeoutMaxMs !== undefined && sessionTimeoutMinMs > sessionTimeoutMaxMs) {
    crossProblem('sessionTimeoutMinMs', `${origin('sessionTimeoutMinMs')} = ${sessionTimeoutMinMs} must not exceed ${origin('sessionTimeoutMaxMs')} = ${sessionTimeoutMaxMs}`);
  }
  if (id !== undefined && peers !== undefined && !peers.has(id)) {
    crossProblem('peers', `${origin('peers')} must contain this member's id ${id} (from ${origin('id')})`);
  }
  if (clientListen !== undefined && peerListen !== undefined && sameHostPort(clientListen, peerListen)) {
    crossProblem('clientListen', `${origin('clientListen')} and ${origin('peerListen')} are the same address ${formatHostPort(peerListen)}`);
  }
  for (const other of ['clientListen', 'peerListen'] as const) {
    const address = other === 'clientListen' ? clientListen : peerListen;
    if (adminListen !== undefined && address !== undefined && sameHostPort(adminListen, address)) {
      crossProblem('adminListen', `${origin('adminListen')} and ${origin(other)} are the same address ${formatHostPort(address)}`);
    }
  }
  for (const other of ['clientListen', 'peerListen', 'adminListen'] as const) {
    const address = other === 'clientListen' ? clientListen : other === 'peerListen' ? peerListen : adminListen;
    if (zookeeperListen !== undefined && address !== undefined && sameHostPort(zookeeperListen, address)) {
      crossProblem('zookeeperListen', `${origin('zookeeperListen')} and ${origin(other)} are the same address ${formatHostPort(address)}`);
    }
  }
  const tlsKeys = ['tlsCert', 'tlsKey', 'tlsCa'] as const;
  const tlsGiven = tlsKeys.filter((key) => raw.has(key));
  if (tlsGiven.length > 0 && tlsGiven.length < tlsKeys.length) {
    const missing = tlsKeys.filter((key) => !raw.has(key)).map((key) => `--${settingsByKey.get(key)?.flag ?? key}`);
    crossProblem(tlsGiven[0] ?? 'tlsCert', `TLS needs all three of --tls-cert, --tls-key and --tls-ca, or none: ${tlsGiven.map(origin).join(', ')} set, ${missing.join(', ')} missing`);
  }
  if (
    id === undefined || clusterId === undefined || dataDir === undefined || clientListen === undefined ||
    peerListen === undefined || peers === undefined || join === undefined || logLevel === undefined ||
    tickMs === undefined || electionTicks === undefined || heartbeatTicks === undefined ||
    snapshotEveryEntries === undefined || logTrailingEntries === undefined || shutdownTimeoutMs === undefined ||
    sessionTimeoutMinMs === undefined || sessionTimeoutMaxMs === undefined || watchHistoryEvents === undefined ||
    watchHistoryBytes === undefined || requestTimeoutMs === undefined || sessionsMax === undefined ||
    clientRequestsPerSecond === undefined || ephemeralsPerSessionMax === undefined || watchesPerSessionMax === undefined ||
    auth === undefined || superuserHash === undefined
  ) {
    return undefined;
  }
  return {
    id, clusterId, dataDir, clientListen, peerListen, peers, join, logLevel,
    tickMs, electionTicks, heartbeatTicks, snapshotEveryEntries, logTrailingEntries, shutdownTimeoutMs,
    sessionTimeoutMinMs, sessionTimeoutMaxMs, watchHistoryEvents, watchHistoryBytes, requestTimeoutMs, sessionsMax,
    clientRequestsPerSecond, ephemeralsPerSessionMax, watchesPerSessionMax, auth, superuserHash,
    ...(adminListen === undefined ? {} : { adminListen }),
    ...(zookeeperListen === undefined ? {} : { zookeeperListen }),
    ...(tlsCert === undefined || tlsKey === undefined || tlsCa === undefined ? {} : { tlsCert, tlsKey, tlsCa }),
  };
}

function secretHash(value: unknown, fail: (message: string) => undefined): string | undefined {
  if (typeof value !== 'string') return fail(`must be a string, got ${shown(value)}`);
  if (value === '') return value;
  const parsed = parseSecretHash(value);
  return typeof parsed === 'string' ? fail(parsed) : value;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value) ?? String(value);
}

function integer(min: number, max: number) {
  return (value: unknown, fail: (message: string) => undefined): number | undefined => {
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n)) {
      const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer`;
      return fail(`must be ${what}, got ${shown(value)}`);
    }
    if (n < min || n > max) return fail(`must be between ${min} and ${max}, got ${n}`);
    return n;
  };
}

function clusterName(value: unknown, fail: (message: string) => undefined): string | undefined {
  if (typeof value !== 'string') return fail(`must be a string, got ${shown(value)}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) || value.length > clusterIdBytesMax) {
    return fail(`must be 1–${clusterIdBytesMax} letters, digits, '.', '_' or '-' starting with a letter or digit, got ${shown(value)}`);
  }
  return value;
}

function path(value: unknown, fail: (message: string) => undefined): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return fail(`must be a non-empty path, got ${shown(value)}`);
  return value;
}

/** A path to a file this process can read now (its contents are checked where they are used). */
function readablePath(value: unknown, fail: (message: string) => undefined): string | undefined {
  const given = path(value, fail);
  if (given === undefined) return undefined;
  try {
    if (!statSync(given).isFile()) return fail(`${shown(given)} is not a file`);
    closeSync(openSync(given, 'r'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(`cannot read ${shown(given)}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err))}`);
  }
  return given;
}

function hostPort(portMin: number) {
  return (value: unknown, fail: (message: string) => undefined): HostPort | undefined => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const { host, port, ...rest } = value as Record<string, unknown>;
      if (Object.keys(rest).length > 0 || typeof host !== 'string' || (typeof port !== 'number' && typeof port !== 'string')) {
        return fail(`must be "host:port" or { host, port }, got ${shown(value)}`);
      }
      value = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    }
    if (typeof value !== 'string') return fail(`must be "host:port", got ${shown(value)}`);
    const parsed = parseHostPort(value, { portMin });
    return typeof parsed === 'string' ? fail(parsed) : parsed;
  };
}

function peerMap(value: unknown, fail: (message: string) => undefined): ReadonlyMap<number, HostPort> | undefined {
  let pairs: (readonly [string, unknown])[];
  if (typeof value === 'string') {
    pairs = [];
    for (const item of value.split(',')) {
      if (item.trim() === '') continue;
      const eq = item.indexOf('=');
      if (eq < 0) return fail(`"${item.trim()}" is not id=host:port`);
      pairs.push([item.slice(0, eq).trim(), item.slice(eq + 1).trim()]);
    }
  } else if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    pairs = Object.entries(value);
  } else {
    return fail(`must be "id=host:port,…" or an object { "<id>": "host:port" }, got ${shown(value)}`);
  }
  if (pairs.length === 0) return fail('must name at least one member');
  if (pairs.length > peersMax) return fail(`names ${pairs.length} members; at most ${peersMax} are allowed`);
  const peers = new Map<number, HostPort>();
  for (const [idText, addressValue] of pairs) {
    if (!/^\d+$/.test(idText) || Number(idText) < 1 || !Number.isSafeInteger(Number(idText))) {
      return fail(`member id "${idText}" is not a positive integer`);
    }
    const id = Number(idText);
    if (peers.has(id)) return fail(`member ${id} appears twice`);
    if (typeof addressValue !== 'string') return fail(`member ${id}: address must be "host:port", got ${shown(addressValue)}`);
    const address = parseHostPort(addressValue);
    if (typeof address === 'string') return fail(`member ${id}: ${address}`);
    for (const [otherId, other] of peers) {
      if (sameHostPort(other, address)) return fail(`members ${otherId} and ${id} have the same address ${formatHostPort(address)}`);
    }
    peers.set(id, address);
  }
  return peers;
}

function boolean(value: unknown, fail: (message: string) => undefined): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) return true;
    if (['false', '0', 'no', 'off'].includes(text)) return false;
  }
  return fail(`must be true or false, got ${shown(value)}`);
}

function level(value: unknown, fail: (message: string) => undefined): LogLevel | undefined {
  if (typeof value === 'string' && (logLevels as readonly string[]).includes(value)) return value as LogLevel;
  return fail(`must be one of ${logLevels.join(', ')}, got ${shown(value)}`);
}

/** The known name closest to a misspelt one, if any is close enough to be a likely typo. */
function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
