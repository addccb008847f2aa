// ZooKeeper's client wire protocol, server side: the records of zookeeper.jute that a client
// sends (decoded) and the ones a server answers with (encoded), with the protocol's numbers.
// No I/O and no dependencies: the connection code frames packets (4-byte length, then a body) and
// hands bodies here.

import { JuteError, JuteReader, JuteWriter } from './jute.js';

/** ZooDefs.OpCode. */
export const zkOp = {
  notification: 0, create: 1, delete: 2, exists: 3, getData: 4, setData: 5, getACL: 6, setACL: 7,
  getChildren: 8, sync: 9, ping: 11, getChildren2: 12, check: 13, multi: 14, create2: 15, reconfig: 16,
  checkWatches: 17, removeWatches: 18, createContainer: 19, deleteContainer: 20, createTTL: 21, multiRead: 22,
  auth: 100, setWatches: 101, sasl: 102, getEphemerals: 103, getAllChildrenNumber: 104, setWatches2: 105,
  addWatch: 106, whoAmI: 107, createSession: -10, closeSession: -11, error: -1,
} as const;

/** KeeperException.Code. */
export const zkErr = {
  ok: 0, systemError: -1, runtimeInconsistency: -2, dataInconsistency: -3, connectionLoss: -4,
  marshallingError: -5, unimplemented: -6, operationTimeout: -7, badArguments: -8, unknownSession: -12,
  newConfigNoQuorum: -13, reconfigInProgress: -14, apiError: -100, noNode: -101, noAuth: -102,
  badVersion: -103, noChildrenForEphemerals: -108, nodeExists: -110, notEmpty: -111, sessionExpired: -112,
  invalidCallback: -113, invalidACL: -114, authFailed: -115, sessionMoved: -118, notReadOnly: -119,
  ephemeralOnLocalSession: -120, noWatcher: -121, requestTimeout: -122, reconfigDisabled: -123,
  sessionClosedRequireSaslAuth: -124, quotaExceeded: -125, throttledOp: -127,
} as const;

/** The xids a client uses for requests outside its sequence. */
export const zkXid = { notification: -1, ping: -2, auth: -4, setWatches: -8 } as const;

/** Watcher.Event.EventType. */
export const zkEvent = {
  none: -1, nodeCreated: 1, nodeDeleted: 2, nodeDataChanged: 3, nodeChildrenChanged: 4,
  dataWatchRemoved: 5, childWatchRemoved: 6, persistentWatchRemoved: 7,
} as const;

/** Watcher.Event.KeeperState (the values that travel on the wire). */
export const zkState = { disconnected: 0, syncConnected: 3, authFailed: 4, connectedReadOnly: 5, expired: -112, closed: 7 } as const;

/** CreateMode: the `flags` of a create request. */
export const zkCreateMode = {
  persistent: 0, ephemeral: 1, persistentSequential: 2, ephemeralSequential: 3, container: 4,
  persistentWithTtl: 5, persistentSequentialWithTtl: 6,
} as const;

/** ZooDefs.Perms. */
export const zkPerm = { read: 1, write: 2, create: 4, delete: 8, admin: 16, all: 31 } as const;

/** AddWatchMode, the `mode` of addWatch. */
export const zkAddWatchMode = { persistent: 0, persistentRecursive: 1 } as const;

/** Watcher.WatcherType, the `type` of removeWatches / checkWatches. */
export const zkWatcherType = { children: 1, data: 2, any: 3 } as const;

export interface ZkStat {
  czxid: number; mzxid: number; ctime: number; mtime: number; version: number; cversion: number;
  aversion: number; ephemeralOwner: number; dataLength: number; numChildren: number; pzxid: number;
}

export interface ZkAcl { perms: number; scheme: string; id: string }

export interface ConnectRequest {
  protocolVersion: number;
  lastZxidSeen: number;
  timeOut: number;
  /** null: not a value this server could have issued (outside the safe integer range) */
  sessionId: number | null;
  passwd: Uint8Array;
  readOnly: boolean;
}

export type ZkCreate = { path: string; data: Uint8Array; acl: ZkAcl[]; flags: number; ttl: number /* 0 unless createTTL */ };

