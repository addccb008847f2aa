// The definition, executed: try every order of a znode's operations that respects real time,
// with no memo and no reductions. Exponential, so only for the few operations of a differential test.

import { absent, isModelled, stepZnode, type ZnodeOp, type ZnodeState } from '../src/index.js';

export function linearizableByBruteForce(ops: readonly ZnodeOp[]): boolean {
  const byKey = new Map<string, ZnodeOp[]>();
  for (const op of ops.filter(isModelled)) byKey.set(op.key, [...(byKey.get(op.key) ?? []), op]);
  return [...byKey.values()].every((keyOps) => search(keyOps, absent));
}

function search(remaining: readonly ZnodeOp[], state: ZnodeState): boolean {
  // Unknown outcomes may never take effect: done once every known outcome is placed.
  if (remaining.every((op) => op.outcome === 'info')) return true;
  return remaining.some((op, i) => {
    // op may come next unless an operation still to place completed before op was invoked.
    const blocked = remaining.some((other) => other !== op && other.outcome !== 'info' && other.completeMs < op.invokeMs);
    if (blocked) return false;
    const step = stepZnode(state, op);
    return step.ok && search([...remaining.slice(0, i), ...remaining.slice(i + 1)], step.state);
  });
}
