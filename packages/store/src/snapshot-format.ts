// A snapshot is a sequence of chunks, each one self-checking:
//
//   chunk   = kind:u8 seq:u32 payloadBytes:u32 payload crc32:u32   (crc over everything before it)
//   header  (kind 1) = "VGSS" format:u16 appliedIndex:f64
//   records (kind 2) = (keyBytes:u32 key valueBytes:u32 value)*      sessions, then znodes, key order
//                      (a session's value holds its reply table: record-codec.ts)
//   trailer (kind 3) = recordCount:f64 digest:32 bytes                the store digest of the records
//
// Chunks can travel separately (Raft InstallSnapshot sends them one per message); `seq` catches a
// lost or reordered chunk, the crc a damaged one, the trailer's digest anything else.
import { crc32 } from 'node:zlib';
import { StoreError } from './errors.js';

export const snapshotFormat = 1;
const magic = Buffer.from('VGSS', 'latin1');
const frameBytes = 1 + 4 + 4 + 4;

export const chunkKinds = { header: 1, records: 2, trailer: 3 } as const;
export type ChunkKind = (typeof chunkKinds)[keyof typeof chunkKinds];

export function encodeChunk(kind: ChunkKind, seq: number, payload: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(frameBytes + payload.byteLength);
  out[0] = kind;
  out.writeUInt32BE(seq, 1);
  out.writeUInt32BE(payload.byteLength, 5);
  out.set(payload, 9);
  out.writeUInt32BE(crc32(out.subarray(0, 9 + payload.byteLength)), 9 + payload.byteLength);
  return out;
}

export function decodeChunk(chunk: Uint8Array, expectedSeq: number): { kind: ChunkKind; payload: Buffer } {
  const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (b.byteLength < frameBytes) throw invalid('chunk too short');
  const payloadBytes = b.readUInt32BE(5);
  if (b.byteLength !== frameBytes + payloadBytes) throw invalid('chunk length mismatch');
  if (crc32(b.subarray(0, 9 + payloadBytes)) !== b.readUInt32BE(9 + payloadBytes)) throw invalid('chunk checksum mismatch');
  if (b.readUInt32BE(1) !== expectedSeq) throw invalid(`chunk ${b.readUInt32BE(1)} where ${expectedSeq} was due`);
  const kind = b[0];
  if (kind !== 1 && kind !== 2 && kind !== 3) throw invalid('unknown chunk kind');
  return { kind, payload: b.subarray(9, 9 + payloadBytes) };
}

export function encodeHeader(appliedIndex: number): Buffer {
  const out = Buffer.allocUnsafe(4 + 2 + 8);
  magic.copy(out, 0);
  out.writeUInt16BE(snapshotFormat, 4);
  out.writeDoubleBE(appliedIndex, 6);
  return out;
}

export function decodeHeader(payload: Buffer): { appliedIndex: number } {
  if (payload.byteLength !== 14 || !payload.subarray(0, 4).equals(magic)) throw invalid('bad header');
  if (payload.readUInt16BE(4) !== snapshotFormat) throw invalid(`unsupported format ${payload.readUInt16BE(4)}`);
  const appliedIndex = payload.readDoubleBE(6);
  if (!Number.isSafeInteger(appliedIndex) || appliedIndex < 0) throw invalid('bad applied index');
  return { appliedIndex };
}

/** Appends records to a payload under construction. */
export function encodeRecord(key: Uint8Array, value: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(8 + key.byteLength + value.byteLength);
  out.writeUInt32BE(key.byteLength, 0);
  out.set(key, 4);
  out.writeUInt32BE(value.byteLength, 4 + key.byteLength);
  out.set(value, 8 + key.byteLength);
  return out;
}

export function* decodeRecords(payload: Buffer): Generator<[Buffer, Buffer]> {
  let at = 0;
  while (at < payload.byteLength) {
    if (at + 4 > payload.byteLength) throw invalid('truncated record');
    const keyBytes = payload.readUInt32BE(at);
    at += 4;
    if (at + keyBytes + 4 > payload.byteLength) throw invalid('truncated record');
    const key = payload.subarray(at, at + keyBytes);
    at += keyBytes;
    const valueBytes = payload.readUInt32BE(at);
    at += 4;
    if (at + valueBytes > payload.byteLength) throw invalid('truncated record');
    yield [key, payload.subarray(at, at + valueBytes)];
    at += valueBytes;
  }
}

export function encodeTrailer(recordCount: number, digest: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + 32);
  out.writeDoubleBE(recordCount, 0);
  digest.copy(out, 8);
  return out;
}

export function decodeTrailer(payload: Buffer): { recordCount: number; digest: Buffer } {
  if (payload.byteLength !== 40) throw invalid('bad trailer');
  return { recordCount: payload.readDoubleBE(0), digest: payload.subarray(8) };
}

function invalid(message: string): StoreError {
  return new StoreError('SNAPSHOT_INVALID', message);
}
