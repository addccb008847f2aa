import { Packr } from 'msgpackr';
import { commandShapeProblem, type Command } from './command.js';
import { StoreError } from './errors.js';

// Records and shared structures would make the bytes depend on what was encoded before; the Raft
// log needs every replica (and every restart) to read an entry the same way, so both are off.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  moreTypes: false,
  bundleStrings: false,
  int64AsType: 'number',
});

/** Bytes of a command for a Raft entry payload. */
export function encodeCommand(command: Command): Uint8Array {
  const problem = commandShapeProblem(command);
  if (problem !== null) throw new StoreError('BAD_ARGUMENTS', problem);
  return packr.pack(command);
}

/** Reads a command back from a Raft entry payload, checking its shape. */
export function decodeCommand(bytes: Uint8Array): Command {
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    throw new StoreError('MARSHALLING_ERROR', 'command bytes are not msgpack', { cause });
  }
  const problem = commandShapeProblem(value);
  if (problem !== null) throw new StoreError('MARSHALLING_ERROR', problem);
  return value as Command;
}
