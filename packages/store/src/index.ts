// @vigil/store — the znode tree as a deterministic, LevelDB-backed state machine (docs/design.md).

// Opening and closing a store; the database port it needs.
export { Store, openStore } from './store.js';
export type { StoreOptions, OpenStoreOptions } from './store.js';
export type { StoreDatabase, StoreChainedBatch, StoreIterator } from './store-database.js';
export type { Logger } from './logger.js';

// What the Raft driver feeds to `apply`, and how it travels in a log entry.
export type {
  Entry,
  Command,
  CommandType,
  Op,
  CreateOp,
  SetOp,
  DeleteOp,
  CheckOp,
  MultiCommand,
  SessionOpenCommand,
  SessionHeartbeatCommand,
  SessionCloseCommand,
  SessionExpireCommand,
  SweepCommand,
  NoopCommand,
  SetAclCommand,
  UserPutCommand,
  UserDeleteCommand,
} from './command.js';
export { encodeCommand, decodeCommand } from './command-codec.js';

// What `apply` and the reads return.
export type { Applied, CommandResult, CommandValue, OpResult, OpError, Result } from './result.js';
export type { ChildrenOptions, ChildrenPage } from './znode-tree.js';
export type { Stat, CreateMode } from './znode.js';
export { createModes } from './znode.js';
export type { SessionInfo, SessionRecord, SessionReply } from './session.js';

// Access control: ACLs on znodes, checked against the caller a write carries or a read names.
export { perms, permsAll, permLetters, permsText, permsOfText, aclSchemes, aclEntriesMax, aclProblem, openAcl, userNamePattern, digestId, callerDigestsMax } from './acl.js';
export type { Acl, AclEntry, AclEntryInput, AclScheme, Caller } from './acl.js';
// Users: replicated identities (a secret's hash and admin roles).
export { roles, isUserName, userProblem, userHashBytesMax } from './user.js';
export type { Role, UserRecord } from './user.js';

// Watch events and the bounded history persistent watches resume from.
export type { WatchEvent, WatchEventKind } from './watch-event.js';
export type { EventsSince } from './watch-history.js';

// Errors: results carry a code; StoreError is the thrown form.
export { StoreError, errorCodes } from './errors.js';
export type { ErrorCode } from './errors.js';

// Paths and limits shared with the server.
export { pathProblem, isValidPath, parentOf, nameOf, joinPath, compareCodePoints } from './path.js';
export {
  dataBytesMax,
  pathBytesMax,
  multiOpsMax,
  sweepPathsMax,
  heartbeatSessionsMax,
  sessionSecretBytesMax,
  sessionTimeoutMsMax,
  ttlMsMax,
  applyEntriesMax,
  watchHistoryEventsMax,
  watchHistoryBytesMax,
  snapshotChunkBytesMax,
  childrenPageMax,
  sequenceDigits,
  sequenceMax,
  sessionRepliesMax,
} from './constants.js';
