import { decodeCommand, encodeCommand, type Command } from '@vigil/store';

/**
 * A normal Raft entry's payload: the leader's wall clock (float64, big-endian) followed by the
 * store command. The clock is stamped once, by the proposer, so every replica applies the same
 * time (docs/design.md: apply never reads a clock).
 */
const TIME_BYTES = 8;

export function encodeEntryPayload(timeMs: number, command: Command): Uint8Array {
  const body = encodeCommand(command);
  const out = new Uint8Array(TIME_BYTES + body.length);
  new DataView(out.buffer).setFloat64(0, timeMs);
  out.set(body, TIME_BYTES);
  return out;
}

export function decodeEntryPayload(data: Uint8Array): { timeMs: number; command: Command } {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { timeMs: view.getFloat64(0), command: decodeCommand(data.subarray(TIME_BYTES)) };
}
