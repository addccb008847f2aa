/**
 * Shape validation of decoded frames. Each validator reads only the keys it knows (own
 * properties), treats nil as absent for optional fields, and builds a fresh frame, so unknown keys
 * are dropped and nothing from the wire reaches the caller unchecked.
 *
 * Which code a problem gets: a missing field, a wrong msgpack type or an out-of-range protocol
 * number (ids, revisions) is MALFORMED_FRAME; an unknown request op is UNKNOWN_OP; a well-typed
 * operation argument with a bad value (data or path too long, unknown mode, limit out of range) is
 * BAD_ARGUMENTS, the code the store gives the same problem. So is a write's `seq`/`seqFloor` pair
 * out of range or inconsistent: it refuses that write, not the frame.
 */
import {
  aclEntriesMax,
  aclIdBytesMax,
  authSecretBytesMax,
  userNameBytesMax,
  childrenPageMax,
  dataBytesMax,
  errorMessageBytesMax,
  multiOpsMax,
  pathBytesMax,
  requestIdMax,
  sessionSecretBytes,
  sessionWritesInFlightMax,
  ttlMsMax,
  watchEventsPerFrameMax,
  watchIdMax,
} from './constants.js';
import { errorCatalogue, errorCodeOfWire, type WireError } from './errors.js';
import { utf8ByteLength } from './utf8.js';
import {
  aclSchemes,
  consistencies,
  createModes,
  multiOpNames,
  ops,
  sessionStates,
  statFields,
  ttlCreateModes,
  watchEventKinds,
  watchModes,
  type AclEntry,
  type ClientFrame,
  type Consistency,
  type CreateFields,
  type CreateMode,
  type HelloFrame,
  type MultiOp,
  type MultiOpResult,
  type Op,
  type OpResult,
  type Request,
  type ServerFrame,
  type WriteSequence,
  type Stat,
  type WatchEvent,
} from './frames.js';

export type DecodeErrorCode = 'MALFORMED_FRAME' | 'FRAME_TOO_LARGE' | 'UNKNOWN_OP' | 'BAD_ARGUMENTS';