export type ZkMultiOp =
  | ({ type: 'create' | 'create2' | 'createContainer' | 'createTTL' } & ZkCreate)
  | { type: 'delete'; path: string; version: number }
  | { type: 'setData'; path: string; data: Uint8Array; version: number }
  | { type: 'check'; path: string; version: number };

export type ZkRequest =
  | ({ type: 'create' | 'create2' | 'createContainer' | 'createTTL' } & ZkCreate)
  | { type: 'delete'; path: string; version: number }
  | { type: 'exists' | 'getData' | 'getChildren' | 'getChildren2'; path: string; watch: boolean }
  | { type: 'setData'; path: string; data: Uint8Array; version: number }
  | { type: 'getACL'; path: string }
  | { type: 'setACL'; path: string; acl: ZkAcl[]; version: number }
  | { type: 'sync'; path: string }
  | { type: 'check'; path: string; version: number }
  | { type: 'multi'; ops: ZkMultiOp[] }
  | { type: 'multiRead'; ops: { type: 'getData' | 'getChildren'; path: string }[] }
  | { type: 'ping' } | { type: 'closeSession' } | { type: 'whoAmI' }
  | { type: 'auth'; scheme: string; auth: Uint8Array }
  | {
    type: 'setWatches'; relativeZxid: number; dataWatches: string[]; existWatches: string[]; childWatches: string[];
    persistentWatches: string[]; persistentRecursiveWatches: string[];
  }
  | { type: 'addWatch'; path: string; mode: number }
  | { type: 'removeWatches' | 'checkWatches'; path: string; watcherType: number }
  | { type: 'getEphemerals'; prefixPath: string }
  | { type: 'getAllChildrenNumber'; path: string }
  | { type: 'unsupported'; opCode: number };

export interface RequestHeader { xid: number; type: number }

export type ZkMultiResult =
  | { type: 'create'; path: string }
  | { type: 'create2'; path: string; stat: ZkStat }
  | { type: 'setData'; stat: ZkStat }
  | { type: 'delete' }
  | { type: 'check' }
  | { type: 'getData'; data: Uint8Array; stat: ZkStat }
  | { type: 'getChildren'; children: string[] }
  | { type: 'error'; err: number };

export type ReplyBody = (w: JuteWriter) => void;

// ---------------------------------------------------------------------------------------------
// Decoding what clients send.

const empty = new Uint8Array(0);

/** A string the record cannot do without (a path, an ACL scheme): null is malformed. */
function requiredString(r: JuteReader, what: string): string {
  const s = r.string();
  if (s === null) throw new JuteError(`null ${what}`);
  return s;
}

function readPath(r: JuteReader): string {
  return requiredString(r, 'path');
}

/** Clients send a null buffer for "no data" (node-zookeeper-client's create without data does). */
function readData(r: JuteReader): Uint8Array {
  return r.buffer() ?? empty;
}

function readAcl(r: JuteReader): ZkAcl {
  const perms = r.int();
  const scheme = requiredString(r, 'ACL scheme');
  const id = requiredString(r, 'ACL id');
  return { perms, scheme, id };
}

/** A null ACL list reads as empty, which the server refuses as invalidACL like ZooKeeper does. */
function readAcls(r: JuteReader): ZkAcl[] {
  return r.vector(readAcl) ?? [];
}

function readPaths(r: JuteReader): string[] {
  return r.vector(readPath) ?? [];
}

function readCreate(r: JuteReader, withTtl: boolean): ZkCreate {
  const path = readPath(r);
  const data = readData(r);
  const acl = readAcls(r);
  const flags = r.int();
  const ttl = withTtl ? r.long() : 0;
  return { path, data, acl, flags, ttl };
}

const createTypes = {
  [zkOp.create]: 'create', [zkOp.create2]: 'create2', [zkOp.createContainer]: 'createContainer', [zkOp.createTTL]: 'createTTL',
} as const;

