/**
 * @vigil/server — the Vigil node process.
 *
 * ```ts
 * const config = loadConfig({ argv: process.argv.slice(2), env: process.env });
 * const node = await startNode(config);     // data dir → LevelDB → store → Raft → peers → HTTP
 * await node.close();                       // graceful: hand leadership away, finish, close
 * ```
 *
 * Parts, by folder: `config/` (flags, env, file; validation), `storage/` (durable Raft log,
 * snapshot files, data-dir identity), `consensus/` (the Raft driver: Ready loop, apply,
 * proposals, reads, snapshots), `transport/` (peer mesh over WebSocket), `tls/` (certificates,
 * their reload, who a client certificate names), `admin/` (admin HTTP and metrics), `http-api/`
 * (the JSON znode API), `security/` (secret hashes, authentication, the failure limiter),
 * `gateway/` (client connections: sessions, ordering, watches, over a channel), `zookeeper/`
 * (ZooKeeper's wire protocol: the jute codec, its records, a channel under the gateway and the
 * listener with its four-letter words), `node/` (composition and logging).
 *
 * A process that only runs a node imports `@vigil/server/start` (start.ts): the same `loadConfig`
 * and `startNode`, without loading the admin API's fastify until an HTTP request needs it.
 */

// Running a node.
export { startNode } from './node/vigil-node.js';
export type { StartNodeOptions, VigilNode } from './node/vigil-node.js';
export { createRootLogger, silentLogger } from './node/logger.js';
export type { Logger } from './node/logger.js';

// Configuration.
export * from './config/index.js';

// TLS: the credentials a node reloads when their files change, and who a client certificate names.
export { verifiedClientName, isMemberCertificate, readTlsMaterial, TlsCredentials, tlsFilesPollMs, serverAuthOid } from './tls/tls-credentials.js';
export type { TlsFilePaths, TlsMaterial } from './tls/tls-credentials.js';

// Errors.
export { ServerError, serverErrorCatalogue, isServerError } from './errors.js';
export type { ServerErrorCode } from './errors.js';

// Security (docs/security.md): secrets are stored only as scrypt hashes; who a client is.
export { hashSecret, verifySecret, parseSecretHash } from './security/secret-hash.js';
export { Authenticator, superuserName, clientAddress } from './security/authenticator.js';
export type { Identity, Credentials, Authenticated, AuthenticatorOptions } from './security/authenticator.js';
export { AuthFailures } from './security/auth-failures.js';

// ZooKeeper's wire protocol (docs/zookeeper-compatibility.md): the codec, for tests and tools.
export { JuteError, JuteReader, JuteWriter } from './zookeeper/jute.js';
export * from './zookeeper/zk-wire.js';
export { ZooKeeperListener, zooKeeperVersion } from './zookeeper/zk-listener.js';
export type { ZooKeeperStatus, ZooKeeperListenerOptions } from './zookeeper/zk-listener.js';

// Admin HTTP and metrics (the node wires them; exported for tools and tests).
export * from './admin/index.js';

// The pieces a node is made of, for tests and embedding.
export { RaftDriver } from './consensus/raft-driver.js';
export type { DriverObserver, DriverOptions } from './consensus/raft-driver.js';
export { RaftStorage } from './storage/raft-storage.js';
export { prepareDataDir } from './storage/data-dir.js';

// Backups: the file `GET /admin/snapshot` serves, and an offline restore into a new member's data dir.
export { backupMagic, backupHeaderBytesMax, decodeBackupHeader, encodeBackupHeader, readBackupFile } from './storage/backup-file.js';
export type { BackupHeader } from './storage/backup-file.js';
export { restoreDataDir } from './storage/restore-data-dir.js';
export type { RestoreDataDirOptions, RestoredDataDir } from './storage/restore-data-dir.js';
export { PeerTransport } from './transport/peer-transport.js';
export type { PeerAddress, PeerTransportOptions } from './transport/peer-transport.js';
export { registerZnodeRoutes } from './http-api/znode-routes.js';
export type { ZnodeApiPort } from './http-api/znode-routes.js';

// The fault suite's known-bad switch: deliberate bugs, test-only, read from VIGIL_KNOWN_BAD by `vigil server`.
export { knownBadEnv, knownBugs, knownBadFromEnv } from './testing/known-bad.js';
export type { KnownBug } from './testing/known-bad.js';
// Power loss for real processes (test-only, VIGIL_POWER_LOSS): every restart loses what was not synced.
export { powerLossEnv, powerLossFromEnv, powerLossJournalFile, PowerLossJournal } from './testing/power-loss.js';
// Crash points (test-only, VIGIL_CRASH_AT): a member kills itself where recovery has the most to do.
export { crashAtEnv, crashPoints, crashPointsFromEnv } from './testing/crash-points.js';
export type { CrashPoint } from './testing/crash-points.js';
