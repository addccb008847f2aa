/**
 * The peer wire format: msgpackr frames between Vigil nodes, and the validation that stands
 * between bytes from the network and the Raft core. Nothing decoded here reaches Raft unless its
 * shape is exactly one of the `Message` union's members (extra fields are dropped, bytes are
 * copied out of the frame so a small entry never pins a large frame in memory).
 */
import { Packr } from 'msgpackr';
import type { ConfState, Entry, EntryKind, Message, NodeId, SnapshotMeta } from '@vigil/raft';

/** Bumped on any incompatible change of the frames below. */
export const peerProtocolVersion = 1;

/** The HTTP path the peer WebSocket listens on. */
export const peerPath = '/raft';

/**
 * WebSocket close codes (4000–4999 is the application range). The dialer treats every code
 * here as a refusal: it logs the reason and backs off before dialing again.
 */
export const peerCloseCodes = {
  unsupportedVersion: 4001,
  clusterIdMismatch: 4002,
  wrongNode: 4003,
  unknownMember: 4004,
  // 4005 ('wrong direction', when only the lower id could dial) is retired; never reuse it.
  handshakeTimeout: 4006,
  invalidFrame: 4007,
  /** A newer connection dialed by the same side took this one's place. */
  replaced: 4008,
  memberRemoved: 4009,
  /**
   * Crossed dials: both ids dialed each other. Both sides keep the connection dialed by the lower
   * id and close (or refuse) the one dialed by the higher id with this code.
   */
  duplicateConnection: 4010,
  shuttingDown: 1001,
} as const;

export interface HelloFrame {
  readonly kind: 'hello';
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
}

export interface WelcomeFrame {
  readonly kind: 'welcome';
}

export interface MessagesFrame {
  readonly kind: 'msgs';
  readonly msgs: readonly Message[];
}

/**
 * An opaque payload for a layer above Raft (the client gateway's write forwarding). It is sent at
 * once on the open connection or not at all: the layer above has its own deadlines and retries.
 */
export interface RpcFrame {
  readonly kind: 'rpc';
  readonly data: Uint8Array;
}

export type PeerFrame = HelloFrame | WelcomeFrame | MessagesFrame | RpcFrame;

/** Frames are small maps; a cluster id longer than this is not a cluster id. */
export const clusterIdCharsMax = 256;

/**
 * Explicit msgpackr options: plain maps and binary only. No records (their structures are state
 * shared between encoder and decoder), no structured clone, no extension types on encode.
 */
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  int64AsType: 'number',
});

