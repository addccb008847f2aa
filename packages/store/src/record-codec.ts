// Value encodings of the durable records. Fixed binary layouts rather than msgpack: they are on
// the hot path of every apply, and their bytes (which the digest covers) must never depend on a
// library's choices.
import { sessionSecretBytesMax } from './constants.js';
import { assert } from './errors.js';
import type { SessionRecord } from './session.js';
import type { Znode, ZnodeKind } from './znode.js';

const recordFormat = 1;
const kinds: readonly ZnodeKind[] = ['persistent', 'ephemeral', 'container', 'ttl'];
const kindCodes: Readonly<Record<ZnodeKind, number>> = { persistent: 0, ephemeral: 1, container: 2, ttl: 3 };
const nodeHeaderBytes = 2 + 11 * 8;
const sessionBytes = 1 + 3 * 8;

export function encodeZnode(node: Znode): Buffer {
  const out = Buffer.allocUnsafe(nodeHeaderBytes + node.data.byteLength);
  out[0] = recordFormat;
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
  out.set(node.data, nodeHeaderBytes);
  return out;
}

export function decodeZnode(bytes: Uint8Array): Znode {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert(b.byteLength >= nodeHeaderBytes && b[0] === recordFormat, 'znode record format');
  const kind = kinds[b[1] as number];
  assert(kind !== undefined, 'znode record kind');
  const at = (i: number): number => b.readDoubleBE(2 + i * 8);
  return {
    kind,
    czxid: at(0),
    mzxid: at(1),
    pzxid: at(2),
    ctime: at(3),
    mtime: at(4),
    version: at(5),
    cversion: at(6),
    aversion: at(7),
    ephemeralOwner: at(8),
    numChildren: at(9),
    ttlMs: at(10),
    // A copy, so that a node's data never aliases a buffer LevelDB or the caller may reuse.
    data: new Uint8Array(b.subarray(nodeHeaderBytes)),
  };
}

/** The fixed fields, then the secret's bytes (none for a session opened without one). */
export function encodeSession(session: SessionRecord): Buffer {
  const out = Buffer.allocUnsafe(sessionBytes + session.secret.byteLength);
  out[0] = recordFormat;
  out.writeDoubleBE(session.timeoutMs, 1);
  out.writeDoubleBE(session.openedMs, 9);
  out.writeDoubleBE(session.lastSeenMs, 17);
  out.set(session.secret, sessionBytes);
  return out;
}

export function decodeSession(sessionId: number, bytes: Uint8Array): SessionRecord {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert(b.byteLength >= sessionBytes && b.byteLength <= sessionBytes + sessionSecretBytesMax && b[0] === recordFormat, 'session record format');
  const secret = new Uint8Array(b.subarray(sessionBytes));
  return { sessionId, timeoutMs: b.readDoubleBE(1), openedMs: b.readDoubleBE(9), lastSeenMs: b.readDoubleBE(17), secret };
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
