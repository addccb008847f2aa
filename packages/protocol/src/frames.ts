// The frames of docs/protocol.md, exactly as they travel: every TypeScript field below is a msgpack
// map key of the same name. Optional fields are omitted on the wire (a receiver also reads nil as
// absent); `exists`'s `stat` is the one field whose nil means something (no node).
import type { WireError } from './errors.js';

/** Same list as @vigil/store's `createModes` (duplicated on purpose, see constants.ts). */
export const createModes = [
  'persistent',
  'ephemeral',
  'persistent-sequential',
  'ephemeral-sequential',
  'container',
  'ttl',
  'persistent-sequential-ttl',
] as const;
export type CreateMode = (typeof createModes)[number];

/** The create modes that take `ttlMs` (and require it). */
export const ttlCreateModes: readonly CreateMode[] = ['ttl', 'persistent-sequential-ttl'];

export const consistencies = ['linearizable', 'sequential'] as const;
export type Consistency = (typeof consistencies)[number];

export const watchModes = ['persistent', 'persistentRecursive'] as const;
export type WatchMode = (typeof watchModes)[number];

export const watchEventKinds = ['created', 'deleted', 'dataChanged', 'childrenChanged'] as const;
export type WatchEventKind = (typeof watchEventKinds)[number];

export const sessionStates = ['expired', 'moved', 'draining'] as const;
export type SessionState = (typeof sessionStates)[number];

/** ZooKeeper's Stat: zxids are revisions, times are the leader's clock in ms since the epoch. */
export interface Stat {
  readonly czxid: number;
  readonly mzxid: number;
  readonly pzxid: number;
  readonly ctime: number;
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  /** Owning session of an ephemeral node, 0 otherwise. */
  readonly ephemeralOwner: number;
  readonly dataLength: number;
  readonly numChildren: number;
}

export const statFields = [
  'czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren',
] as const satisfies readonly (keyof Stat)[];

/** ZooKeeper's permission bits, with its values: an ACL entry's `perms` is a sum of them. */
export const aclPerms = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/**
 * `world` (id `anyone`), `user` (a user name), `ip` (an address or `address/bits`), `digest`
 * (ZooKeeper's: `name:base64(sha1("name:password"))`, matched by a ZooKeeper connection's `addauth`),
 * `auth` (id ''; the caller itself).
 */
export const aclSchemes = ['world', 'user', 'ip', 'digest', 'auth'] as const;
export type AclScheme = (typeof aclSchemes)[number];

export interface AclEntry {
  readonly scheme: AclScheme;
  readonly id: string;
  /** A sum of `aclPerms` bits, 0..31. */
  readonly perms: number;
}

// ---- client → server ----

export interface SessionResume {
  readonly id: number;
  readonly secret: Uint8Array;
  /** The highest revision the client has seen in any response or event of this session. */
  readonly lastRevision: number;
}

/** The first frame of every connection. */
export interface HelloFrame {
  readonly t: 'hello';
  readonly protocolVersion: number;
  /** Requested; the server answers with what it negotiated. */
  readonly sessionTimeoutMs: number;
  /** Present to resume a session; absent to open a new one. */
  readonly session?: SessionResume;
  /** Who the connection acts as; required by a server that runs with `--auth` (docs/security.md). */
  readonly auth?: HelloAuth;
}

export interface HelloAuth {
  readonly user: string;
  readonly secret: string;
}

interface RequestHead {
  readonly t: 'req';
  /** Client-chosen, 0..requestIdMax, unique among the connection's unanswered requests. */
  readonly id: number;
}

export interface CreateFields {
  readonly path: string;
  readonly data: Uint8Array;
  readonly mode: CreateMode;
  /** Required for the TTL modes, absent otherwise. */
  readonly ttlMs?: number;
  readonly createParents?: boolean;
  /** The node's ACL (created parents get it too); absent: open without security, else the creator's alone. */
  readonly acl?: readonly AclEntry[];
}

export interface SetFields {
  readonly path: string;
  readonly data: Uint8Array;
  /** Expected version; absent or -1 for any. */
  readonly version?: number;
}

export interface DeleteFields {
  readonly path: string;
  readonly version?: number;
}

export interface CheckFields {
  readonly path: string;
  readonly version?: number;
}

interface ReadFields {
  readonly path: string;
  /** Arm a one-shot watch; its id comes back in the response. */
  readonly watch?: boolean;
  /** Default 'linearizable'. */
  readonly consistency?: Consistency;
}

