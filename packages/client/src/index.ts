// @vigil/client — the TypeScript SDK of Vigil (docs/design.md; manual: docs/client.md). It speaks
// docs/protocol.md through @vigil/protocol, over the runtime's WebSocket (`ws` on Node 20).

// Opening a session: connect() resolves with a client in state 'connected'.
export { connect, VigilClient } from './client.js';
export type { ConnectOptions } from './options.js';
// TLS for wss:// endpoints: connect({ endpoints, tls: { ca, cert?, key?, servername? } }).
export type { TlsOptions, Pem } from './options.js';

// Connection states, reported by client.on('state', …): connected | suspended | reconnected | expired | closed.
export type { ConnectionState } from './session.js';

// Per-call options: deadline and AbortSignal on every call, read consistency, create modes.
export type { CallOptions, ReadOptions, CreateOptions, WatchOptions, Data, MultiOp, MultiOpResult } from './client.js';

// Security (docs/client.md §2.1): ACLs on nodes (`create`'s `acl`, `getAcl`, `setAcl`), their
// permission bits and ZooKeeper's ready-made lists; `whoami` says who `connect({ auth })` made us.
export { aclPerms, acls } from './acl.js';
export type { AclEntry, AclScheme, Identity } from './acl.js';

// Watches: one-shot (get/exists/children with `watch`) events, persistent watch events and streams.
export type { WatchEvent, CompactedEvent, PersistentWatchEvent } from './watches.js';
export type { WatchStream } from './watch-stream.js';

// Errors: every failure is a VigilError with a code from one closed union (docs/protocol.md §9).
export { VigilError, isVigilError, errorCodes } from '@vigil/protocol';
export type { ErrorCode } from '@vigil/protocol';

// The data model, as the protocol defines it.
export type { Stat, CreateMode } from '@vigil/protocol';

// Recipes on the public API above: leader election, locks and more (docs/recipes.md).
export * from './recipes/index.js';
