// Linearizability of a history of znode operations. Linearizability is compositional (Herlihy &
// Wing's locality; Porcupine's P-compositionality): a history is linearizable exactly when each
// znode's sub-history is, so each key is searched on its own, which keeps the searches small.

import type { ZnodeOp } from './history.js';
import { findImpossibleRead, type ImpossibleRead } from './impossible-reads.js';
import { searchLinearization } from './linearization-search.js';
import { absent, explainRefusal, isModelled, stepZnode, type ZnodeState } from './znode-model.js';

/** The default bound on one key's search: about a second of work and a few hundred MB of memo at worst. */
export const searchStepsMaxDefault = 1_000_000;
/** At most this many operations are kept around a violation for its timeline. */
export const windowOpsMax = 40;
/** Linearized operations shown before the point where no order exists. */
const prefixTailOps = 3;
/** Unknown-outcome writes listed among the candidates (the latest invoked). */
const unknownCandidatesMax = 5;

/** Options of checkLinearizable. */
export interface LinearizableOptions {
  /** Bound on the search of one key; past it the key is 'unknown' (default searchStepsMaxDefault). */
  readonly searchStepsMax?: number;
  /** The state of each znode before the history begins (default: absent). */
  readonly initialState?: (key: string) => ZnodeState;
}

/** The verdict on one znode. */
export type KeyVerdict = 'linearizable' | 'violation' | 'unknown';

/** What the search found for one znode. */
export interface KeyResult {
  readonly key: string;
  readonly verdict: KeyVerdict;
  /** Operations searched (those that constrain the znode). */
  readonly opCount: number;
  readonly searchSteps: number;
}

/** An operation that could have come next after the longest linearizable prefix, and why it does not fit. */
export interface Candidate {
  readonly op: ZnodeOp;
  readonly why: string;
}

/** A znode whose operations admit no linearization, with what a reader needs to see why. */
export interface KeyViolation {
  readonly key: string;
  /** The longest order of operations that the model accepts, in that order. */
  readonly linearizedPrefix: readonly ZnodeOp[];
  /** The znode after that prefix. */
  readonly stateAfterPrefix: ZnodeState;
  /**
   * The operations not in the prefix that were invoked by the time `blocking` completed, so one of
   * them had to come next; none does (or one fits but then the rest cannot be ordered). Writes of
   * unknown outcome are listed only if they fit, at most five, the latest invoked.
   */
  readonly candidates: readonly Candidate[];
  /** The first operation, by completion, left out of the prefix: it had to take effect before it completed. */
  readonly blocking: ZnodeOp;
  /** The operations of this znode around that point, by invocation: what the timelines draw. */
  readonly window: readonly ZnodeOp[];
  /**
   * Set when the search gave up (searchStepsMax) but a read was found that no order can place: the
   * violation is proven all the same, and `blocking` is that read.
   */
  readonly impossibleRead?: ImpossibleRead;
}

/** The verdict on a whole history. */
export interface LinearizabilityReport {
  /** True when every znode is linearizable; false on a violation or when a search gave up. */
  readonly valid: boolean;
  readonly keys: readonly KeyResult[];
  readonly violations: readonly KeyViolation[];
  /** Znodes whose search hit searchStepsMax: neither proven nor refuted. */
  readonly unknownKeys: readonly string[];
  /** Operations that constrain nothing: 'fail', 'info' reads, and error codes the model does not know. */
  readonly opsIgnored: number;
}

/**
 * Checks that the history is linearizable with respect to a versioned znode, per key: 'ok'
 * operations took effect (or observed) at one instant within their interval, 'error' answers
 * observed the znode at one instant within theirs, 'info' operations took effect at one instant
 * after their invocation or never, and 'fail' operations never did.
 */