/**
 * Exactly-once writes (docs/protocol.md §5): a session numbers its writes, and a write resent
 * after an unknown outcome carries the same number, so the cluster applies it at most once and
 * answers a resend with the first answer. Both fields or neither.
 */
export interface WriteSequence {
  /** The session's number of this write, 1..2^53−1, strictly increasing over the session's writes. */
  readonly seq?: number;
  /**
   * The session's lowest `seq` still awaiting an answer (this one's included, so ≤ `seq`, and
   * `seq − seqFloor < sessionWritesInFlightMax`): the cluster may forget the answers below it.
   */
  readonly seqFloor?: number;
}

export interface CreateRequest extends RequestHead, CreateFields, WriteSequence {
  readonly op: 'create';
}
export interface GetRequest extends RequestHead, ReadFields {
  readonly op: 'get';
}
export interface SetRequest extends RequestHead, SetFields, WriteSequence {
  readonly op: 'set';
}
export interface DeleteRequest extends RequestHead, DeleteFields, WriteSequence {
  readonly op: 'delete';
}
export interface ExistsRequest extends RequestHead, ReadFields {
  readonly op: 'exists';
}
export interface ChildrenRequest extends RequestHead, ReadFields {
  readonly op: 'children';
  readonly withStats?: boolean;
  /** Resume after this child name: the `next` of the previous page. */
  readonly after?: string;
  /** Page size, 1..childrenPageMax (default childrenPageMax). */
  readonly limit?: number;
}

export type MultiOp =
  | ({ readonly op: 'create' } & CreateFields)
  | ({ readonly op: 'set' } & SetFields)
  | ({ readonly op: 'delete' } & DeleteFields)
  | ({ readonly op: 'check' } & CheckFields);

export const multiOpNames = ['create', 'set', 'delete', 'check'] as const;

export interface MultiRequest extends RequestHead, WriteSequence {
  readonly op: 'multi';
  readonly ops: readonly MultiOp[];
}
export interface SyncRequest extends RequestHead {
  readonly op: 'sync';
}
export interface WatchRequest extends RequestHead {
  readonly op: 'watch';
  readonly path: string;
  readonly mode: WatchMode;
  /** Replay every event with a revision above this one before the live ones. */
  readonly fromRevision?: number;
}
export interface UnwatchRequest extends RequestHead {
  readonly op: 'unwatch';
  readonly watchId: number;
}
export interface GetAclRequest extends RequestHead {
  readonly op: 'getAcl';
  readonly path: string;
  /** Default 'linearizable'. */
  readonly consistency?: Consistency;
}
export interface SetAclRequest extends RequestHead, WriteSequence {
  readonly op: 'setAcl';
  readonly path: string;
  readonly acl: readonly AclEntry[];
  /** Expected `aversion`; absent or -1 for any. */
  readonly version?: number;
}
export interface WhoamiRequest extends RequestHead {
  readonly op: 'whoami';
}
export interface PingRequest extends RequestHead {
  readonly op: 'ping';
}
export interface CloseRequest extends RequestHead {
  readonly op: 'close';
}

export type Request =
  | CreateRequest
  | GetRequest
  | SetRequest
  | DeleteRequest
  | ExistsRequest
  | ChildrenRequest
  | MultiRequest
  | SyncRequest
  | WatchRequest
  | UnwatchRequest
  | GetAclRequest
  | SetAclRequest
  | WhoamiRequest
  | PingRequest
  | CloseRequest;

export type Op = Request['op'];

export const ops = [
  'create', 'get', 'set', 'delete', 'exists', 'children', 'multi', 'sync', 'watch', 'unwatch', 'getAcl', 'setAcl', 'whoami', 'ping', 'close',
] as const satisfies readonly Op[];

/** A request without its `t` and `id`: what an SDK builds before numbering it. */
export type RequestBody<O extends Op = Op> = O extends Op ? Omit<Extract<Request, { op: O }>, 't' | 'id'> : never;

export type ClientFrame = HelloFrame | Request;

// ---- server → client ----

export interface WelcomeFrame {
  readonly t: 'welcome';
  readonly protocolVersion: number;
  readonly sessionId: number;
  readonly secret: Uint8Array;
  readonly negotiatedTimeoutMs: number;
  /** The member id of the server the client is connected to. */
  readonly serverId: number;
  /** The server's applied revision, at least the hello's lastRevision. */
  readonly revision: number;
  /** True when the hello's session was resumed, false when a new one was opened. */
  readonly resumed: boolean;
  /** The identity the connection acts as (from `auth` or a client certificate); absent: anonymous. */
  readonly user?: string;
}

