import { errorMessageBytesMax } from './constants.js';

/**
 * The one table of operational failures a client can see: each name with its wire number, whether
 * a retry can succeed, where it arises and what it means. docs/protocol.md's error table is
 * generated from it. Broken invariants are not here: they are asserts.
 *
 * `retryable: true` means the request certainly did not take effect and sending it again (on this
 * or another connection) may succeed. TIMEOUT and CONNECTION_LOSS are not retryable: their outcome
 * is unknown, so a read may be repeated but a write must be checked first — unless it is resent
 * under its session `seq`, which the cluster applies at most once (docs/protocol.md §5).
 *
 * Wire numbers are stable forever: never reuse or renumber one, only add. They stay below 1000 so
 * that `4000 + wire` is a WebSocket application close code.
 */

export interface ErrorSpec {
  readonly wire: number;
  readonly retryable: boolean;
  /** 'server': sent in frames; 'client': raised by a client library, never on the wire. */
  readonly origin: 'server' | 'client';
  readonly description: string;
}

export const errorCatalogue = {
  // 1xx: the znode tree (names as in ZooKeeper and @vigil/store).
  NO_NODE: { wire: 101, retryable: false, origin: 'server', description: 'the node (for create: its parent) does not exist' },
  NODE_EXISTS: { wire: 102, retryable: false, origin: 'server', description: 'create of a path that exists' },
  BAD_VERSION: { wire: 103, retryable: false, origin: 'server', description: 'the expected version did not match' },
  NOT_EMPTY: { wire: 104, retryable: false, origin: 'server', description: 'delete of a node that has children' },
  NO_CHILDREN_FOR_EPHEMERALS: { wire: 105, retryable: false, origin: 'server', description: 'create under an ephemeral node' },
  BAD_ARGUMENTS: { wire: 106, retryable: false, origin: 'server', description: 'a well-typed field with an invalid value: path syntax, data or path too long, mode/TTL, limit out of range' },
  NO_WATCH: { wire: 107, retryable: false, origin: 'server', description: '`unwatch` of a watch id this session does not hold' },
  HISTORY_COMPACTED: { wire: 108, retryable: false, origin: 'server', description: 'a watch resumed from a revision whose events are no longer kept; re-read state (sent as a `compacted` frame)' },
  NO_AUTH: { wire: 109, retryable: false, origin: 'server', description: 'the node\'s ACL does not grant the connection\'s identity the permission the op needs (read, write, create, delete or admin)' },
  INVALID_ACL: { wire: 110, retryable: false, origin: 'server', description: 'an ACL that is empty, too long, of an unknown scheme or a malformed id, or `auth` without an authenticated identity' },
  // 2xx: sessions.
  SESSION_EXPIRED: { wire: 201, retryable: false, origin: 'server', description: 'the session is expired, closed, unknown, or its secret is wrong; its ephemerals are gone' },
  SESSION_MOVED: { wire: 202, retryable: false, origin: 'server', description: 'the session was attached on another connection; this one is closed' },
  TOO_MANY_WATCHES: { wire: 203, retryable: false, origin: 'server', description: 'the session holds watchesPerSessionMax watches' },
  STALE_SEQUENCE: { wire: 204, retryable: false, origin: 'server', description: 'a write whose `seq` the session has moved past: a later write of the session took effect first, or the seq is below the floor the session declared; it was not applied (a resend from the SDK never took effect)' },
  TOO_MANY_SESSIONS: { wire: 205, retryable: true, origin: 'server', description: 'this server holds as many sessions as it is set to (`--sessions-max`); the SDK tries another server' },
  TOO_MANY_EPHEMERALS: { wire: 206, retryable: false, origin: 'server', description: 'the write would leave the session owning more ephemeral nodes than the server that took it allows (`--ephemerals-per-session-max`); it was not applied' },
  AUTH_FAILED: { wire: 207, retryable: false, origin: 'server', description: 'the hello\'s credentials are missing (the server requires them), unknown or wrong, or this address failed too often lately; the connection is closed' },
  // 3xx: the protocol itself.
  MALFORMED_FRAME: { wire: 301, retryable: false, origin: 'server', description: 'not a msgpack frame of the allowed subset, or a field of the wrong type or missing' },
  UNKNOWN_OP: { wire: 302, retryable: false, origin: 'server', description: 'the request op is not one this protocol version knows' },
  FRAME_TOO_LARGE: { wire: 303, retryable: false, origin: 'server', description: 'a frame longer than frameBytesMax; the connection is closed' },
  UNSUPPORTED_VERSION: { wire: 304, retryable: false, origin: 'server', description: 'the hello asks for a protocol version this server does not speak' },
  PROTOCOL_VIOLATION: { wire: 305, retryable: false, origin: 'server', description: 'a frame out of sequence: a request before hello, a second hello, a text frame' },
  HANDSHAKE_TIMEOUT: { wire: 306, retryable: true, origin: 'server', description: 'no hello within handshakeTimeoutMs' },
  TOO_MANY_REQUESTS: { wire: 307, retryable: true, origin: 'server', description: 'the connection has inFlightRequestsMax (or inFlightRequestBytesMax) unanswered requests, or sent more requests a second than the server allows (`--client-requests-per-second`)' },
  SLOW_CONSUMER: { wire: 308, retryable: true, origin: 'server', description: 'the client did not read fast enough (watchEventsQueuedMax or outboundBytesMax); the connection is closed, the session lives on' },
  // 4xx: the cluster.
  NOT_LEADER: { wire: 401, retryable: true, origin: 'server', description: 'reserved: followers forward writes, so a client should never see this' },
  NO_LEADER: { wire: 402, retryable: true, origin: 'server', description: 'no leader is known (election under way, or no quorum)' },
  TIMEOUT: { wire: 403, retryable: false, origin: 'server', description: 'the deadline passed; the outcome of a write is unknown' },
  UNAVAILABLE: { wire: 404, retryable: true, origin: 'server', description: 'this server cannot serve now (leadership transfer, storage stopped); try again or another server' },
  PROPOSAL_DROPPED: { wire: 405, retryable: true, origin: 'server', description: 'a leader change discarded the write: it did not take effect' },
  BACKPRESSURE: { wire: 406, retryable: true, origin: 'server', description: 'the leader holds too many uncommitted writes' },
  SHUTTING_DOWN: { wire: 407, retryable: true, origin: 'server', description: 'this server is stopping; reconnect to another' },
  SERVER_BEHIND: { wire: 408, retryable: true, origin: 'server', description: 'this server could not catch up to the session\'s lastRevision in time; reconnect to another' },
  // 5xx: bugs and the unclassified.
  INTERNAL: { wire: 500, retryable: false, origin: 'server', description: 'an unexpected server failure; also what a client makes of a wire number it does not know' },
  // 6xx: raised by client libraries only.
  CONNECTION_LOSS: { wire: 601, retryable: false, origin: 'client', description: 'the connection dropped before the response; the outcome is unknown' },
  CLOSED: { wire: 602, retryable: false, origin: 'client', description: 'the client was closed' },
  CANCELLED: { wire: 603, retryable: false, origin: 'client', description: 'the caller aborted the call (AbortSignal); the outcome of a sent write is unknown' },
  LEASE_LOST: { wire: 604, retryable: false, origin: 'client', description: 'a recipe\'s lease or leadership is lost or in doubt: released, session expired, the session\'s life no longer proven, or its node deleted' },
} as const satisfies Readonly<Record<string, ErrorSpec>>;

