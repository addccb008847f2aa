/**
 * Frames to bytes and back. Decoding is the gate between the network and everything behind it:
 * the size is checked before anything is parsed, the bytes must be in the msgpack subset of
 * docs/protocol.md, and every field is checked and copied into a fresh frame of known keys only.
 * Decoding never throws; it answers `{ ok: false, error }` with the request id whenever the id was
 * readable, so the server can fail that request alone and keep the connection.
 */
import { Packr, type Options } from 'msgpackr';
import { frameBytesMax } from './constants.js';
import { VigilError } from './errors.js';
import type { ClientFrame, ServerFrame } from './frames.js';
import { msgpackSubsetProblem } from './msgpack-subset.js';
import { validateClientValue, validateServerValue, validating, type DecodeContext, type Decoded } from './validate.js';

/**
 * Explicit msgpackr options: plain maps with string keys and binary only. No records or shared
 * structures (state between encoder and decoder that another language cannot follow), no
 * structured clone or extension types, no bundled strings. Undefined fields are left out, maps get
 * their smallest header, integers above 32 bits go out as float64 (msgpackr's choice, exact up to
 * 2^53), and decoded bins are copied so a small value never pins a large frame.
 */
// `skipValues` works in msgpackr 2.x but is missing from its typings (a test holds the behaviour).
const packrOptions: Options & { readonly skipValues: readonly unknown[] } = {
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  int64AsType: 'number',
  skipValues: [undefined],
  copyBuffers: true,
};
const packr = new Packr(packrOptions);

/** Bytes of a frame; throws VigilError FRAME_TOO_LARGE past frameBytesMax. Does not validate. */
export function encodeFrame(frame: ClientFrame | ServerFrame): Uint8Array {
  const bytes: Uint8Array = packr.pack(frame);
  if (bytes.byteLength > frameBytesMax) {
    throw new VigilError('FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes, more than ${frameBytesMax}`);
  }
  return bytes;
}

/** What the server does with every binary message a client sends. */
export function decodeClientFrame(bytes: Uint8Array): Decoded<ClientFrame> {
  return decodeWith(bytes, validateClientValue);
}

/** What a client does with every binary message a server sends. */
export function decodeServerFrame(bytes: Uint8Array): Decoded<ServerFrame> {
  return decodeWith(bytes, validateServerValue);
}

function decodeWith<T>(bytes: Uint8Array, validate: (value: unknown, ctx: DecodeContext) => T): Decoded<T> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: { code: 'MALFORMED_FRAME', message: 'frame is not binary' } };
  if (bytes.byteLength > frameBytesMax) {
    return { ok: false, error: { code: 'FRAME_TOO_LARGE', message: `frame of ${bytes.byteLength} bytes, more than ${frameBytesMax}` } };
  }
  const problem = msgpackSubsetProblem(bytes);
  if (problem !== null) return { ok: false, error: { code: 'MALFORMED_FRAME', message: problem } };
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    // Unreachable for bytes in the subset; kept so that a msgpackr surprise is a typed error.
    return { ok: false, error: { code: 'MALFORMED_FRAME', message: `undecodable: ${err instanceof Error ? err.message : String(err)}` } };
  }
  return validating(value, validate);
}