export type MultiOpResult =
  | { readonly op: 'create'; readonly path: string; readonly stat: Stat }
  | { readonly op: 'set'; readonly stat: Stat }
  | { readonly op: 'delete' }
  | { readonly op: 'check' };

export interface CreateResult {
  readonly op: 'create';
  /** The created path (with the sequential suffix, if any). */
  readonly path: string;
  readonly stat: Stat;
}
export interface GetResult {
  readonly op: 'get';
  readonly data: Uint8Array;
  readonly stat: Stat;
  readonly watchId?: number;
}
export interface SetResult {
  readonly op: 'set';
  readonly stat: Stat;
}
export interface DeleteResult {
  readonly op: 'delete';
}
export interface ExistsResult {
  readonly op: 'exists';
  /** nil when the node does not exist. */
  readonly stat: Stat | null;
  readonly watchId?: number;
}
export interface ChildrenResult {
  readonly op: 'children';
  /** Child names (not paths) in code-point (UTF-8 byte) order. */
  readonly names: readonly string[];
  /** With `withStats`: `stats[i]` belongs to `names[i]`. */
  readonly stats?: readonly Stat[];
  /** Present when more children follow: pass it as `after`. */
  readonly next?: string;
  readonly watchId?: number;
}
export interface MultiResult {
  readonly op: 'multi';
  readonly results: readonly MultiOpResult[];
}
export interface SyncResult {
  readonly op: 'sync';
}
export interface WatchResult {
  readonly op: 'watch';
  readonly watchId: number;
}
export interface UnwatchResult {
  readonly op: 'unwatch';
}
export interface GetAclResult {
  readonly op: 'getAcl';
  readonly acl: readonly AclEntry[];
  readonly stat: Stat;
}
export interface SetAclResult {
  readonly op: 'setAcl';
  readonly stat: Stat;
}
export interface WhoamiResult {
  readonly op: 'whoami';
  /** Absent: anonymous (a server without `--auth`). */
  readonly user?: string;
  readonly superuser: boolean;
  /** The admin API roles the user holds. */
  readonly roles: readonly string[];
  /** The client's address as the server sees it (what `ip` ACL entries match). */
  readonly address: string;
}
export interface PingResult {
  readonly op: 'ping';
}
export interface CloseResult {
  readonly op: 'close';
}

export type OpResult =
  | CreateResult
  | GetResult
  | SetResult
  | DeleteResult
  | ExistsResult
  | ChildrenResult
  | MultiResult
  | SyncResult
  | WatchResult
  | UnwatchResult
  | GetAclResult
  | SetAclResult
  | WhoamiResult
  | PingResult
  | CloseResult;

export type ResultOf<O extends Op> = Extract<OpResult, { op: O }>;

interface ResponseHead {
  readonly t: 'res';
  /** The id of the request answered. */
  readonly id: number;
  /** The revision the request observed (a read) or made (a write); see docs/protocol.md. */
  readonly revision: number;
}

export type OkResponse = ResponseHead & { readonly ok: true } & OpResult;

export interface ErrorResponse extends ResponseHead {
  readonly ok: false;
  /** The request's op, when it was readable and known. */
  readonly op?: Op;
  readonly error: WireError;
}

export type Response = OkResponse | ErrorResponse;

export interface WatchEvent {
  readonly path: string;
  readonly kind: WatchEventKind;
  /** The revision of the write that caused it. */
  readonly revision: number;
}

export interface WatchFrame {
  readonly t: 'watch';
  readonly watchId: number;
  /** 1..watchEventsPerFrameMax events in revision order. */
  readonly events: readonly WatchEvent[];
}

export interface CompactedFrame {
  readonly t: 'compacted';
  readonly watchId: number;
  /** Events at or below this revision may be missing: re-read, then trust events above it. */
  readonly floor: number;
}

export interface SessionFrame {
  readonly t: 'session';
  readonly state: SessionState;
}

/** A connection-level failure; the server closes the connection right after it. */
export interface ErrorFrame {
  readonly t: 'error';
  readonly error: WireError;
}

export type ServerFrame = WelcomeFrame | Response | WatchFrame | CompactedFrame | SessionFrame | ErrorFrame;

export type Frame = ClientFrame | ServerFrame;