/** One op of a multi (MultiOperationRecord): the write ops only; reads belong in multiRead. */
function readMultiOp(r: JuteReader, opCode: number): ZkMultiOp {
  switch (opCode) {
    case zkOp.create: case zkOp.create2: case zkOp.createContainer: case zkOp.createTTL:
      return { type: createTypes[opCode], ...readCreate(r, opCode === zkOp.createTTL) };
    case zkOp.delete:
      return { type: 'delete', path: readPath(r), version: r.int() };
    case zkOp.setData:
      return { type: 'setData', path: readPath(r), data: readData(r), version: r.int() };
    case zkOp.check:
      return { type: 'check', path: readPath(r), version: r.int() };
    default:
      throw new JuteError(`op ${opCode} cannot be part of a multi`);
  }
}

/** One op of a multiRead: GetDataRequest / GetChildrenRequest, whose watch flag ZooKeeper ignores there. */
function readMultiReadOp(r: JuteReader, opCode: number): { type: 'getData' | 'getChildren'; path: string } {
  if (opCode !== zkOp.getData && opCode !== zkOp.getChildren) throw new JuteError(`op ${opCode} cannot be part of a multiRead`);
  const path = readPath(r);
  r.bool();
  return { type: opCode === zkOp.getData ? 'getData' : 'getChildren', path };
}

/**
 * MultiOperationRecord: { MultiHeader { type, done, err }, record } per op, ended by a header whose
 * done is true. Each op takes at least 9 bytes, so the loop is bounded by the packet.
 */
function readMultiOps<T>(r: JuteReader, readOp: (r: JuteReader, opCode: number) => T): T[] {
  const ops: T[] = [];
  for (;;) {
    const opCode = r.int();
    const done = r.bool();
    r.int(); // err: -1 from clients, unused in a request
    if (done) return ops;
    ops.push(readOp(r, opCode));
  }
}

function readWatchRequest(
  r: JuteReader,
  type: 'exists' | 'getData' | 'getChildren' | 'getChildren2',
): { type: 'exists' | 'getData' | 'getChildren' | 'getChildren2'; path: string; watch: boolean } {
  return { type, path: readPath(r), watch: r.bool() };
}

function readSetWatches(r: JuteReader, two: boolean): ZkRequest {
  const relativeZxid = r.long();
  const dataWatches = readPaths(r);
  const existWatches = readPaths(r);
  const childWatches = readPaths(r);
  const persistentWatches = two ? readPaths(r) : [];
  const persistentRecursiveWatches = two ? readPaths(r) : [];
  return { type: 'setWatches', relativeZxid, dataWatches, existWatches, childWatches, persistentWatches, persistentRecursiveWatches };
}

/** The request record after the header; null for an opcode this codec does not decode. */
function readRequest(r: JuteReader, opCode: number): ZkRequest | null {
  switch (opCode) {
    case zkOp.create: case zkOp.create2: case zkOp.createContainer: case zkOp.createTTL:
      return { type: createTypes[opCode], ...readCreate(r, opCode === zkOp.createTTL) };
    case zkOp.delete: return { type: 'delete', path: readPath(r), version: r.int() };
    case zkOp.exists: return readWatchRequest(r, 'exists');
    case zkOp.getData: return readWatchRequest(r, 'getData');
    case zkOp.getChildren: return readWatchRequest(r, 'getChildren');
    case zkOp.getChildren2: return readWatchRequest(r, 'getChildren2');
    case zkOp.setData: return { type: 'setData', path: readPath(r), data: readData(r), version: r.int() };
    case zkOp.getACL: return { type: 'getACL', path: readPath(r) };
    case zkOp.setACL: return { type: 'setACL', path: readPath(r), acl: readAcls(r), version: r.int() };
    case zkOp.sync: return { type: 'sync', path: readPath(r) };
    case zkOp.check: return { type: 'check', path: readPath(r), version: r.int() };
    case zkOp.multi: return { type: 'multi', ops: readMultiOps(r, readMultiOp) };
    case zkOp.multiRead: return { type: 'multiRead', ops: readMultiOps(r, readMultiReadOp) };
    case zkOp.ping: return { type: 'ping' };
    case zkOp.closeSession: return { type: 'closeSession' };
    case zkOp.whoAmI: return { type: 'whoAmI' };
    case zkOp.auth: {
      r.int(); // AuthPacket.type: always 0, unused by ZooKeeper
      return { type: 'auth', scheme: requiredString(r, 'auth scheme'), auth: readData(r) };
    }
    case zkOp.setWatches: return readSetWatches(r, false);
    case zkOp.setWatches2: return readSetWatches(r, true);
    case zkOp.addWatch: return { type: 'addWatch', path: readPath(r), mode: r.int() };
    case zkOp.removeWatches: return { type: 'removeWatches', path: readPath(r), watcherType: r.int() };
    case zkOp.checkWatches: return { type: 'checkWatches', path: readPath(r), watcherType: r.int() };
    case zkOp.getEphemerals: return { type: 'getEphemerals', prefixPath: requiredString(r, 'prefixPath') };
    case zkOp.getAllChildrenNumber: return { type: 'getAllChildrenNumber', path: readPath(r) };
    default: return null;
  }
}

