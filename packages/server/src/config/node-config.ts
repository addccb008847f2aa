import { watchesPerSessionMax as protocolWatchesPerSessionMax } from '@vigil/protocol';
import type { HostPort } from './host-port.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

export interface NodeConfig {
  /** This member's id: a positive integer, unique in the cluster, never reused. */
  readonly id: number;
  /** Written into the data directory on first start; a node refuses a data dir of another cluster. */
  readonly clusterId: string;
  readonly dataDir: string;
  /** WebSocket clients and HTTP share this port (the admin routes too, unless `adminListen` is set). */
  readonly clientListen: HostPort;
  /** Where the admin routes (`/admin/...`) are served instead of the client port; absent: on the client port. */
  readonly adminListen?: HostPort;
  /** ZooKeeper's own TCP protocol (docs/zookeeper-compatibility.md) on this address; absent: not served. */
  readonly zookeeperListen?: HostPort;
  /** Raft peer transport. */
  readonly peerListen: HostPort;
  /** id → peer address of every member, including this one. */
  readonly peers: ReadonlyMap<number, HostPort>;
  /** true: join an existing cluster (start empty, wait to be added); false: founding member. */
  readonly join: boolean;
  readonly logLevel: LogLevel;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly snapshotEveryEntries: number;
  /** Log entries kept behind a snapshot, so that slightly lagging followers need no snapshot. */
  readonly logTrailingEntries: number;
  readonly shutdownTimeoutMs: number;
  /** Session timeouts are negotiated into [sessionTimeoutMinMs, sessionTimeoutMaxMs]. */
  readonly sessionTimeoutMinMs: number;
  readonly sessionTimeoutMaxMs: number;
  /** Watch events kept in memory for persistent watches that resume from a revision. */
  readonly watchHistoryEvents: number;
  /** The same history's bound in bytes (paths may be long; a bound in events alone does not bound memory). */
  readonly watchHistoryBytes: number;
  /** A client request not decided within this is answered TIMEOUT. */
  readonly requestTimeoutMs: number;
  /** Sessions this member serves at once; a further hello is refused TOO_MANY_SESSIONS. */
  readonly sessionsMax: number;
  /** Requests (pings aside) one client connection may send a second; more are answered TOO_MANY_REQUESTS. */
  readonly clientRequestsPerSecond: number;
  /** Ephemeral nodes one session may own; a write that would exceed it fails TOO_MANY_EPHEMERALS. */
  readonly ephemeralsPerSessionMax: number;
  /** Watches one session may hold on this member (at most the protocol's watchesPerSessionMax). */
  readonly watchesPerSessionMax: number;
  /** Every client must authenticate, and znode ACLs and admin roles are enforced (docs/security.md). */
  readonly auth: boolean;
  /** The superuser `super`'s secret as a `vigil hash-secret` hash; '' for no superuser. */
  readonly superuserHash: string;
  /**
   * PEM files: this member's certificate, its private key, and the cluster's CA. All three or
   * none; with them the client port (and the admin address) speak HTTPS/WSS and the peer port
   * mutual TLS (docs/operations.md, TLS). Re-read when they change.
   */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
}

export type ConfigKey = keyof NodeConfig;

/** How a setting's text is parsed and checked. */
export type ConfigValueKind =
  | 'positiveInteger'
  | 'nonNegativeInteger'
  | 'string'
  | 'path'
  | 'listenAddress'
  | 'peers'
  | 'boolean'
  | 'logLevel'
  | 'secretHash';

export interface ConfigSetting {
  readonly key: ConfigKey;
  /** Without the leading dashes. */
  readonly flag: string;
  readonly env: string;
  /** The placeholder shown in help, e.g. `<host:port>`; absent for boolean flags. */
  readonly valueName?: string;
  readonly kind: ConfigValueKind;
  readonly description: string;
  /** Absent for required and optional settings. */
  readonly defaultValue?: NodeConfig[ConfigKey];
  /** Without a default and not required: absent from the config unless given (the feature is off). */
  readonly optional?: true;
}