export type ErrorCode = keyof typeof errorCatalogue;

export const errorCodes = Object.keys(errorCatalogue) as readonly ErrorCode[];

const byWire: ReadonlyMap<number, ErrorCode> = new Map(errorCodes.map((code) => [errorCatalogue[code].wire, code]));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(errorCatalogue, value);
}

/** The name of a wire number, or undefined for one this version does not know. */
export function errorCodeOfWire(wire: number): ErrorCode | undefined {
  return byWire.get(wire);
}

/** An error as it travels in `res` and `error` frames. */
export interface WireError {
  /** The wire number. */
  readonly code: number;
  /** The name for that number (receivers trust `code` and rewrite the name from their table). */
  readonly name: ErrorCode;
  readonly message: string;
  /** The node the failure concerns. */
  readonly path?: string;
  /** For a multi: the position of the first failing op. */
  readonly opIndex?: number;
}

export interface VigilErrorOptions {
  readonly path?: string;
  readonly opIndex?: number;
  readonly cause?: unknown;
}

/** The one error class of the protocol and the SDK. */
export class VigilError extends Error {
  override readonly name = 'VigilError';
  readonly code: ErrorCode;
  readonly wireCode: number;
  readonly retryable: boolean;
  readonly path?: string;
  readonly opIndex?: number;

  constructor(code: ErrorCode, message?: string, options: VigilErrorOptions = {}) {
    const spec = errorCatalogue[code];
    super(`${code}: ${message ?? spec.description}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.wireCode = spec.wire;
    this.retryable = spec.retryable;
    if (options.path !== undefined) this.path = options.path;
    if (options.opIndex !== undefined) this.opIndex = options.opIndex;
  }
}

export function isVigilError(err: unknown): err is VigilError {
  return err instanceof VigilError;
}

/**
 * The wire form of a failure. The message is cut to errorMessageBytesMax: a receiver rejects a
 * longer one as a malformed frame, which would turn one failed request into a lost connection.
 */
export function wireError(code: ErrorCode, message: string, extra: { readonly path?: string; readonly opIndex?: number } = {}): WireError {
  return {
    code: errorCatalogue[code].wire,
    name: code,
    message: truncateUtf8(message, errorMessageBytesMax),
    ...(extra.path === undefined ? {} : { path: extra.path }),
    ...(extra.opIndex === undefined ? {} : { opIndex: extra.opIndex }),
  };
}

export function vigilErrorFromWire(error: WireError): VigilError {
  const code = errorCodeOfWire(error.code) ?? 'INTERNAL';
  const options: { path?: string; opIndex?: number } = {};
  if (error.path !== undefined) options.path = error.path;
  if (error.opIndex !== undefined) options.opIndex = error.opIndex;
  return new VigilError(code, error.message, options);
}

/** WebSocket close codes: 1000 after `close` or a client's own close, 4000 + wire for an error. */
export const closeCodeNormal = 1000;
export const closeCodeOffset = 4000;

export function closeCodeOf(code: ErrorCode): number {
  return closeCodeOffset + errorCatalogue[code].wire;
}

/**
 * What a client makes of a close code: the error it names, FRAME_TOO_LARGE for the WebSocket's
 * own 1009, undefined for a normal close, CONNECTION_LOSS for anything else.
 */
export function errorCodeOfClose(closeCode: number): ErrorCode | undefined {
  if (closeCode === closeCodeNormal) return undefined;
  if (closeCode === 1009) return 'FRAME_TOO_LARGE';
  if (closeCode > closeCodeOffset && closeCode < closeCodeOffset + 1000) return errorCodeOfWire(closeCode - closeCodeOffset) ?? 'INTERNAL';
  return 'CONNECTION_LOSS';
}

function truncateUtf8(s: string, bytesMax: number): string {
  if (s.length * 3 <= bytesMax) return s;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
    const width = c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + width > bytesMax) return s.slice(0, i);
    bytes += width;
    if (pair) i++;
  }
  return s;
}
