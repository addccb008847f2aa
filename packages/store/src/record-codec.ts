// Value encodings of the durable records. Fixed binary layouts rather than msgpack: they are on
// the hot path of every apply, and their bytes (which the digest covers) must never depend on a
// library's choices.
import { multiOpsMax, sessionRepliesMax, sessionSecretBytesMax } from './constants.js';
import { assert, errorCodes, type ErrorCode } from './errors.js';
import type { CommandResult, OpError, OpResult } from './result.js';
import type { SessionRecord, SessionReply } from './session.js';
import type { Stat, Znode, ZnodeKind } from './znode.js';
import { ownedCopy } from './owned-bytes.js';
import { aclEntriesMax, aclSchemes, internAcl, isOpenAcl, openAcl, type Acl, type AclEntry } from './acl.js';
import { roles, type Role, type UserRecord } from './user.js';

const recordFormat = 1;
/** Session records with a reply table (see encodeSession). */
const sequencedRecordFormat = 2;
/** A znode with an ACL other than `openAcl`: the header, then the ACL, then the data (see encodeZnode). */
const aclNodeFormat = 3;
const kinds: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl'];
const kindCodes: Readonly<Record<ZnodeKind, number>> = { persistent: 0, ephemeral: 1, container: 2, ttl: 3 };
const nodeHeaderBytes = 2 + 11 * 8;
const sessionBytes = 1 + 3 * 8;
const sequencedSessionBytes = 1 + 4 * 8 + 1;

/**
 * A znode record: format:u8 kind:u8 and the eleven f64 fields, then the data. A node whose ACL is
 * not `openAcl` has format 3 and its ACL between the fields and the data:
 *
 *   count:u8 (perms:u8 scheme:u8 idBytes:u8 id)*
 *
 * so that records written before ACLs existed, and every node of a cluster without security, keep
 * their bytes and their digests.
 */
export function encodeZnode(node: Znode): Buffer {
  const acl = isOpenAcl(node.acl) ? null : encodeAcl(node.acl);
  const head = nodeHeaderBytes + (acl === null ? 0 : acl.byteLength);
  const out = Buffer.allocUnsafe(head + node.data.byteLength);
  out[0] = acl === null ? recordFormat : aclNodeFormat;
  out[1] = kindCodes[node.kind];
  out.writeDoubleBE(node.czxid, 2);
  out.writeDoubleBE(node.mzxid, 10);
  out.writeDoubleBE(node.pzxid, 18);
  out.writeDoubleBE(node.ctime, 26);
  out.writeDoubleBE(node.mtime, 34);
  out.writeDoubleBE(node.version, 42);
  out.writeDoubleBE(node.cversion, 50);
  out.writeDoubleBE(node.aversion, 58);
  out.writeDoubleBE(node.ephemeralOwner, 66);
  out.writeDoubleBE(node.numChildren, 74);
  out.writeDoubleBE(node.ttlMs, 82);
  if (acl !== null) out.set(acl, nodeHeaderBytes);
  out.set(node.data, head);
  return out;
}

/** `copy` makes the node's own copy of its data (a loaded tree's come from one DataArena). */
export function decodeZnode(bytes: Uint8Array, copy: (data: Uint8Array) => Uint8Array = ownedCopy): Znode {
  // Called once per znode when a member loads its tree: plain reads, no closure, no copy of the
  // record (LevelDB's values are Buffers already).
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert(b.byteLength >= nodeHeaderBytes && (b[0] === recordFormat || b[0] === aclNodeFormat), 'znode record format');
  const kind = kinds[b[1] as number];
  assert(kind !== undefined, 'znode record kind');
  let acl: Acl = openAcl;
  let dataAt = nodeHeaderBytes;
  if (b[0] === aclNodeFormat) {
    const r = new Reader(b, nodeHeaderBytes);
    acl = decodeAcl(r);
    dataAt = r.position;
  }
  return {
    kind,
    czxid: b.readDoubleBE(2),
    mzxid: b.readDoubleBE(10),
    pzxid: b.readDoubleBE(18),
    ctime: b.readDoubleBE(26),
    mtime: b.readDoubleBE(34),
    version: b.readDoubleBE(42),
    cversion: b.readDoubleBE(50),
    aversion: b.readDoubleBE(58),
    ephemeralOwner: b.readDoubleBE(66),
    numChildren: b.readDoubleBE(74),
    ttlMs: b.readDoubleBE(82),
    acl,
    // A copy, so that a node's data never aliases a buffer LevelDB or the caller may reuse.
    data: copy(b.subarray(dataAt)),
  };
}

