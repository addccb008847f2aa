import { aclProblem, callerProblem, type AclEntryInput, type Caller } from './acl.js';
import { userProblem, type Role } from './user.js';
import { createModes, type CreateMode } from './znode.js';
import { heartbeatSessionsMax, multiOpsMax, sessionSecretBytesMax, sweepPathsMax } from './constants.js';

/** `version` absent or -1 means "any version", as in ZooKeeper. */
export interface CreateOp {
  readonly type: 'create';
  readonly path: string;
  readonly data: Uint8Array;
  readonly mode: CreateMode;
  /** Required for the TTL modes, absent otherwise. */
  readonly ttlMs?: number;
  /** Create missing ancestors as persistent nodes (ZooKeeper's creatingParentsIfNeeded), with the node's ACL. */
  readonly createParents?: boolean;
  /** The node's ACL; absent: `defaultAcl(caller)` (open without security, else the creator's alone). */
  readonly acl?: readonly AclEntryInput[];
}

export interface SetOp {
  readonly type: 'set';
  readonly path: string;
  readonly data: Uint8Array;
  readonly version?: number;
}

export interface DeleteOp {
  readonly type: 'delete';
  readonly path: string;
  readonly version?: number;
}

export interface CheckOp {
  readonly type: 'check';
  readonly path: string;
  readonly version?: number;
}

/** The operations a multi may hold. */
export type Op = CreateOp | SetOp | DeleteOp | CheckOp;

/**
 * The session on whose behalf a client write runs; a write of a dead session fails SESSION_EXPIRED.
 * A sequenced write (`seq`, with `seqFloor` and `sessionId`) is applied at most once: a later copy
 * with the same `seq` gets the first copy's recorded result (the session's reply table).
 */
interface OnBehalf {
  readonly sessionId?: number;
  /** The session's number of this write, strictly increasing over its writes; a resend keeps it. */
  readonly seq?: number;
  /** The session's lowest `seq` still awaiting an answer (≤ `seq`): replies below it may be dropped. */
  readonly seqFloor?: number;
  /**
   * This `seq` is sent once and never resent (a ZooKeeper connection's numbering, decision 61): a
   * copy that meets it already recorded is refused STALE_SEQUENCE instead of getting the recorded
   * result, which belongs to another write.
   */
  readonly seqOnce?: true;
  /**
   * The most ephemeral nodes the session may own once this write is applied: set by the member
   * that took the write from its client (its `--ephemerals-per-session-max`), checked at apply, so
   * that every replica decides alike and a resend gets the recorded answer. Absent: no bound.
   */
  readonly ephemeralsMax?: number;
  /**
   * Who asks, as the member that took the write authenticated its client: the write is checked
   * against the ACLs at apply (acl.ts). Absent: the cluster runs without security, nothing is checked.
   */
  readonly caller?: Caller;
}

/** ZooKeeper's setACL: replaces a node's ACL if its `aversion` is `version` (absent or -1: any). */
export interface SetAclCommand {
  readonly type: 'setAcl';
  readonly path: string;
  readonly acl: readonly AclEntryInput[];
  readonly version?: number;
}

/** Adds a user or replaces its secret hash and roles (the admin API hashed the secret). */
export interface UserPutCommand {
  readonly type: 'userPut';
  readonly name: string;
  readonly hash: string;
  readonly roles: readonly Role[];
}

export interface UserDeleteCommand {
  readonly type: 'userDelete';
  readonly name: string;
}

export interface MultiCommand {
  readonly type: 'multi';
  readonly ops: readonly Op[];
}

export interface SessionOpenCommand {
  readonly type: 'sessionOpen';
  readonly sessionId: number;
  readonly timeoutMs: number;
  /** Kept with the session for resumption; up to sessionSecretBytesMax bytes. */
  readonly secret?: Uint8Array;
}

export interface SessionHeartbeatCommand {
  readonly type: 'sessionHeartbeat';
  readonly sessionIds: readonly number[];
}

export interface SessionCloseCommand {
  readonly type: 'sessionClose';
  readonly sessionId: number;
}

export interface SessionExpireCommand {
  readonly type: 'sessionExpire';
  readonly sessionId: number;
}

/** Leader-proposed removal of expired TTL nodes; each path's condition is re-checked on apply. */
export interface SweepCommand {
  readonly type: 'sweep';
  readonly paths: readonly string[];
}

/** Raft's own entries (election no-op, configuration) still advance the applied index. */
export interface NoopCommand {
  readonly type: 'noop';
}

export type Command =
  | (CreateOp & OnBehalf)
  | (SetOp & OnBehalf)
  | (DeleteOp & OnBehalf)
  | (CheckOp & OnBehalf)
  | (MultiCommand & OnBehalf)
  | (SetAclCommand & OnBehalf)
  | UserPutCommand
  | UserDeleteCommand
  | SessionOpenCommand
  | SessionHeartbeatCommand
  | SessionCloseCommand
  | SessionExpireCommand
  | SweepCommand
  | NoopCommand;

export type CommandType = Command['type'];