export function encodePeerFrame(frame: PeerFrame): Uint8Array {
  return packr.pack(frame);
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Thrown inside this module only; every exported function turns it into a `Decoded` failure. */
class InvalidFrame extends Error {}

function fail(reason: string): never {
  throw new InvalidFrame(reason);
}

function decoding<T>(body: () => T): Decoded<T> {
  try {
    return { ok: true, value: body() };
  } catch (err) {
    if (err instanceof InvalidFrame) return { ok: false, reason: err.message };
    // msgpackr throws plain errors on truncated or trailing data.
    return { ok: false, reason: `undecodable frame: ${err instanceof Error ? err.message : String(err)}` };
  }
}

type Raw = Record<string, unknown>;

function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function field(raw: Raw, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(raw, key) ? raw[key] : undefined;
}

function uint(raw: Raw, key: string): number {
  const v = field(raw, key);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${key} is not a non-negative safe integer`);
  return v;
}

function bool(raw: Raw, key: string): boolean {
  const v = field(raw, key);
  if (typeof v !== 'boolean') fail(`${key} is not a boolean`);
  return v;
}

/** Copies: the decoded value is a view into the whole frame. */
function bytes(raw: Raw, key: string): Uint8Array {
  const v = field(raw, key);
  if (!(v instanceof Uint8Array)) fail(`${key} is not bytes`);
  return new Uint8Array(v);
}

function array(raw: Raw, key: string): unknown[] {
  const v = field(raw, key);
  if (!Array.isArray(v)) fail(`${key} is not an array`);
  return v;
}

function record(raw: Raw, key: string): Raw {
  const v = field(raw, key);
  if (!isRecord(v)) fail(`${key} is not a map`);
  return v;
}

function nodeIds(raw: Raw, key: string): NodeId[] {
  return array(raw, key).map((v) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) fail(`${key} holds an invalid node id`);
    return v;
  });
}

const entryKinds: ReadonlySet<string> = new Set<EntryKind>(['normal', 'noop', 'conf']);

function entry(v: unknown): Entry {
  if (!isRecord(v)) fail('entry is not a map');
  const kind = field(v, 'kind');
  if (typeof kind !== 'string' || !entryKinds.has(kind)) fail('entry kind is invalid');
  return { term: uint(v, 'term'), index: uint(v, 'index'), kind: kind as EntryKind, data: bytes(v, 'data') };
}

function snapshotMeta(raw: Raw): SnapshotMeta {
  const conf = record(raw, 'conf');
  const confState: ConfState = { voters: nodeIds(conf, 'voters'), learners: nodeIds(conf, 'learners') };
  return { index: uint(raw, 'index'), term: uint(raw, 'term'), conf: confState };
}

/**
 * Validates one message and rebuilds it from its known fields only. `from` and `to` must be the
 * authenticated peer and this node: a peer can only speak for itself, and only to us.
 */
function message(v: unknown, expected: { readonly from: NodeId; readonly to: NodeId }): Message {
  if (!isRecord(v)) fail('message is not a map');
  const from = uint(v, 'from');
  const to = uint(v, 'to');
  if (from !== expected.from) fail('message from is not the connected peer');
  if (to !== expected.to) fail('message to is not this node');
  const term = uint(v, 'term');
  const type = field(v, 'type');
  switch (type) {
    case 'vote':
    case 'preVote':
      return { type, from, to, term, lastIndex: uint(v, 'lastIndex'), lastTerm: uint(v, 'lastTerm'), transfer: bool(v, 'transfer') };
    case 'voteResp':
    case 'preVoteResp':
      return { type, from, to, term, reject: bool(v, 'reject') };
    case 'app':
      return {
        type, from, to, term,
        prevIndex: uint(v, 'prevIndex'), prevTerm: uint(v, 'prevTerm'),
        entries: array(v, 'entries').map(entry), commit: uint(v, 'commit'),
      };
    case 'appResp':
      return {
        type, from, to, term,
        index: uint(v, 'index'), reject: bool(v, 'reject'), rejectHint: uint(v, 'rejectHint'), hintTerm: uint(v, 'hintTerm'),
      };
    case 'heartbeat':
      return { type, from, to, term, commit: uint(v, 'commit'), readRound: uint(v, 'readRound') };
    case 'heartbeatResp':
      return { type, from, to, term, readRound: uint(v, 'readRound') };
    case 'snap':
      return {
        type, from, to, term,
        meta: snapshotMeta(record(v, 'meta')), offset: uint(v, 'offset'), totalBytes: uint(v, 'totalBytes'), chunk: bytes(v, 'chunk'),
      };
    case 'snapResp':
      return { type, from, to, term, snapshotIndex: uint(v, 'snapshotIndex'), offset: uint(v, 'offset') };
    case 'timeoutNow':
      return { type, from, to, term };
    case 'readIndex':
      return { type, from, to, term, ctx: uint(v, 'ctx') };
    case 'readIndexResp':
      return { type, from, to, term, ctx: uint(v, 'ctx'), index: uint(v, 'index'), reject: bool(v, 'reject') };
    default:
      return fail('message type is unknown');
  }
}

function unpack(data: Uint8Array): Raw {
  const raw: unknown = packr.unpack(data);
  if (!isRecord(raw)) fail('frame is not a map');
  return raw;
}

/** The first frame a dialer sends; anything else first is a protocol violation. */
export function decodeHello(data: Uint8Array): Decoded<HelloFrame> {
  return decoding(() => {
    const raw = unpack(data);
    if (field(raw, 'kind') !== 'hello') fail('first frame is not a hello');
    const clusterId = field(raw, 'clusterId');
    if (typeof clusterId !== 'string' || clusterId.length > clusterIdCharsMax) fail('clusterId is not a string');
    return { kind: 'hello', version: uint(raw, 'version'), clusterId, from: uint(raw, 'from'), to: uint(raw, 'to') };
  });
}

export function decodeWelcome(data: Uint8Array): Decoded<WelcomeFrame> {
  return decoding(() => {
    if (field(unpack(data), 'kind') !== 'welcome') fail('first frame from the acceptor is not a welcome');
    return { kind: 'welcome' };
  });
}

/**
 * A frame after the handshake: a batch of Raft messages (every one must be valid, or none is
 * delivered) or an rpc payload.
 */
export function decodeAfterHandshake(
  data: Uint8Array,
  expected: { readonly from: NodeId; readonly to: NodeId },
): Decoded<MessagesFrame | RpcFrame> {
  return decoding(() => {
    const raw = unpack(data);
    const kind = field(raw, 'kind');
    if (kind === 'rpc') return { kind: 'rpc', data: bytes(raw, 'data') };
    if (kind !== 'msgs') fail('frame kind is neither msgs nor rpc');
    return { kind: 'msgs', msgs: array(raw, 'msgs').map((m) => message(m, expected)) };
  });
}

/** Per-message and per-entry encoding overhead (field names, numbers), rounded up. */
const messageOverheadBytes = 160;
const entryOverheadBytes = 64;

/**
 * An upper estimate of a message's encoded size, used for the queue bound and for splitting a
 * batch into frames; the encoder checks the real size before sending.
 */
export function messageBytesEstimate(m: Message): number {
  switch (m.type) {
    case 'app': {
      let total = messageOverheadBytes;
      for (const e of m.entries) total += e.data.length + entryOverheadBytes;
      return total;
    }
    case 'snap':
      return messageOverheadBytes + m.chunk.length + 10 * (m.meta.conf.voters.length + m.meta.conf.learners.length);
    default:
      return messageOverheadBytes;
  }
}
