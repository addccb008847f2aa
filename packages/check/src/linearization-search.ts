// The Wing–Gong search with Lowe's memoisation, as Porcupine runs it (github.com/anishathalye/porcupine),
// for the operations of one znode. Calls and returns sit in one time-ordered doubly linked list;
// the search walks it, linearizes a call whose step fits, lifts it (and its return) out of the
// list, and backtracks when it meets the return of an operation it has not linearized yet. A
// configuration (linearized set, state) reached again leads to the same future, so it is explored
// once.
//
// Writes of unknown outcome make that search explode: each may take effect at any moment after its
// call, or never. Four reductions keep thousands of operations from 20 processes cheap; each keeps
// at least one linearization if any exists:
//
// 1. Observations first. A read or an error answer that fits the state and could come next is
//    linearized at once, and its level tries nothing else: in any order that works, moving it to
//    the front keeps every state (it changes none) and every real-time constraint.
// 2. Unknowns pinned by a read. Values are unique, so a write of unknown outcome whose value a read
//    returned took effect before that read completed: it is searched like an operation that
//    returned then, and must be placed.
// 3. The other unknowns are interchangeable by kind. No read tells apart two sets whose data nobody
//    read, or two deletes, that name the same expected version. Each such class is a queue used
//    from the front; the memo counts how many of each class took effect, and sees data nobody read
//    as one value. They are tried after the known writes, and never required.
// 4. Fewer unknowns dominate. A configuration is pruned when one with the same known part and no
//    more unknowns used per class was reached before: the extra writes may simply never happen.

import { assert } from './assert.js';
import { isAnyVersion, type ZnodeOp } from './history.js';
import { absent, stepZnode, type ZnodeState } from './znode-model.js';

/** What the search of one znode's operations found. */
export interface SearchResult {
  readonly verdict: 'linearizable' | 'violation' | 'unknown';
  /** Loop iterations spent: linearization attempts, list entries passed and backtracks. */
  readonly searchSteps: number;
  /** Linearizable: one valid order (indices into the operations; unknown outcomes that never took effect are left out). */
  readonly order: readonly number[];
  /** Otherwise: the longest order of operations the search could linearize, and the state after it. */
  readonly longestPrefix: readonly number[];
  readonly stateAfterPrefix: ZnodeState;
}

const endOfList = -1;

/**
 * Searches for a linearization of `ops` (all of one znode, each modelled: see isModelled) from
 * `initial`. Gives up with 'unknown' after `searchStepsMax` steps.
 */