export const configDefaults = {
  clusterId: 'vigil',
  join: false,
  logLevel: 'info',
  // 50 ms ticks: heartbeats every 50 ms, elections after 500–1000 ms of silence, so a failover
  // completes in under a second on a healthy network (etcd defaults to 100 ms / 1 s).
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
  watchesPerSessionMax: protocolWatchesPerSessionMax,
  auth: false,
  superuserHash: '',
} as const satisfies Partial<NodeConfig>;

export const requiredConfigKeys = ['id', 'dataDir', 'clientListen', 'peerListen', 'peers'] as const satisfies readonly ConfigKey[];
/** Settings without a default that may be left out: the feature they configure is then off. */
export const optionalConfigKeys = ['adminListen', 'zookeeperListen', 'tlsCert', 'tlsKey', 'tlsCa'] as const satisfies readonly ConfigKey[];

/** Bounds that catch typos (a tick of a minute, a million election ticks) rather than tune. */
export const tickMsMax = 60_000;
export const electionTicksMax = 1_000;
export const shutdownTimeoutMsMax = 600_000;
export const clusterIdBytesMax = 64;
export const peersMax = 64;
/** A typo guard for `sessionsMax`, not a capacity. */
export const sessionsMaxMax = 10_000_000;
/** A typo guard for `ephemeralsPerSessionMax`. */
export const ephemeralsPerSessionMaxMax = 10_000_000;
/** A typo guard for `clientRequestsPerSecond`. */
export const clientRequestsPerSecondMax = 10_000_000;

function setting(
  key: ConfigKey,
  kind: ConfigValueKind,
  description: string,
  extra: { valueName?: string; defaultValue?: NodeConfig[ConfigKey]; optional?: true } = {},
): ConfigSetting {
  const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return { key, flag, env: `VIGIL_${flag.toUpperCase().replace(/-/g, '_')}`, kind, description, ...extra };
}

/**
 * Every setting once: the flag, env and file key are derived from the camelCase key
 * (`tickMs` ↔ `--tick-ms` ↔ `VIGIL_TICK_MS`), and help and docs are generated from this table.
 */
