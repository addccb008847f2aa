/**
 * Translations between the client protocol (@vigil/protocol) and the store (@vigil/store): writes
 * become store commands on behalf of the session, store results become op results, and every
 * failure — the store's, the cluster's, an unexpected one — becomes a wire error with a code from
 * the protocol's closed table.
 */
import { wireError, type ErrorCode, type MultiOp, type MultiOpResult, type OpResult, type Request, type WireError } from '@vigil/protocol';
import type { Caller, Command, CommandValue, Op as StoreOp, OpError, OpResult as StoreOpResult } from '@vigil/store';
import { isServerError, type ServerErrorCode } from '../errors.js';

export type WriteRequest = Extract<Request, { op: 'create' | 'set' | 'delete' | 'multi' | 'setAcl' }>;

function storeOp(op: MultiOp): StoreOp {
  switch (op.op) {
    case 'create':
      return {
        type: 'create',
        path: op.path,
        data: op.data,
        mode: op.mode,
        ...(op.ttlMs === undefined ? {} : { ttlMs: op.ttlMs }),
        ...(op.createParents === undefined ? {} : { createParents: op.createParents }),
        ...(op.acl === undefined ? {} : { acl: op.acl }),
      };
    case 'set':
      return { type: 'set', path: op.path, data: op.data, ...(op.version === undefined ? {} : { version: op.version }) };
    case 'delete':
      return { type: 'delete', path: op.path, ...(op.version === undefined ? {} : { version: op.version }) };
    case 'check':
      return { type: 'check', path: op.path, ...(op.version === undefined ? {} : { version: op.version }) };
  }
}

/**
 * The store command a write request proposes, on behalf of `sessionId`. A sequenced write keeps its
 * `seq` and `seqFloor`, so the store applies it at most once whichever member it came through.
 * `ephemeralsMax` (this member's bound on a session's ephemeral nodes) goes only into writes that
 * create an ephemeral node: the others cannot pass it. `caller` (with security on) is who the
 * write is checked for against the ACLs at apply, on every replica, wherever it was forwarded.
 * `seqOnce`: the `seq` is never resent (a ZooKeeper connection's numbering, decision 61).
 */
export function commandOf(request: WriteRequest, sessionId: number, ephemeralsMax?: number, caller?: Caller, seqOnce = false): Command {
  const sequence = request.seq === undefined || request.seqFloor === undefined ? {} : { seq: request.seq, seqFloor: request.seqFloor, ...(seqOnce ? { seqOnce: true as const } : {}) };
  const bound = ephemeralsMax !== undefined && createsEphemeral(request) ? { ephemeralsMax } : {};
  const who = caller === undefined ? {} : { caller };
  if (request.op === 'multi') return { type: 'multi', ops: request.ops.map(storeOp), sessionId, ...sequence, ...bound, ...who };
  if (request.op === 'setAcl') {
    return { type: 'setAcl', path: request.path, acl: request.acl, ...(request.version === undefined ? {} : { version: request.version }), sessionId, ...sequence, ...who };
  }
  return { ...storeOp(request), sessionId, ...sequence, ...bound, ...who };
}

function createsEphemeral(request: WriteRequest): boolean {
  const ephemeral = (mode: string): boolean => mode === 'ephemeral' || mode === 'ephemeral-sequential';
  if (request.op === 'create') return ephemeral(request.mode);
  return request.op === 'multi' && request.ops.some((op) => op.op === 'create' && ephemeral(op.mode));
}

function multiOpResult(r: StoreOpResult): MultiOpResult {
  switch (r.type) {
    case 'create':
      return { op: 'create', path: r.path, stat: r.stat };
    case 'set':
      return { op: 'set', stat: r.stat };
    case 'delete':
      return { op: 'delete' };
    case 'check':
      return { op: 'check' };
  }
}

/** The op result of a successful write. */
export function writeResult(request: WriteRequest, value: CommandValue): OpResult {
  switch (value.type) {
    case 'create':
      return { op: 'create', path: value.path, stat: value.stat };
    case 'set':
      return { op: 'set', stat: value.stat };
    case 'delete':
      return { op: 'delete' };
    case 'multi':
      return { op: 'multi', results: value.results.map(multiOpResult) };
    case 'setAcl':
      return { op: 'setAcl', stat: value.stat };
    default:
      throw new Error(`a ${request.op} produced a ${value.type} result`);
  }
}

const storeCodes: Readonly<Record<OpError['code'], ErrorCode>> = {
  NO_NODE: 'NO_NODE',
  NODE_EXISTS: 'NODE_EXISTS',
  BAD_VERSION: 'BAD_VERSION',
  NOT_EMPTY: 'NOT_EMPTY',
  NO_CHILDREN_FOR_EPHEMERALS: 'NO_CHILDREN_FOR_EPHEMERALS',
  BAD_ARGUMENTS: 'BAD_ARGUMENTS',
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  STALE_SEQUENCE: 'STALE_SEQUENCE',
  TOO_MANY_EPHEMERALS: 'TOO_MANY_EPHEMERALS',
  NO_AUTH: 'NO_AUTH',
  INVALID_ACL: 'INVALID_ACL',
  NO_USER: 'BAD_ARGUMENTS',
  MARSHALLING_ERROR: 'BAD_ARGUMENTS',
  SNAPSHOT_INVALID: 'INTERNAL',
  STORE_CLOSED: 'SHUTTING_DOWN',
};

export function storeError(error: OpError): WireError {
  return wireError(storeCodes[error.code], error.message, {
    ...(error.path === undefined ? {} : { path: error.path }),
    ...(error.opIndex === undefined ? {} : { opIndex: error.opIndex }),
  });
}

const serverCodes: Readonly<Record<ServerErrorCode, ErrorCode>> = {
  NOT_LEADER: 'NOT_LEADER',
  NO_LEADER: 'NO_LEADER',
  TIMEOUT: 'TIMEOUT',
  PROPOSAL_DROPPED: 'PROPOSAL_DROPPED',
  BACKPRESSURE: 'BACKPRESSURE',
  TRANSFER_IN_PROGRESS: 'UNAVAILABLE',
  CONF_CHANGE_PENDING: 'UNAVAILABLE',
  INVALID_CONF_CHANGE: 'INTERNAL',
  BAD_REQUEST: 'BAD_ARGUMENTS',
  AUTH_FAILED: 'AUTH_FAILED',
  NO_AUTH: 'NO_AUTH',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  CONFIG_INVALID: 'INTERNAL',
  DATA_DIR_INVALID: 'INTERNAL',
  STORAGE_FAILED: 'INTERNAL',
  BUSY: 'UNAVAILABLE',
  BACKUP_INVALID: 'INTERNAL',
};

/** Any thrown failure as a wire error; unexpected ones are INTERNAL (and logged by the caller). */
export function thrownError(err: unknown): WireError {
  if (isServerError(err)) return wireError(serverCodes[err.code], err.message);
  return wireError('INTERNAL', err instanceof Error ? err.message : String(err));
}