export function searchLinearization(ops: readonly ZnodeOp[], initial: ZnodeState, searchStepsMax: number): SearchResult {
  const n = ops.length;
  for (const op of ops) {
    assert(Number.isFinite(op.invokeMs), `invokeMs of an operation on ${op.key} is not a finite number`);
    assert(op.outcome === 'info' || op.completeMs >= op.invokeMs, `an operation on ${op.key} completes (${op.completeMs}) before it is invoked (${op.invokeMs})`);
    assert(op.outcome !== 'info' || op.f !== 'get', 'reads of unknown outcome observe nothing and are left out');
  }
  const observation = ops.map((op) => op.f === 'get' || op.outcome === 'error');
  const { deadlineMs, observedValues } = deadlines(ops);
  const floating = new FloatingClasses(ops, deadlineMs, observedValues);
  const stateKey = (s: ZnodeState): string => (s === absent ? '-' : observedValues.has(s.value) ? `${s.version}=${s.value}` : `${s.version}#`);

  // Entry 2i is the call of operation i, 2i+1 its return; `head` is the sentinel before the first.
  // Floating unknowns are not in the list: their class queues hold them.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(endOfList);
  const prev = new Int32Array(2 * n + 1).fill(endOfList);
  const timeOf = (entry: number): number => ((entry & 1) === 0 ? ops[entry >> 1]!.invokeMs : deadlineMs[entry >> 1]!);
  const entries: number[] = [];
  for (let i = 0; i < n; i++) {
    if (floating.classOf[i] === -1) entries.push(2 * i, 2 * i + 1);
  }
  // Calls before returns at the same instant: operations that touch count as concurrent.
  entries.sort((a, b) => timeOf(a) - timeOf(b) || (a & 1) - (b & 1) || a - b);
  let tail = head;
  for (const entry of entries) {
    next[tail] = entry;
    prev[entry] = tail;
    tail = entry;
  }

  // Dancing links: a lifted call and return keep their own pointers, so undoing in reverse order restores the list.
  const lift = (call: number): void => {
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    if (next[call] !== endOfList) prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret] !== endOfList) prev[next[ret]!] = prev[ret]!;
  };
  const unlift = (call: number): void => {
    const ret = call + 1;
    next[prev[ret]!] = ret;
    if (next[ret] !== endOfList) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    if (next[call] !== endOfList) prev[next[call]!] = call;
  };

  const known = new KnownSet(entries, n);
  /** The known part of a configuration → the unknown-use counts reached with it. */
  const memo = new Map<string, Int32Array[]>();
  const stackOps = new Int32Array(n);
  const stackStates: ZnodeState[] = [];
  /** Whether the level's operation was a forced observation: then the level has no alternatives. */
  const stackForced = new Uint8Array(n);
  /** For a floating unknown: the level's front and its position among the level's candidate classes. */
  const stackFrontMs = new Float64Array(n);
  const stackCursor = new Int32Array(n);
  let depth = 0;
  let state = initial;
  let knownDepth = 0;
  let longestKnown = 0;
  let longestPrefix: number[] = [];
  let stateAfterPrefix = initial;
  let searchSteps = 0;

  const result = (verdict: SearchResult['verdict']): SearchResult => {
    const reached = Array.from(stackOps.subarray(0, depth));
    return {
      verdict,
      searchSteps,
      order: verdict === 'linearizable' ? reached : [],
      longestPrefix: verdict === 'linearizable' ? reached : longestPrefix,
      stateAfterPrefix: verdict === 'linearizable' ? state : stateAfterPrefix,
    };
  };

  const mark = (i: number, on: boolean): void => {
    const c = floating.classOf[i]!;
    if (c === -1) {
      if (on) known.add(i);
      else known.remove(i);
    } else if (on) floating.use(c);
    else floating.unuse(c);
  };

  /** Linearizes operation i, reaching `nextState`, unless a configuration that dominates it was reached before. */
  const tryPush = (i: number, nextState: ZnodeState, forced: boolean): boolean => {
    mark(i, true);
    const key = `${known.key()}|${stateKey(nextState)}`;
    const reached = memo.get(key);
    if (reached !== undefined && reached.some((counts) => floating.usesAtLeast(counts))) {
      mark(i, false);
      return false;
    }
    const counts = floating.countsSnapshot();
    if (reached === undefined) memo.set(key, [counts]);
    else reached.push(counts);
    stackOps[depth] = i;
    stackStates[depth] = state;
    stackForced[depth] = forced ? 1 : 0;
    stackFrontMs[depth] = frontMs;
    stackCursor[depth] = classCursor;
    depth++;
    state = nextState;
    if (floating.classOf[i] === -1) {
      lift(2 * i);
      knownDepth++;
    }
    // The longest prefix counts the operations that had to take effect; unknowns only break ties, the fewer the better.
    if (knownDepth > longestKnown || (knownDepth === longestKnown && depth - knownDepth < longestPrefix.length - longestKnown)) {
      longestPrefix = Array.from(stackOps.subarray(0, depth));
      longestKnown = knownDepth;
      stateAfterPrefix = state;
    }
    return true;
  };

  /** Undoes levels up to one with alternatives left and returns its operation, or undefined when none is left. */
  const backtrack = (): number | undefined => {
    while (depth > 0) {
      depth--;
      const i = stackOps[depth]!;
      state = stackStates[depth]!;
      mark(i, false);
      if (floating.classOf[i] === -1) {
        unlift(2 * i);
        knownDepth--;
      }
      if (stackForced[depth] === 0) return i;
    }
    return undefined;
  };

  /** An observation that fits the state and whose call is ahead of every return left (reduction 1). */
  const fittingObservation = (): number | undefined => {
    for (let e = next[head]!; e !== endOfList && (e & 1) === 0; e = next[e]!) {
      const i = e >> 1;
      if (observation[i] === true && stepZnode(state, ops[i]!).ok) return i;
    }
    return undefined;
  };

  // The cursor within a level: first the list (operations that must take effect), then, from the
  // front on (the earliest return left), the floating classes that could fit the state.
  let entry = next[head]!;
  let levelStart = true;
  let classCursor = -1;
  let classes: readonly number[] = [];
  let frontMs = 0;

  /** Backtracks and puts the cursor after the undone choice; false when nothing is left to try. */
  const resume = (): boolean => {
    const i = backtrack();
    if (i === undefined) return false;
    if (floating.classOf[i] === -1) {
      entry = next[2 * i]!;
      classCursor = -1;
    } else {
      frontMs = stackFrontMs[depth]!;
      classes = floating.candidatesFor(state);
      classCursor = stackCursor[depth]! + 1;
    }
    return true;
  };

  while (true) {
    if (searchSteps >= searchStepsMax) return result('unknown');
    searchSteps++;
    if (levelStart) {
      levelStart = false;
      entry = next[head]!;
      classCursor = -1;
      const i = fittingObservation();
      if (i !== undefined) {
        if (tryPush(i, state, true)) levelStart = true;
        else if (!resume()) return result('violation');
        continue;
      }
    }
    if (classCursor === -1) {
      // No return entry ahead (and only calls behind): every operation that had to take effect did.
      if (entry === endOfList) return result('linearizable');
      if ((entry & 1) === 0) {
        const i = entry >> 1;
        // Observations do not fit here: fittingObservation() found none at the start of this level.
        if (observation[i] !== true) {
          const step = stepZnode(state, ops[i]!);
          if (step.ok && tryPush(i, step.state, false)) {
            levelStart = true;
            continue;
          }
        }
        entry = next[entry]!;
      } else {
        frontMs = timeOf(entry);
        classes = floating.candidatesFor(state);
        classCursor = 0;
      }
    } else if (classCursor < classes.length) {
      const i = floating.nextMember(classes[classCursor]!);
      if (i !== undefined && ops[i]!.invokeMs <= frontMs) {
        const step = stepZnode(state, ops[i]!);
        if (step.ok && tryPush(i, step.state, false)) {
          levelStart = true;
          continue;
        }
      }
      classCursor++;
    } else if (!resume()) {
      return result('violation');
    }
  }
}