export const configSettings: readonly ConfigSetting[] = [
  setting('id', 'positiveInteger', 'this member\'s id (a positive integer, unique in the cluster)', { valueName: '<n>' }),
  setting('clusterId', 'string', 'cluster name, recorded in the data directory on first start', { valueName: '<name>', defaultValue: configDefaults.clusterId }),
  setting('dataDir', 'path', 'directory for the log, snapshots and the tree', { valueName: '<dir>' }),
  setting('clientListen', 'listenAddress', 'address for WebSocket clients and HTTP (admin routes too, unless --admin-listen is set)', { valueName: '<host:port>' }),
  setting('adminListen', 'listenAddress', 'serve the admin routes (/admin/...) on this address only, not on the client port', { valueName: '<host:port>', optional: true }),
  setting('zookeeperListen', 'listenAddress', 'also serve ZooKeeper\'s wire protocol (3.5-3.9 clients) on this address', { valueName: '<host:port>', optional: true }),
  setting('peerListen', 'listenAddress', 'address for the Raft peer transport', { valueName: '<host:port>' }),
  setting('peers', 'peers', 'every member\'s peer address, this one included', { valueName: '<id=host:port,…>' }),
  setting('join', 'boolean', 'join an existing cluster (start empty and wait to be added) instead of founding one', { defaultValue: configDefaults.join }),
  setting('logLevel', 'logLevel', `log level: ${logLevels.join(', ')}`, { valueName: '<level>', defaultValue: configDefaults.logLevel }),
  setting('tickMs', 'positiveInteger', 'length of one Raft tick in milliseconds', { valueName: '<ms>', defaultValue: configDefaults.tickMs }),
  setting('electionTicks', 'positiveInteger', 'election timeout in ticks (randomized up to twice this)', { valueName: '<n>', defaultValue: configDefaults.electionTicks }),
  setting('heartbeatTicks', 'positiveInteger', 'leader heartbeat interval in ticks', { valueName: '<n>', defaultValue: configDefaults.heartbeatTicks }),
  setting('snapshotEveryEntries', 'positiveInteger', 'take a snapshot after this many applied entries (or a quarter of the tree\'s records, if more)', { valueName: '<n>', defaultValue: configDefaults.snapshotEveryEntries }),
  setting('logTrailingEntries', 'nonNegativeInteger', 'log entries kept behind a snapshot', { valueName: '<n>', defaultValue: configDefaults.logTrailingEntries }),
  setting('sessionTimeoutMinMs', 'positiveInteger', 'lowest session timeout granted to a client', { valueName: '<ms>', defaultValue: configDefaults.sessionTimeoutMinMs }),
  setting('sessionTimeoutMaxMs', 'positiveInteger', 'highest session timeout granted to a client', { valueName: '<ms>', defaultValue: configDefaults.sessionTimeoutMaxMs }),
  setting('watchHistoryEvents', 'positiveInteger', 'watch events kept for persistent watches resuming from a revision', { valueName: '<n>', defaultValue: configDefaults.watchHistoryEvents }),
  setting('watchHistoryBytes', 'positiveInteger', 'bytes the kept watch events may take (64 bytes plus two per path character each)', { valueName: '<bytes>', defaultValue: configDefaults.watchHistoryBytes }),
  setting('requestTimeoutMs', 'positiveInteger', 'a client request not decided within this is answered TIMEOUT', { valueName: '<ms>', defaultValue: configDefaults.requestTimeoutMs }),
  setting('sessionsMax', 'positiveInteger', 'sessions this member serves at once; a client beyond them is refused TOO_MANY_SESSIONS at its hello (the SDK tries another member)', { valueName: '<n>', defaultValue: configDefaults.sessionsMax }),
  setting('clientRequestsPerSecond', 'positiveInteger', 'requests one client connection may send a second, in bursts of up to as many (pings are not counted); more are answered TOO_MANY_REQUESTS', { valueName: '<n>', defaultValue: configDefaults.clientRequestsPerSecond }),
  setting('ephemeralsPerSessionMax', 'positiveInteger', 'ephemeral nodes one session may own; a create (or multi) through this member that would exceed it fails TOO_MANY_EPHEMERALS', { valueName: '<n>', defaultValue: configDefaults.ephemeralsPerSessionMax }),
  setting('watchesPerSessionMax', 'positiveInteger', `watches one session may hold (one-shot and persistent; at most ${protocolWatchesPerSessionMax}, the protocol's bound); more are refused TOO_MANY_WATCHES`, { valueName: '<n>', defaultValue: configDefaults.watchesPerSessionMax }),
  setting('auth', 'boolean', 'require every client to authenticate (a user and secret, or a client certificate) and enforce znode ACLs and admin roles', { defaultValue: configDefaults.auth }),
  setting('superuserHash', 'secretHash', 'the superuser `super`\'s secret as made by `vigil hash-secret` (it passes every ACL and holds every admin role); empty: no superuser', { valueName: '<hash>', defaultValue: configDefaults.superuserHash }),
  setting('tlsCert', 'path', 'PEM file of this member\'s certificate: with --tls-key and --tls-ca, clients and admin speak HTTPS/WSS and peers mutual TLS', { valueName: '<file>', optional: true }),
  setting('tlsKey', 'path', 'PEM file of the private key of --tls-cert', { valueName: '<file>', optional: true }),
  setting('tlsCa', 'path', 'PEM file of the cluster\'s CA: peers must present a certificate it signed; clients may', { valueName: '<file>', optional: true }),
  setting('shutdownTimeoutMs', 'positiveInteger', 'how long a graceful shutdown may take before the node gives up', { valueName: '<ms>', defaultValue: configDefaults.shutdownTimeoutMs }),
];

/** `--config` / `VIGIL_CONFIG`: where the file comes from, not a setting itself. */
export const configFileFlag = 'config';
export const configFileEnv = 'VIGIL_CONFIG';