/** A committed Raft entry as the driver hands it to the store. */
export interface Entry {
  /** Raft log index; becomes the revision of every change the command makes. */
  readonly index: number;
  /** The leader's wall clock when it proposed the entry: the only time apply ever sees. */
  readonly timeMs: number;
  readonly command: Command;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isSessionId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
/**
 * Any safe integer: one below −1 never matches a node's version (BAD_VERSION on apply, as in
 * ZooKeeper). The protocol holds clients to int32; the log may hold larger ones from before it did.
 */
const isOptionalVersion = (v: unknown): boolean => v === undefined || Number.isSafeInteger(v);
const modeSet: ReadonlySet<unknown> = new Set(createModes);

/**
 * The fields of a write on behalf of a session: `ephemeralsMax` a positive safe integer if given;
 * `seq` and `seqFloor` both or neither, positive safe integers, floor ≤ seq, with a session;
 * `seqOnce` true or absent, and only with a `seq`.
 */
function onBehalfProblem(command: Readonly<Record<string, unknown>>): string | null {
  const caller = callerProblem(command['caller']);
  if (caller !== null) return caller;
  const ephemeralsMax = command['ephemeralsMax'];
  if (ephemeralsMax !== undefined && !(Number.isSafeInteger(ephemeralsMax) && (ephemeralsMax as number) > 0)) return 'bad ephemeralsMax';
  const seq = command['seq'];
  const seqFloor = command['seqFloor'];
  const seqOnce = command['seqOnce'];
  if (seqOnce !== undefined && (seqOnce !== true || seq === undefined)) return 'bad seqOnce';
  if (seq === undefined && seqFloor === undefined) return null;
  if (command['sessionId'] === undefined) return 'seq without sessionId';
  if (!isSessionId(seq) || !isSessionId(seqFloor)) return 'bad seq or seqFloor';
  return seqFloor <= seq ? null : 'seqFloor above seq';
}

function opShapeProblem(op: unknown): string | null {
  if (!isRecord(op)) return 'op must be an object';
  if (typeof op['path'] !== 'string') return 'path must be a string';
  switch (op['type']) {
    case 'create':
      if (!isBytes(op['data'])) return 'data must be bytes';
      if (!modeSet.has(op['mode'])) return 'unknown create mode';
      if (op['ttlMs'] !== undefined && typeof op['ttlMs'] !== 'number') return 'ttlMs must be a number';
      if (op['createParents'] !== undefined && typeof op['createParents'] !== 'boolean') return 'createParents must be a boolean';
      return op['acl'] === undefined ? null : aclProblem(op['acl']);
    case 'set':
      if (!isBytes(op['data'])) return 'data must be bytes';
      return isOptionalVersion(op['version']) ? null : 'bad version';
    case 'delete':
    case 'check':
      return isOptionalVersion(op['version']) ? null : 'bad version';
    default:
      return 'unknown op type';
  }
}

/**
 * Structural check of a command. Apply turns a problem into BAD_ARGUMENTS (deterministically, on
 * every replica); decoding turns it into a thrown MARSHALLING_ERROR. Value rules (path syntax,
 * size limits) are checked by the operations themselves.
 */
export function commandShapeProblem(command: unknown): string | null {
  if (!isRecord(command)) return 'command must be an object';
  const sessionId = command['sessionId'];
  switch (command['type']) {
    case 'create':
    case 'set':
    case 'delete':
    case 'check':
      if (sessionId !== undefined && !isSessionId(sessionId)) return 'bad sessionId';
      return onBehalfProblem(command) ?? opShapeProblem(command);
    case 'multi': {
      if (sessionId !== undefined && !isSessionId(sessionId)) return 'bad sessionId';
      const sequence = onBehalfProblem(command);
      if (sequence !== null) return sequence;
      const ops = command['ops'];
      if (!Array.isArray(ops)) return 'ops must be an array';
      if (ops.length > multiOpsMax) return `more than ${multiOpsMax} ops`;
      for (const op of ops) {
        const problem = opShapeProblem(op);
        if (problem !== null) return problem;
      }
      return null;
    }
    case 'setAcl':
      if (sessionId !== undefined && !isSessionId(sessionId)) return 'bad sessionId';
      if (typeof command['path'] !== 'string') return 'path must be a string';
      if (!isOptionalVersion(command['version'])) return 'bad version';
      return onBehalfProblem(command) ?? aclProblem(command['acl']);
    case 'userPut':
      return userProblem(command['name'], command['hash'], command['roles']);
    case 'userDelete':
      return userProblem(command['name'], 'x', []);
    case 'sessionOpen':
      if (!isSessionId(sessionId)) return 'bad sessionId';
      if (command['secret'] !== undefined && !(isBytes(command['secret']) && command['secret'].byteLength <= sessionSecretBytesMax)) return 'bad secret';
      return Number.isSafeInteger(command['timeoutMs']) ? null : 'bad timeoutMs';
    case 'sessionHeartbeat': {
      const ids = command['sessionIds'];
      if (!Array.isArray(ids) || ids.length > heartbeatSessionsMax) return 'bad sessionIds';
      return ids.every(isSessionId) ? null : 'bad sessionIds';
    }
    case 'sessionClose':
    case 'sessionExpire':
      return isSessionId(sessionId) ? null : 'bad sessionId';
    case 'sweep': {
      const paths = command['paths'];
      if (!Array.isArray(paths) || paths.length > sweepPathsMax) return 'bad paths';
      return paths.every((p) => typeof p === 'string') ? null : 'bad paths';
    }
    case 'noop':
      return null;
    default:
      return 'unknown command type';
  }
}