function encodeAcl(acl: Acl): Buffer {
  const parts: Buffer[] = [Buffer.from([acl.length])];
  for (const e of acl) {
    const id = Buffer.from(e.id, 'utf8');
    assert(id.byteLength <= 255, 'ACL id length');
    parts.push(Buffer.from([e.perms, aclSchemes.indexOf(e.scheme), id.byteLength]), id);
  }
  return Buffer.concat(parts);
}

function decodeAcl(r: Reader): Acl {
  const count = r.u8();
  assert(count >= 1 && count <= aclEntriesMax, 'znode record ACL count');
  const entries: AclEntry[] = [];
  for (let i = 0; i < count; i++) {
    const perms = r.u8();
    const scheme = aclSchemes[r.u8()];
    assert(scheme !== undefined && perms <= 31, 'znode record ACL entry');
    entries.push({ perms, scheme, id: r.bytes(r.u8()).toString('utf8') });
  }
  return internAcl(entries);
}

/**
 * A user record (the key holds the name):
 *
 *   1:u8 hashBytes:u8 hash(ascii) roleCount:u8 (roleIndex:u8)*
 */
export function encodeUser(user: UserRecord): Buffer {
  const hash = Buffer.from(user.hash, 'latin1');
  assert(hash.byteLength <= 255, 'user hash length');
  return Buffer.concat([Buffer.from([recordFormat, hash.byteLength]), hash, Buffer.from([user.roles.length, ...user.roles.map((r) => roles.indexOf(r))])]);
}

export function decodeUser(name: string, bytes: Uint8Array): UserRecord {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0);
  assert(r.u8() === recordFormat, 'user record format');
  const hash = r.bytes(r.u8()).toString('latin1');
  const count = r.u8();
  const userRoles: Role[] = [];
  for (let i = 0; i < count; i++) {
    const role = roles[r.u8()];
    assert(role !== undefined, 'user record role');
    userRoles.push(role);
  }
  r.end();
  return { name, hash, roles: userRoles };
}

/**
 * A session record. Version 1, for a session that never made a sequenced write: the fixed fields,
 * then the secret's bytes. Version 2 adds the reply table:
 *
 *   2:u8 timeoutMs openedMs lastSeenMs seqFloor:f64 secretBytes:u8 secret
 *   replyCount:u16 (seq:f64 resultBytes:u32 result)*                      in increasing seq order
 *
 * Each state has one encoding (version 1 exactly when the table is empty and the floor 0), so
 * records written before sequenced writes existed keep their bytes and digests.
 */
export function encodeSession(session: SessionRecord): Buffer {
  if (session.seqFloor === 0 && session.replies.length === 0) {
    const out = Buffer.allocUnsafe(sessionBytes + session.secret.byteLength);
    out[0] = recordFormat;
    out.writeDoubleBE(session.timeoutMs, 1);
    out.writeDoubleBE(session.openedMs, 9);
    out.writeDoubleBE(session.lastSeenMs, 17);
    out.set(session.secret, sessionBytes);
    return out;
  }
  assert(session.seqFloor >= 1 && session.replies.length >= 1, 'a reply table without a floor or replies');
  assert(session.replies.length <= sessionRepliesMax && session.secret.byteLength <= sessionSecretBytesMax, 'session record bounds');
  const replies = session.replies.map(encodedReply);
  const head = Buffer.allocUnsafe(sequencedSessionBytes + session.secret.byteLength + 2);
  head[0] = sequencedRecordFormat;
  head.writeDoubleBE(session.timeoutMs, 1);
  head.writeDoubleBE(session.openedMs, 9);
  head.writeDoubleBE(session.lastSeenMs, 17);
  head.writeDoubleBE(session.seqFloor, 25);
  head[33] = session.secret.byteLength;
  head.set(session.secret, sequencedSessionBytes);
  head.writeUInt16BE(replies.length, sequencedSessionBytes + session.secret.byteLength);
  return Buffer.concat([head, ...replies]);
}