/**
 * When each operation in the list must have taken effect by: its completion, or, for a write of
 * unknown outcome whose (unique) value a read returned, the earliest completion of such a read.
 * Floating unknowns have none (Infinity).
 */
function deadlines(ops: readonly ZnodeOp[]): { deadlineMs: Float64Array; observedValues: Set<string> } {
  const observedValues = new Set<string>();
  const firstReadMs = new Map<string, number>();
  const writers = new Map<string, number>();
  for (const op of ops) {
    if (op.f === 'get' && op.outcome === 'ok' && op.resultValue !== undefined) {
      observedValues.add(op.resultValue);
      firstReadMs.set(op.resultValue, Math.min(firstReadMs.get(op.resultValue) ?? Infinity, op.completeMs));
    }
    if (op.f === 'create' || op.f === 'set') writers.set(op.value ?? '', (writers.get(op.value ?? '') ?? 0) + 1);
  }
  const deadlineMs = Float64Array.from(ops, (op) => {
    if (op.outcome !== 'info') return op.completeMs;
    const value = op.value ?? '';
    const readMs = op.f === 'delete' || writers.get(value) !== 1 ? undefined : firstReadMs.get(value);
    // A read that completed before the write was sent saw something else: the search will say so.
    return readMs === undefined ? Infinity : Math.max(readMs, op.invokeMs);
  });
  return { deadlineMs, observedValues };
}

/**
 * Unknown-outcome writes with no deadline, in classes of interchangeable ones: same function and
 * expected version, and data no read returned (else each is a class of its own). Members of a
 * class are used in invocation order, so the used ones are always a prefix and a count says which.
 */
class FloatingClasses {
  /** Per operation: its class, or -1 when it is in the list. */
  readonly classOf: Int32Array;
  private readonly members: number[][] = [];
  private readonly used: number[] = [];
  /** Classes by what they could fit: creates (absent); sets and deletes by expected version (present). */
  private readonly byKey = new Map<string, number>();
  /** Classes of one operation each (data some read returned, written more than once): always offered. */
  private readonly singles: number[] = [];