export interface DecodeError {
  readonly code: DecodeErrorCode;
  readonly message: string;
  /** The request (or response) id, when it was readable: answer that request, keep the connection. */
  readonly id?: number;
  /** The request's op, when it was readable and known. */
  readonly op?: Op;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

/** Filled in while validating, so a failure can say which request it belongs to. */
export interface DecodeContext {
  id?: number;
  op?: Op;
}

/** Thrown inside validation only; the codec turns it into a `Decoded` failure. */
export class Invalid extends Error {
  constructor(
    readonly code: DecodeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Raw = Readonly<Record<string, unknown>>;

const malformed = (message: string): never => {
  throw new Invalid('MALFORMED_FRAME', message);
};
const badArguments = (message: string): never => {
  throw new Invalid('BAD_ARGUMENTS', message);
};

function isMap(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** An own property; nil and absent are both undefined. */
function field(raw: Raw, key: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(raw, key)) return undefined;
  const v = raw[key];
  return v === null ? undefined : v;
}

function required(raw: Raw, key: string, at: string): unknown {
  const v = field(raw, key);
  if (v === undefined) malformed(`${at}${key} is missing`);
  return v;
}

function map(raw: Raw, key: string, at: string): Raw {
  const v = required(raw, key, at);
  if (!isMap(v)) malformed(`${at}${key} is not a map`);
  return v as Raw;
}

function array(raw: Raw, key: string, at: string): readonly unknown[] {
  const v = required(raw, key, at);
  if (!Array.isArray(v)) malformed(`${at}${key} is not an array`);
  return v as readonly unknown[];
}

function str(raw: Raw, key: string, at: string): string {
  const v = required(raw, key, at);
  if (typeof v !== 'string') malformed(`${at}${key} is not a str`);
  return v as string;
}

function bool(raw: Raw, key: string, at: string): boolean {
  const v = required(raw, key, at);
  if (typeof v !== 'boolean') malformed(`${at}${key} is not a bool`);
  return v as boolean;
}

function optBool(raw: Raw, key: string, at: string): boolean | undefined {
  return field(raw, key) === undefined ? undefined : bool(raw, key, at);
}

interface IntRange {
  readonly min: number;
  readonly max: number;
  /** Who is at fault for a value out of range: the protocol (default) or an op argument. */
  readonly argument?: boolean;
}

function int(raw: Raw, key: string, at: string, range: IntRange): number {
  const v = required(raw, key, at);
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) malformed(`${at}${key} is not an integer`);
  const n = v as number;
  if (n < range.min || n > range.max) {
    (range.argument === true ? badArguments : malformed)(`${at}${key} must be ${range.min}..${range.max}`);
  }
  return n;
}

function optInt(raw: Raw, key: string, at: string, range: IntRange): number | undefined {
  return field(raw, key) === undefined ? undefined : int(raw, key, at, range);
}

const uint = { min: 0, max: Number.MAX_SAFE_INTEGER } as const;
const positive = { min: 1, max: Number.MAX_SAFE_INTEGER } as const;
/**
 * An expected version is ZooKeeper's int: −1 means any, and any other int32 (−2 included) is
 * compared, so one no node can have is BAD_VERSION from the store, as in ZooKeeper.
 */
const version = { min: -(2 ** 31), max: 2 ** 31 - 1, argument: true } as const;

function boundedStr(raw: Raw, key: string, at: string, bytesMax: number, argument: boolean): string {
  const s = str(raw, key, at);
  // Each UTF-16 unit is at most 3 UTF-8 bytes: short strings need no counting.
  if (s.length * 3 > bytesMax && utf8ByteLength(s, bytesMax) > bytesMax) {
    (argument ? badArguments : malformed)(`${at}${key} is longer than ${bytesMax} bytes`);
  }
  return s;
}

/** A path of a request: the syntax is the store's to judge (BAD_ARGUMENTS there too). */
function path(raw: Raw, key: string, at: string): string {
  return boundedStr(raw, key, at, pathBytesMax, true);
}

function bytes(raw: Raw, key: string, at: string): Uint8Array {
  const v = required(raw, key, at);
  if (!(v instanceof Uint8Array)) malformed(`${at}${key} is not a bin`);
  return v as Uint8Array;
}

function data(raw: Raw, key: string, at: string): Uint8Array {
  const b = bytes(raw, key, at);
  if (b.byteLength > dataBytesMax) badArguments(`${at}${key} is ${b.byteLength} bytes, more than ${dataBytesMax}`);
  return b;
}

function oneOf<T extends string>(raw: Raw, key: string, at: string, allowed: readonly T[], argument: boolean): T {
  const s = str(raw, key, at);
  if (!(allowed as readonly string[]).includes(s)) {
    (argument ? badArguments : malformed)(`${at}${key} ${JSON.stringify(s.slice(0, 64))} is not one of ${allowed.join(', ')}`);
  }
  return s as T;
}

function optOneOf<T extends string>(raw: Raw, key: string, at: string, allowed: readonly T[]): T | undefined {
  return field(raw, key) === undefined ? undefined : oneOf(raw, key, at, allowed, true);
}

/** Copies the defined entries of `fields` onto `base`: exactOptionalPropertyTypes wants absent, not undefined. */
function withOptional<T extends object>(base: T, fields: Readonly<Record<string, unknown>>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return out as T;
}

// ---- client frames ----

/**
 * An ACL's shape: entries of a known scheme, an id of bounded length and perms 0..31. Whether an
 * id means something (a user name, an address) is the server's to judge (INVALID_ACL).
 */
function acl(raw: Raw, key: string, at: string): AclEntry[] {
  const list = array(raw, key, at);
  if (list.length > aclEntriesMax) badArguments(`${at}${key} holds ${list.length} entries, more than ${aclEntriesMax}`);
  return list.map((value, i) => {
    const where = `${at}${key}[${i}].`;
    if (!isMap(value)) return malformed(`${at}${key}[${i}] is not a map`);
    return {
      scheme: oneOf(value, 'scheme', where, aclSchemes, true),
      id: boundedStr(value, 'id', where, aclIdBytesMax, true),
      perms: int(value, 'perms', where, { min: 0, max: 31, argument: true }),
    };
  });
}

function createFields(raw: Raw, at: string): CreateFields {
  const mode = oneOf<CreateMode>(raw, 'mode', at, createModes, true);
  const isTtl = ttlCreateModes.includes(mode);
  if (isTtl && field(raw, 'ttlMs') === undefined) badArguments(`${at}ttlMs is required for mode ${mode}`);
  if (!isTtl && field(raw, 'ttlMs') !== undefined) badArguments(`${at}ttlMs is only for the TTL modes`);
  return withOptional(
    { path: path(raw, 'path', at), data: data(raw, 'data', at), mode },
    {
      ttlMs: optInt(raw, 'ttlMs', at, { min: 1, max: ttlMsMax, argument: true }),
      createParents: optBool(raw, 'createParents', at),
      acl: field(raw, 'acl') === undefined ? undefined : acl(raw, 'acl', at),
    },
  );
}

function multiOp(value: unknown, index: number): MultiOp {
  const at = `ops[${index}].`;
  if (!isMap(value)) return malformed(`ops[${index}] is not a map`);
  const op = str(value, 'op', at);
  switch (op) {
    case 'create':
      return { op, ...createFields(value, at) };
    case 'set':
      return withOptional({ op, path: path(value, 'path', at), data: data(value, 'data', at) }, { version: optInt(value, 'version', at, version) });
    case 'delete':
    case 'check':
      return withOptional({ op, path: path(value, 'path', at) }, { version: optInt(value, 'version', at, version) });
    default:
      if ((ops as readonly string[]).includes(op)) return badArguments(`${at}op ${op} is not allowed in a multi (only ${multiOpNames.join(', ')})`);
      throw new Invalid('UNKNOWN_OP', `${at}op ${JSON.stringify(op.slice(0, 64))} is unknown`);
  }
}

/** `seq` and `seqFloor` of a write: both or neither, `seqFloor ≤ seq < seqFloor + sessionWritesInFlightMax`. */
function writeSequence(raw: Raw): WriteSequence {
  const seq = optInt(raw, 'seq', '', { ...positive, argument: true });
  const seqFloor = optInt(raw, 'seqFloor', '', { ...positive, argument: true });
  if (seq === undefined && seqFloor === undefined) return {};
  if (seq === undefined || seqFloor === undefined) return badArguments(seq === undefined ? 'seqFloor without seq' : 'seq without seqFloor');
  if (seqFloor > seq) badArguments(`seqFloor ${seqFloor} is above seq ${seq}`);
  if (seq - seqFloor >= sessionWritesInFlightMax) badArguments(`seq ${seq} is ${sessionWritesInFlightMax} or more above seqFloor ${seqFloor}`);
  return { seq, seqFloor };
}

function readFields(raw: Raw): { path: string; watch?: boolean; consistency?: Consistency } {
  return withOptional(
    { path: path(raw, 'path', '') },
    { watch: optBool(raw, 'watch', ''), consistency: optOneOf(raw, 'consistency', '', consistencies) },
  );
}

function request(raw: Raw, ctx: DecodeContext): Request {
  const id = int(raw, 'id', '', { min: 0, max: requestIdMax });
  ctx.id = id;
  const opValue = str(raw, 'op', '');
  if (!(ops as readonly string[]).includes(opValue)) throw new Invalid('UNKNOWN_OP', `op ${JSON.stringify(opValue.slice(0, 64))} is unknown`);
  const op = opValue as Op;
  ctx.op = op;
  const t = 'req' as const;
  switch (op) {
    case 'create':
      return { t, id, op, ...createFields(raw, ''), ...writeSequence(raw) };
    case 'get':
    case 'exists':
      return { t, id, op, ...readFields(raw) };
    case 'set':
      return withOptional({ t, id, op, path: path(raw, 'path', ''), data: data(raw, 'data', '') }, { version: optInt(raw, 'version', '', version), ...writeSequence(raw) });
    case 'delete':
      return withOptional({ t, id, op, path: path(raw, 'path', '') }, { version: optInt(raw, 'version', '', version), ...writeSequence(raw) });
    case 'children':
      return withOptional(
        { t, id, op, ...readFields(raw) },
        {
          withStats: optBool(raw, 'withStats', ''),
          after: field(raw, 'after') === undefined ? undefined : boundedStr(raw, 'after', '', pathBytesMax, true),
          limit: optInt(raw, 'limit', '', { min: 1, max: childrenPageMax, argument: true }),
        },
      );
    case 'multi': {
      const list = array(raw, 'ops', '');
      if (list.length > multiOpsMax) badArguments(`ops holds ${list.length} ops, more than ${multiOpsMax}`);
      return { t, id, op, ops: list.map(multiOp), ...writeSequence(raw) };
    }
    case 'watch':
      return withOptional(
        { t, id, op, path: path(raw, 'path', ''), mode: oneOf(raw, 'mode', '', watchModes, true) },
        { fromRevision: optInt(raw, 'fromRevision', '', uint) },
      );
    case 'unwatch':
      return { t, id, op, watchId: int(raw, 'watchId', '', { min: 1, max: watchIdMax }) };
    case 'getAcl':
      return withOptional({ t, id, op, path: path(raw, 'path', '') }, { consistency: optOneOf(raw, 'consistency', '', consistencies) });
    case 'setAcl':
      return withOptional({ t, id, op, path: path(raw, 'path', ''), acl: acl(raw, 'acl', '') }, { version: optInt(raw, 'version', '', version), ...writeSequence(raw) });
    case 'whoami':
    case 'sync':
    case 'ping':
    case 'close':
      return { t, id, op };
  }
}

function secret(raw: Raw, key: string, at: string): Uint8Array {
  const b = bytes(raw, key, at);
  if (b.byteLength !== sessionSecretBytes) malformed(`${at}${key} must be ${sessionSecretBytes} bytes`);
  return b;
}

function hello(raw: Raw): HelloFrame {
  const base: HelloFrame = {
    t: 'hello',
    protocolVersion: int(raw, 'protocolVersion', '', { min: 1, max: 0xffff }),
    sessionTimeoutMs: int(raw, 'sessionTimeoutMs', '', positive),
  };
  let out: HelloFrame = base;
  if (field(raw, 'session') !== undefined) {
    const s = map(raw, 'session', '');
    out = { ...out, session: { id: int(s, 'id', 'session.', positive), secret: secret(s, 'secret', 'session.'), lastRevision: int(s, 'lastRevision', 'session.', uint) } };
  }
  if (field(raw, 'auth') !== undefined) {
    const a = map(raw, 'auth', '');
    out = { ...out, auth: { user: boundedStr(a, 'user', 'auth.', userNameBytesMax, false), secret: boundedStr(a, 'secret', 'auth.', authSecretBytesMax, false) } };
  }
  return out;
}

/** Checks a decoded value (or one an SDK is about to send) against the client frames. Throws Invalid. */
export function validateClientValue(value: unknown, ctx: DecodeContext): ClientFrame {
  if (!isMap(value)) return malformed('frame is not a map');
  const t = field(value, 't');
  if (t === 'req') return request(value, ctx);
  if (t === 'hello') return hello(value);
  return malformed(typeof t === 'string' ? `frame type ${JSON.stringify(t.slice(0, 64))} is not a client frame` : 'frame type t is missing');
}

// ---- server frames ----

function stat(value: unknown, at: string): Stat {
  if (!isMap(value)) return malformed(`${at} is not a map`);
  const out: Record<string, number> = {};
  for (const key of statFields) out[key] = int(value, key, `${at}.`, uint);
  return out as unknown as Stat;
}

function wireError(raw: Raw, at: string): WireError {
  const code = int(raw, 'code', at, uint);
  const name = str(raw, 'name', at);
  const message = boundedStr(raw, 'message', at, errorMessageBytesMax, false);
  const extra = {
    path: field(raw, 'path') === undefined ? undefined : boundedStr(raw, 'path', at, pathBytesMax, false),
    opIndex: optInt(raw, 'opIndex', at, { min: 0, max: multiOpsMax - 1 }),
  };
  const known = errorCodeOfWire(code);
  // A newer server may know codes this client does not: keep the text, make it INTERNAL.
  if (known === undefined) {
    return withOptional({ code: errorCatalogue.INTERNAL.wire, name: 'INTERNAL', message: `unknown error ${code} ${name.slice(0, 64)}: ${message}` }, extra);
  }
  return withOptional({ code, name: known, message }, extra);
}

function multiOpResult(value: unknown, index: number): MultiOpResult {
  const at = `results[${index}].`;
  if (!isMap(value)) return malformed(`results[${index}] is not a map`);
  const op = oneOf(value, 'op', at, multiOpNames, false);
  switch (op) {
    case 'create':
      return { op, path: boundedStr(value, 'path', at, pathBytesMax, false), stat: stat(required(value, 'stat', at), `${at}stat`) };
    case 'set':
      return { op, stat: stat(required(value, 'stat', at), `${at}stat`) };
    case 'delete':
    case 'check':
      return { op };
  }
}

const optWatchId = (raw: Raw): number | undefined => optInt(raw, 'watchId', '', { min: 1, max: watchIdMax });

function opResult(raw: Raw, op: Op): OpResult {
  const serverPath = (key: string): string => boundedStr(raw, key, '', pathBytesMax, false);
  switch (op) {
    case 'create':
      return { op, path: serverPath('path'), stat: stat(required(raw, 'stat', ''), 'stat') };
    case 'get':
      return withOptional({ op, data: bytes(raw, 'data', ''), stat: stat(required(raw, 'stat', ''), 'stat') }, { watchId: optWatchId(raw) });
    case 'set':
      return { op, stat: stat(required(raw, 'stat', ''), 'stat') };
    case 'exists': {
      // The one field whose nil is a value: no such node.
      if (!Object.prototype.hasOwnProperty.call(raw, 'stat')) malformed('stat is missing (nil when there is no node)');
      const s = field(raw, 'stat');
      return withOptional({ op, stat: s === undefined ? null : stat(s, 'stat') }, { watchId: optWatchId(raw) });
    }
    case 'children': {
      const names = array(raw, 'names', '');
      if (names.length > childrenPageMax) malformed(`names holds more than ${childrenPageMax} names`);
      const checkedNames = names.map((n, i) => {
        if (typeof n !== 'string') return malformed(`names[${i}] is not a str`);
        if (utf8ByteLength(n, pathBytesMax) > pathBytesMax) malformed(`names[${i}] is too long`);
        return n;
      });
      let stats: Stat[] | undefined;
      if (field(raw, 'stats') !== undefined) {
        const list = array(raw, 'stats', '');
        if (list.length !== names.length) malformed('stats and names differ in length');
        stats = list.map((s, i) => stat(s, `stats[${i}]`));
      }
      return withOptional(
        { op, names: checkedNames },
        { stats, next: field(raw, 'next') === undefined ? undefined : serverPath('next'), watchId: optWatchId(raw) },
      );
    }
    case 'multi': {
      const results = array(raw, 'results', '');
      if (results.length > multiOpsMax) malformed(`results holds more than ${multiOpsMax} results`);
      return { op, results: results.map(multiOpResult) };
    }
    case 'watch':
      return { op, watchId: int(raw, 'watchId', '', { min: 1, max: watchIdMax }) };
    case 'getAcl':
      return { op, acl: acl(raw, 'acl', ''), stat: stat(required(raw, 'stat', ''), 'stat') };
    case 'setAcl':
      return { op, stat: stat(required(raw, 'stat', ''), 'stat') };
    case 'whoami': {
      const roleList = array(raw, 'roles', '');
      if (roleList.length > 16) malformed('roles holds more than 16 roles');
      const roles = roleList.map((r, i) => (typeof r === 'string' && r.length <= 32 ? r : malformed(`roles[${i}] is not a short str`)));
      return withOptional(
        { op, superuser: bool(raw, 'superuser', ''), roles, address: boundedStr(raw, 'address', '', 64, false) },
        { user: field(raw, 'user') === undefined ? undefined : boundedStr(raw, 'user', '', userNameBytesMax, false) },
      );
    }
    case 'delete':
    case 'sync':
    case 'unwatch':
    case 'ping':
    case 'close':
      return { op };
  }
}

function response(raw: Raw, ctx: DecodeContext): ServerFrame {
  const id = int(raw, 'id', '', { min: 0, max: requestIdMax });
  ctx.id = id;
  const ok = bool(raw, 'ok', '');
  const revision = int(raw, 'revision', '', uint);
  if (ok) {
    const op = oneOf(raw, 'op', '', ops, false);
    ctx.op = op;
    return { t: 'res', id, ok, revision, ...opResult(raw, op) };
  }
  const op = field(raw, 'op') === undefined ? undefined : oneOf(raw, 'op', '', ops, false);
  if (op !== undefined) ctx.op = op;
  return withOptional({ t: 'res' as const, id, ok, revision, error: wireError(map(raw, 'error', ''), 'error.') }, { op });
}

function watchEvent(value: unknown, index: number): WatchEvent {
  const at = `events[${index}].`;
  if (!isMap(value)) return malformed(`events[${index}] is not a map`);
  return {
    path: boundedStr(value, 'path', at, pathBytesMax, false),
    kind: oneOf(value, 'kind', at, watchEventKinds, false),
    revision: int(value, 'revision', at, uint),
  };
}

/** Checks a decoded value against the server frames. Throws Invalid. */
export function validateServerValue(value: unknown, ctx: DecodeContext): ServerFrame {
  if (!isMap(value)) return malformed('frame is not a map');
  const t = field(value, 't');
  switch (t) {
    case 'res':
      return response(value, ctx);
    case 'watch': {
      const events = array(value, 'events', '');
      if (events.length === 0 || events.length > watchEventsPerFrameMax) malformed(`events must hold 1..${watchEventsPerFrameMax} events`);
      return { t, watchId: int(value, 'watchId', '', { min: 1, max: watchIdMax }), events: events.map(watchEvent) };
    }
    case 'welcome':
      return {
        t,
        protocolVersion: int(value, 'protocolVersion', '', { min: 1, max: 0xffff }),
        sessionId: int(value, 'sessionId', '', positive),
        secret: secret(value, 'secret', ''),
        negotiatedTimeoutMs: int(value, 'negotiatedTimeoutMs', '', positive),
        serverId: int(value, 'serverId', '', positive),
        revision: int(value, 'revision', '', uint),
        resumed: bool(value, 'resumed', ''),
        ...(field(value, 'user') === undefined ? {} : { user: boundedStr(value, 'user', '', userNameBytesMax, false) }),
      };
    case 'compacted':
      return { t, watchId: int(value, 'watchId', '', { min: 1, max: watchIdMax }), floor: int(value, 'floor', '', uint) };
    case 'session':
      return { t, state: oneOf(value, 'state', '', sessionStates, false) };
    case 'error':
      return { t, error: wireError(map(value, 'error', ''), 'error.') };
    default:
      return malformed(typeof t === 'string' ? `frame type ${JSON.stringify(t.slice(0, 64))} is not a server frame` : 'frame type t is missing');
  }
}

/** Runs a validator; never throws (anything but Invalid is a MALFORMED_FRAME too). */
export function validating<T>(value: unknown, validate: (value: unknown, ctx: DecodeContext) => T): Decoded<T> {
  const ctx: DecodeContext = {};
  try {
    return { ok: true, value: validate(value, ctx) };
  } catch (err) {
    const base = err instanceof Invalid ? { code: err.code, message: err.message } : { code: 'MALFORMED_FRAME' as const, message: String(err) };
    return { ok: false, error: { ...base, ...(ctx.id === undefined ? {} : { id: ctx.id }), ...(ctx.op === undefined ? {} : { op: ctx.op }) } };
  }
}

/**
 * Checks a frame an SDK is about to send by the server's rules, so a bad argument fails locally
 * with the code the server would give. Returns the frame rebuilt from its known fields.
 */
export function validateClientFrame(frame: unknown): Decoded<ClientFrame> {
  return validating(frame, validateClientValue);
}

/** The same check for frames a server is about to send (tests, debugging). */
export function validateServerFrame(frame: unknown): Decoded<ServerFrame> {
  return validating(frame, validateServerValue);
}
