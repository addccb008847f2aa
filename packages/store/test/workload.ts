// A deterministic stream of entries keyed by index, shared by the crash child and its parent so
// the parent can recompute exactly what entries 1..n must have produced.
import type { Command, Entry } from '../src/index.js';

function mix(index: number, salt: number): number {
  let x = (index * 0x9e3779b1 + salt * 0x85ebca6b) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export function workloadCommand(index: number): Command {
  const r = mix(index, 1);
  const dir = `/w/d${r % 17}`;
  const leaf = `${dir}/n${mix(index, 2) % 23}`;
  const session = 1 + (mix(index, 3) % 4);
  const data = new Uint8Array(mix(index, 4) % 64).fill(index & 0xff);
  switch (r % 11) {
    case 0:
      return { type: 'sessionOpen', sessionId: session, timeoutMs: 5_000 };
    case 1:
      return { type: 'sessionExpire', sessionId: session };
    case 2:
      return { type: 'create', path: `${leaf}-e`, data, mode: 'ephemeral', sessionId: session, createParents: true };
    case 3:
      return { type: 'create', path: `${dir}/q-`, data, mode: 'persistent-sequential', createParents: true };
    case 4:
      return { type: 'set', path: leaf, data };
    case 5:
      return { type: 'delete', path: leaf };
    case 6:
      return {
        type: 'multi',
        ops: [
          { type: 'create', path: `${leaf}-m`, data, mode: 'persistent' },
          { type: 'set', path: dir, data },
          { type: 'delete', path: `${dir}/n${mix(index, 5) % 23}` },
        ],
      };
    default:
      return { type: 'create', path: leaf, data, mode: 'persistent', createParents: true };
  }
}

export function workloadEntry(index: number): Entry {
  return { index, timeMs: 1_700_000_000_000 + index * 3, command: workloadCommand(index) };
}

/** Batch sizes vary so that a kill lands in batches of every size. */
export function workloadBatchSize(batchNo: number): number {
  return 1 + (mix(batchNo, 9) % 300);
}