  constructor(ops: readonly ZnodeOp[], deadlineMs: Float64Array, observedValues: ReadonlySet<string>) {
    this.classOf = new Int32Array(ops.length).fill(-1);
    const order = ops.map((_, i) => i).sort((a, b) => ops[a]!.invokeMs - ops[b]!.invokeMs || a - b);
    for (const i of order) {
      const op = ops[i]!;
      if (op.outcome !== 'info' || deadlineMs[i] !== Infinity) continue;
      const interchangeable = op.f === 'delete' || !observedValues.has(op.value ?? '');
      let c = interchangeable ? this.byKey.get(classKey(op.f, op.expectedVersion)) : undefined;
      if (c === undefined) {
        c = this.members.length;
        this.members.push([]);
        this.used.push(0);
        if (interchangeable) this.byKey.set(classKey(op.f, op.expectedVersion), c);
        else this.singles.push(c);
      }
      this.members[c]!.push(i);
      this.classOf[i] = c;
    }
  }

  /** The classes whose members could fit `state`. */
  candidatesFor(state: ZnodeState): number[] {
    const keys = state === absent
      ? [classKey('create', undefined)]
      : [classKey('set', undefined), classKey('set', state.version), classKey('delete', undefined), classKey('delete', state.version)];
    const classes = keys.flatMap((key) => {
      const c = this.byKey.get(key);
      return c === undefined ? [] : [c];
    });
    return [...classes, ...this.singles];
  }

  /** The first unused member of class c, if any. */
  nextMember(c: number): number | undefined {
    return this.members[c]![this.used[c]!];
  }

  use(c: number): void {
    this.used[c] = this.used[c]! + 1;
  }

  unuse(c: number): void {
    this.used[c] = this.used[c]! - 1;
  }

  countsSnapshot(): Int32Array {
    let length = this.used.length;
    while (length > 0 && this.used[length - 1] === 0) length--;
    return Int32Array.from(this.used.slice(0, length));
  }

  /** Whether at least `counts` members of every class are used now. */
  usesAtLeast(counts: Int32Array): boolean {
    for (let c = 0; c < counts.length; c++) {
      if (counts[c]! > this.used[c]!) return false;
    }
    return true;
  }
}

function classKey(f: ZnodeOp['f'], expectedVersion: number | undefined): string {
  return `${f} ${isAnyVersion(expectedVersion) ? 'any' : String(expectedVersion)}`;
}

/**
 * The linearized operations of the list, numbered by return order: those linearized are all ranks
 * below some word boundary plus a few just above it (no more than were in flight at one instant),
 * so the key carries only the words from there on, and is exact.
 */
/**
 * The set of linearized operations that must take effect, as the memo's key: a 64-bit Zobrist hash
 * (two 32-bit halves, each operation XORing in its own pseudo-random pair) and the count, updated
 * in O(1) per change. A key built from the bits themselves costs the width of the span between the
 * oldest operation not yet linearized and the newest linearized one, on every step: with long
 * operations (a read across a partition) that span is thousands of operations, and the search of a
 * ten-minute history took minutes. Two different sets share a key with probability about 2^-64 per
 * pair (a collision could only prune a configuration wrongly; at a million memo entries the odds of
 * any are below 10^-7).
 */
class KnownSet {
  private readonly low: Uint32Array;
  private readonly high: Uint32Array;
  private hashLow = 0;
  private hashHigh = 0;
  private count = 0;

  constructor(entries: readonly number[], n: number) {
    this.low = new Uint32Array(n);
    this.high = new Uint32Array(n);
    for (const entry of entries) {
      if ((entry & 1) === 1) {
        const i = entry >> 1;
        this.low[i] = mix32(2 * i + 1);
        this.high[i] = mix32(2 * i + 2 + 0x9e37_79b9);
      }
    }
  }

  add(i: number): void {
    this.toggle(i);
    this.count++;
  }

  remove(i: number): void {
    this.toggle(i);
    this.count--;
  }

  /** A string equal for equal sets (and, but for a 2^-64 chance, different for different ones). */
  key(): string {
    return `${this.count}:${this.hashHigh.toString(36)}:${this.hashLow.toString(36)}`;
  }

  private toggle(i: number): void {
    this.hashLow = (this.hashLow ^ this.low[i]!) >>> 0;
    this.hashHigh = (this.hashHigh ^ this.high[i]!) >>> 0;
  }
}

/** MurmurHash3's finaliser: a fixed, well-spread 32-bit value per input. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85eb_ca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2_ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