export function decodeSession(sessionId: number, bytes: Uint8Array): SessionRecord {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b[0] === recordFormat) {
    assert(b.byteLength >= sessionBytes && b.byteLength <= sessionBytes + sessionSecretBytesMax, 'session record format');
    const secret = new Uint8Array(b.subarray(sessionBytes));
    return { sessionId, timeoutMs: b.readDoubleBE(1), openedMs: b.readDoubleBE(9), lastSeenMs: b.readDoubleBE(17), secret, seqFloor: 0, replies: [] };
  }
  assert(b[0] === sequencedRecordFormat && b.byteLength >= sequencedSessionBytes, 'session record format');
  const r = new Reader(b, 1);
  const timeoutMs = r.f64();
  const openedMs = r.f64();
  const lastSeenMs = r.f64();
  const seqFloor = r.f64();
  const secretBytes = r.u8();
  assert(secretBytes <= sessionSecretBytesMax, 'session record secret');
  const secret = new Uint8Array(r.bytes(secretBytes));
  const count = r.u16();
  assert(count >= 1 && count <= sessionRepliesMax, 'session record reply count');
  const replies: SessionReply[] = [];
  for (let i = 0; i < count; i++) {
    const seq = r.f64();
    const result = decodeResult(r.bytes(r.u32()));
    assert(Number.isSafeInteger(seq) && seq >= seqFloor && (i === 0 || seq > (replies[i - 1] as SessionReply).seq), 'session record reply order');
    replies.push({ seq, result });
  }
  r.end();
  assert(Number.isSafeInteger(seqFloor) && seqFloor >= 1, 'session record floor');
  return { sessionId, timeoutMs, openedMs, lastSeenMs, secret, seqFloor, replies };
}

// ---- recorded results (the reply table) ----
//
//   result  = 1:u8 value | 0:u8 code:str message:str hasPath:u8 [path:str] hasOpIndex:u8 [opIndex:f64]
//   value   = opResult | 4:u8 count:u32 opResult*                          (4: multi)
//   opResult = 0:u8 path:str stat | 1:u8 stat | 2:u8 | 3:u8                (create, set, delete, check)
//   stat    = the eleven Stat fields as f64, in statFields order;  str = bytes:u32 utf8
//
// A code is stored by name, so that adding codes never changes what a stored one means.

const statFields = [
  'czxid', 'mzxid', 'pzxid', 'ctime', 'mtime', 'version', 'cversion', 'aversion', 'ephemeralOwner', 'dataLength', 'numChildren',
] as const satisfies readonly (keyof Stat)[];
const opResultCodes: Readonly<Record<OpResult['type'], number>> = { create: 0, set: 1, delete: 2, check: 3 };
const multiCode = 4;
const setAclCode = 5;
const codeSet: ReadonlySet<string> = new Set(errorCodes);

/** Replies are immutable and kept across many rewrites of their session: encode each once. */
const replyBytes = new WeakMap<SessionReply, Buffer>();

function encodedReply(reply: SessionReply): Buffer {
  let out = replyBytes.get(reply);
  if (out === undefined) {
    const w = new Writer();
    w.f64(reply.seq);
    const result = encodeResult(reply.result);
    w.u32(result.byteLength);
    w.parts.push(result);
    out = w.finish();
    replyBytes.set(reply, out);
  }
  return out;
}

function encodeResult(result: CommandResult): Buffer {
  const w = new Writer();
  if (!result.ok) {
    const e = result.error;
    w.u8(0);
    w.str(e.code);
    w.str(e.message);
    w.u8(e.path === undefined ? 0 : 1);
    if (e.path !== undefined) w.str(e.path);
    w.u8(e.opIndex === undefined ? 0 : 1);
    if (e.opIndex !== undefined) w.f64(e.opIndex);
    return w.finish();
  }
  w.u8(1);
  const value = result.value;
  if (value.type === 'multi') {
    w.u8(multiCode);
    w.u32(value.results.length);
    for (const r of value.results) writeOpResult(w, r);
  } else if (value.type === 'setAcl') {
    w.u8(setAclCode);
    for (const field of statFields) w.f64(value.stat[field]);
  } else {
    assert(value.type === 'create' || value.type === 'set' || value.type === 'delete' || value.type === 'check', `a ${value.type} result in a reply table`);
    writeOpResult(w, value);
  }
  return w.finish();
}