export function checkLinearizable(ops: readonly ZnodeOp[], options: LinearizableOptions = {}): LinearizabilityReport {
  const searchStepsMax = options.searchStepsMax ?? searchStepsMaxDefault;
  const byKey = new Map<string, ZnodeOp[]>();
  let opsIgnored = 0;
  for (const op of ops) {
    if (!isModelled(op)) {
      opsIgnored++;
      continue;
    }
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }

  const keys: KeyResult[] = [];
  const violations: KeyViolation[] = [];
  const unknownKeys: string[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const keyOps = byKey.get(key) ?? [];
    const initial = options.initialState?.(key) ?? absent;
    const found = searchLinearization(keyOps, initial, searchStepsMax);
    const prefix = found.longestPrefix.map((i) => keyOps[i]!);
    const impossibleRead = found.verdict === 'unknown' ? findImpossibleRead(keyOps, initial) : undefined;
    const verdict = impossibleRead === undefined ? found.verdict : 'violation';
    keys.push({ key, verdict, opCount: keyOps.length, searchSteps: found.searchSteps });
    if (verdict === 'unknown') unknownKeys.push(key);
    if (verdict === 'violation') violations.push(describeViolation(key, keyOps, prefix, found.stateAfterPrefix, impossibleRead));
  }
  return { valid: violations.length === 0 && unknownKeys.length === 0, keys, violations, unknownKeys, opsIgnored };
}

function describeViolation(key: string, ops: readonly ZnodeOp[], prefix: readonly ZnodeOp[], state: ZnodeState, impossibleRead: ImpossibleRead | undefined): KeyViolation {
  if (impossibleRead !== undefined) {
    // The search stopped somewhere before; the proof is the read itself.
    const candidates = [{ op: impossibleRead.read, why: impossibleRead.because }];
    const window = windowAround(ops, [], candidates, impossibleRead.read);
    return { key, linearizedPrefix: prefix, stateAfterPrefix: state, candidates, blocking: impossibleRead.read, window, impossibleRead };
  }
  const inPrefix = new Set(prefix);
  const rest = ops.filter((op) => !inPrefix.has(op));
  const known = rest.filter((op) => op.outcome !== 'info');
  // A violation means some operation with a known outcome could not be placed.
  const blocking = known.reduce((a, b) => (b.completeMs < a.completeMs ? b : a));
  const candidates: Candidate[] = [];
  const unknowns: Candidate[] = [];
  for (const op of rest) {
    if (op.invokeMs > blocking.completeMs) continue;
    const step = stepZnode(state, op);
    // An unknown-outcome write that does not fit is no candidate: failing, it would have changed nothing.
    if (op.outcome === 'info' && !step.ok) continue;
    const candidate = { op, why: step.ok ? 'fits here, but then the operations after it admit no order' : explainRefusal(state, op, step.refusal) };
    (op.outcome === 'info' ? unknowns : candidates).push(candidate);
  }
  // Unknown outcomes stay candidates forever; the latest invoked are the ones a reader wants to see.
  unknowns.sort((a, b) => b.op.invokeMs - a.op.invokeMs);
  candidates.push(...unknowns.slice(0, unknownCandidatesMax));
  candidates.sort((a, b) => a.op.invokeMs - b.op.invokeMs);
  return { key, linearizedPrefix: prefix, stateAfterPrefix: state, candidates, blocking, window: windowAround(ops, prefix, candidates, blocking) };
}

/** The operations around the failure point, at most windowOpsMax, closest first. */
function windowAround(ops: readonly ZnodeOp[], prefix: readonly ZnodeOp[], candidates: readonly Candidate[], blocking: ZnodeOp): ZnodeOp[] {
  const tail = prefix.slice(-prefixTailOps);
  const anchors = [blocking, ...candidates.filter((c) => c.op.outcome !== 'info').map((c) => c.op), ...tail];
  const fromMs = Math.min(...anchors.map((op) => op.invokeMs));
  const toMs = Math.max(...anchors.map((op) => op.completeMs));
  const priority = new Map<ZnodeOp, number>();
  for (const op of ops) {
    if (op.invokeMs <= toMs && op.completeMs >= fromMs) priority.set(op, distanceMs(op, blocking.completeMs));
  }
  for (const op of tail) priority.set(op, -1);
  for (const c of candidates) priority.set(c.op, -2);
  priority.set(blocking, -3);
  return [...priority.entries()]
    .sort((a, b) => a[1] - b[1])
    .slice(0, windowOpsMax)
    .map(([op]) => op)
    .sort((a, b) => a.invokeMs - b.invokeMs || a.process - b.process);
}

function distanceMs(op: ZnodeOp, atMs: number): number {
  if (atMs < op.invokeMs) return op.invokeMs - atMs;
  if (atMs > op.completeMs) return atMs - op.completeMs;
  return 0;
}
