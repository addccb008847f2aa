// Reads that no order can place, found without a search. Values are unique, so a read names the
// write it saw; if that write was never made, was sent after the read completed, made another
// version, or was overwritten by a write that started after it and ended before the read began,
// no linearization exists. Cheap, and it turns an exhausted search into a proven violation for
// the most common bugs (lost and stale reads); the search still finds everything else.

import { describeOp, quote, type ZnodeOp } from './history.js';
import { absent, describeZnodeState, type ZnodeState } from './znode-model.js';

/** A read with no place in any linearization, and why. */
export interface ImpossibleRead {
  readonly read: ZnodeOp;
  readonly because: string;
}

/** The earliest-completing read of `ops` (one znode's modelled operations) that no order can place, if any. */
export function findImpossibleRead(ops: readonly ZnodeOp[], initial: ZnodeState): ImpossibleRead | undefined {
  const writers = new Map<string, ZnodeOp[]>();
  for (const op of ops) {
    if (op.f !== 'create' && op.f !== 'set') continue;
    if (op.outcome !== 'ok' && op.outcome !== 'info') continue;
    const list = writers.get(op.value ?? '');
    if (list === undefined) writers.set(op.value ?? '', [op]);
    else list.push(op);
  }
  // Acknowledged writes that changed the znode, by invocation, with the earliest completion among those invoked later.
  const changes = ops.filter((op) => op.outcome === 'ok' && op.f !== 'get').sort((a, b) => a.invokeMs - b.invokeMs);
  const earliestCompletionFrom = new Float64Array(changes.length + 1).fill(Infinity);
  for (let k = changes.length - 1; k >= 0; k--) earliestCompletionFrom[k] = Math.min(earliestCompletionFrom[k + 1]!, changes[k]!.completeMs);
  const firstInvokedAfter = (t: number): number => {
    let low = 0;
    let high = changes.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (changes[mid]!.invokeMs > t) high = mid;
      else low = mid + 1;
    }
    return low;
  };

  const reads = ops.filter((op) => op.f === 'get' && op.outcome === 'ok' && op.resultValue !== undefined).sort((a, b) => a.completeMs - b.completeMs);
  for (const read of reads) {
    const value = read.resultValue ?? '';
    if (initial !== absent && initial.value === value) continue;
    const candidates = writers.get(value);
    if (candidates === undefined) return { read, because: `read ${quote(value)}, which no write that did not fail wrote (the znode began ${describeZnodeState(initial)})` };
    if (candidates.length !== 1) continue;
    const write = candidates[0]!;
    if (write.invokeMs > read.completeMs) return { read, because: `read ${quote(value)} before its write was sent: ${describeOp(write)} at ${write.invokeMs} ms` };
    if (write.outcome !== 'ok') continue;
    const madeVersion = write.f === 'create' ? 0 : write.resultVersion;
    if (madeVersion !== undefined && read.resultVersion !== undefined && read.resultVersion !== madeVersion) {
      return { read, because: `read ${quote(value)} at v${read.resultVersion}, but its write made v${madeVersion}: ${describeOp(write)}` };
    }
    const k = firstInvokedAfter(write.completeMs);
    if (earliestCompletionFrom[k]! < read.invokeMs) {
      const later = changes.slice(k).find((op) => op.completeMs < read.invokeMs)!;
      return { read, because: `read ${quote(value)}, overwritten before the read was sent by ${describeOp(later)}, which began after ${describeOp(write)} completed` };
    }
  }
  return undefined;
}