function decodeResult(bytes: Buffer): CommandResult {
  const r = new Reader(bytes, 0);
  let result: CommandResult;
  if (r.u8() === 0) {
    const code = r.str();
    assert(codeSet.has(code), 'recorded result code');
    const message = r.str();
    const path = r.u8() === 1 ? r.str() : undefined;
    const opIndex = r.u8() === 1 ? r.f64() : undefined;
    const error: OpError = {
      code: code as ErrorCode,
      message,
      ...(path === undefined ? {} : { path }),
      ...(opIndex === undefined ? {} : { opIndex }),
    };
    result = { ok: false, error };
  } else if (r.peek() === multiCode) {
    r.u8();
    const count = r.u32();
    assert(count <= multiOpsMax, 'recorded multi result count');
    const results: OpResult[] = [];
    for (let i = 0; i < count; i++) results.push(readOpResult(r));
    result = { ok: true, value: { type: 'multi', results } };
  } else if (r.peek() === setAclCode) {
    r.u8();
    result = { ok: true, value: { type: 'setAcl', stat: readStat(r) } };
  } else {
    result = { ok: true, value: readOpResult(r) };
  }
  r.end();
  return result;
}

function writeOpResult(w: Writer, r: OpResult): void {
  w.u8(opResultCodes[r.type]);
  if (r.type === 'create') w.str(r.path);
  if (r.type === 'create' || r.type === 'set') for (const field of statFields) w.f64(r.stat[field]);
}

function readOpResult(r: Reader): OpResult {
  const code = r.u8();
  const stat = (): Stat => readStat(r);
  switch (code) {
    case 0: {
      const path = r.str();
      return { type: 'create', path, stat: stat() };
    }
    case 1:
      return { type: 'set', stat: stat() };
    case 2:
      return { type: 'delete' };
    default:
      assert(code === 3, 'recorded op result type');
      return { type: 'check' };
  }
}

function readStat(r: Reader): Stat {
  const out: Record<string, number> = {};
  for (const field of statFields) out[field] = r.f64();
  return out as unknown as Stat;
}

/** Appends fields to a list of parts; the strings' lengths are only known once encoded. */
class Writer {
  readonly parts: Buffer[] = [];

  u8(n: number): void {
    this.parts.push(Buffer.from([n]));
  }

  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n, 0);
    this.parts.push(b);
  }

  f64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(n, 0);
    this.parts.push(b);
  }

  str(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u32(bytes.byteLength);
    this.parts.push(bytes);
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Reads fields in order; running past the end, or stopping short of it, is a broken record. */
class Reader {
  constructor(
    private readonly b: Buffer,
    private at: number,
  ) {}

  private take(n: number): number {
    assert(this.at + n <= this.b.byteLength, 'truncated record');
    const at = this.at;
    this.at += n;
    return at;
  }

  peek(): number {
    assert(this.at < this.b.byteLength, 'truncated record');
    return this.b[this.at] as number;
  }

  u8(): number {
    return this.b[this.take(1)] as number;
  }

  u16(): number {
    return this.b.readUInt16BE(this.take(2));
  }

  u32(): number {
    return this.b.readUInt32BE(this.take(4));
  }

  f64(): number {
    return this.b.readDoubleBE(this.take(8));
  }

  bytes(n: number): Buffer {
    const at = this.take(n);
    return this.b.subarray(at, at + n);
  }

  str(): string {
    return this.bytes(this.u32()).toString('utf8');
  }

  get position(): number {
    return this.at;
  }

  end(): void {
    assert(this.at === this.b.byteLength, 'trailing bytes in record');
  }
}

export function encodeIndex(index: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeDoubleBE(index, 0);
  return out;
}

export function decodeIndex(bytes: Uint8Array): number {
  assert(bytes.byteLength === 8, 'index record format');
  return Buffer.from(bytes.buffer, bytes.byteOffset, 8).readDoubleBE(0);
}