/**
 * Decodes one request packet body (without its length prefix): header, then the request. A body
 * whose header is unreadable throws JuteError; a readable header with an unreadable request
 * returns { header, error: JuteError }. Bytes after the request are an error: a client and this
 * codec that disagree on a record's length disagree on its fields too.
 */
export function decodeRequest(body: Uint8Array): { header: RequestHeader; request: ZkRequest } | { header: RequestHeader; error: JuteError } {
  const r = new JuteReader(body);
  const header: RequestHeader = { xid: r.int(), type: r.int() };
  try {
    const request = readRequest(r, header.type);
    if (request === null) return { header, request: { type: 'unsupported', opCode: header.type } };
    r.end('the request');
    return { header, request };
  } catch (err) {
    if (err instanceof JuteError) return { header, error: err };
    throw err;
  }
}

/**
 * ConnectRequest, then the readOnly flag that ZooKeeper appends outside the record (absent from
 * old clients). A lastZxidSeen outside the safe integer range is a JuteError: no zxid we issue is.
 */
export function decodeConnectRequest(body: Uint8Array): ConnectRequest {
  const r = new JuteReader(body);
  const protocolVersion = r.int();
  const lastZxidSeen = r.long();
  const timeOut = r.int();
  const rawSessionId = r.bigLong();
  const sessionId = rawSessionId >= BigInt(Number.MIN_SAFE_INTEGER) && rawSessionId <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(rawSessionId)
    : null;
  const passwd = readData(r);
  const readOnly = r.remaining > 0 ? r.bool() : false;
  r.end('the connect request');
  return { protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly };
}

// ---------------------------------------------------------------------------------------------
// Encoding what the server answers.

/** ConnectResponse with the length prefix, then the readOnly flag (always written, as ZooKeeper does). */
export function encodeConnectResponse(res: { protocolVersion: number; timeOut: number; sessionId: number; passwd: Uint8Array; readOnly: boolean }): Buffer {
  return new JuteWriter(64)
    .int(res.protocolVersion)
    .int(res.timeOut)
    .long(res.sessionId)
    .buffer(res.passwd)
    .bool(res.readOnly)
    .packet();
}

/** Marks a body that is sent even when the reply header carries an error: only multi's. */
const sentOnError = new WeakSet<ReplyBody>();

/**
 * A reply packet (length prefix, ReplyHeader { xid, zxid, err }, then the body when err is 0 —
 * ZooKeeper sends no body on error, except for multi whose body is always sent).
 */
export function encodeReply(xid: number, zxid: number, err: number, body?: ReplyBody): Buffer {
  const w = new JuteWriter();
  w.int(xid).long(zxid).int(err);
  if (body !== undefined && (err === zkErr.ok || sentOnError.has(body))) body(w);
  return w.packet();
}

/** A watch notification: reply header xid -1, zxid -1, err 0, then WatcherEvent { type, state, path }. */
export function encodeWatcherEvent(type: number, state: number, path: string): Buffer {
  return new JuteWriter(32 + path.length * 3)
    .int(zkXid.notification).long(-1).int(zkErr.ok)
    .int(type).int(state).string(path)
    .packet();
}

export function writeStat(w: JuteWriter, s: ZkStat): void {
  w.long(s.czxid).long(s.mzxid).long(s.ctime).long(s.mtime)
    .int(s.version).int(s.cversion).int(s.aversion)
    .long(s.ephemeralOwner).int(s.dataLength).int(s.numChildren).long(s.pzxid);
}

function writeAcl(w: JuteWriter, a: ZkAcl): void {
  w.int(a.perms).string(a.scheme).string(a.id);
}

function writeString(w: JuteWriter, s: string): void {
  w.string(s);
}

const multiDone = -1;

function writeMultiResult(w: JuteWriter, res: ZkMultiResult): void {
  switch (res.type) {
    case 'create': w.int(zkOp.create).bool(false).int(zkErr.ok).string(res.path); return;
    case 'create2': w.int(zkOp.create2).bool(false).int(zkErr.ok).string(res.path); writeStat(w, res.stat); return;
    case 'setData': w.int(zkOp.setData).bool(false).int(zkErr.ok); writeStat(w, res.stat); return;
    case 'delete': w.int(zkOp.delete).bool(false).int(zkErr.ok); return;
    case 'check': w.int(zkOp.check).bool(false).int(zkErr.ok); return;
    case 'getData': w.int(zkOp.getData).bool(false).int(zkErr.ok).buffer(res.data); writeStat(w, res.stat); return;
    case 'getChildren': w.int(zkOp.getChildren).bool(false).int(zkErr.ok).vector(res.children, writeString); return;
    case 'error': w.int(zkOp.error).bool(false).int(res.err).int(res.err); return;
  }
}

/** The response records, each a body for encodeReply. */
export const replyBody = {
  /** CreateResponse. */
  create: (path: string): ReplyBody => (w) => { w.string(path); },
  /** Create2Response: also the answer to createContainer and createTTL. */
  create2: (path: string, stat: ZkStat): ReplyBody => (w) => { w.string(path); writeStat(w, stat); },
  /** ExistsResponse / SetDataResponse / SetACLResponse. */
  stat: (stat: ZkStat): ReplyBody => (w) => { writeStat(w, stat); },
  getData: (data: Uint8Array, stat: ZkStat): ReplyBody => (w) => { w.buffer(data); writeStat(w, stat); },
  getACL: (acl: readonly ZkAcl[], stat: ZkStat): ReplyBody => (w) => { w.vector(acl, writeAcl); writeStat(w, stat); },
  getChildren: (children: readonly string[]): ReplyBody => (w) => { w.vector(children, writeString); },
  getChildren2: (children: readonly string[], stat: ZkStat): ReplyBody => (w) => { w.vector(children, writeString); writeStat(w, stat); },
  /**
   * addWatch's answer is an ErrorResponse { err: 0 } (ZooKeeper's server sends one, and its Java
   * client reads one: without it the client takes the connection as broken).
   */
  addWatch: (): ReplyBody => (w) => { w.int(zkErr.ok); },
  /** SyncResponse. */
  sync: (path: string): ReplyBody => (w) => { w.string(path); },
  /**
   * MultiResponse: MultiHeader { type, done, err } per result, then its record; ended by
   * { type: -1, done: true, err: -1 }. An error result is header { -1, false, err } then ErrorResponse { err }.
   */
  multi: (results: readonly ZkMultiResult[]): ReplyBody => {
    const body: ReplyBody = (w) => {
      for (const res of results) writeMultiResult(w, res);
      w.int(multiDone).bool(true).int(multiDone);
    };
    sentOnError.add(body);
    return body;
  },
  /** GetEphemeralsResponse. */
  getEphemerals: (paths: readonly string[]): ReplyBody => (w) => { w.vector(paths, writeString); },
  /** GetAllChildrenNumberResponse { totalNumber }. */
  allChildrenNumber: (n: number): ReplyBody => (w) => { w.int(n); },
  /** WhoAmIResponse: vector<ClientInfo { authScheme, user }>. */
  whoAmI: (clientInfo: readonly { authScheme: string; user: string }[]): ReplyBody => (w) => {
    w.vector(clientInfo, (x, c) => { x.string(c.authScheme).string(c.user); });
  },
};
