// Locks and leadership (docs/design.md §1, Fencing): every hold has a token, the creation revision
// of its node. One token belongs to one holder; a hold that began after another ended has a larger
// token; two processes never believe they hold at once, unless the first was told it lost the hold
// (then fencing, not exclusion, protects the resource); and the guarded resource accepts writes in
// token order.

/** One hold of the lock (or one term of leadership), from one process's point of view. */
export interface LockHold {
  readonly process: number;
  /** The fencing token the recipe gave. */
  readonly token: number;
  /** When acquire (or the campaign) was called. */
  readonly acquireInvokeMs: number;
  /** When it resolved: from here the process believes it holds. */
  readonly acquiredMs: number;
  /** When release was called (the hold ends no earlier). */
  readonly releaseInvokeMs?: number;
  /** When the SDK told the holder its hold ended (expired or suspended). */
  readonly lostMs?: number;
  /** When the holder's process was killed: it acts no more. */
  readonly killedMs?: number;
}

/** A write to the guarded resource carrying a token, and whether the resource accepted it. */
export interface FencedWrite {
  readonly token: number;
  readonly ok: boolean;
  /** The revision of an accepted write. */
  readonly revision?: number;
  readonly process?: number;
}

/** The input of checkLocks: the holds of one lock (or one election). */
export interface LocksInput {
  readonly holds: readonly LockHold[];
  readonly fencedWrites?: readonly FencedWrite[];
}

/** What went wrong. */
export type LockViolation =
  | { readonly kind: 'shared-token'; readonly holds: readonly [LockHold, LockHold]; readonly detail: string }
  | { readonly kind: 'token-order'; readonly holds: readonly [LockHold, LockHold]; readonly detail: string }
  | { readonly kind: 'not-exclusive'; readonly holds: readonly [LockHold, LockHold]; readonly detail: string }
  | { readonly kind: 'fence-order'; readonly writes: readonly [FencedWrite, FencedWrite]; readonly detail: string };

/** Two holds that overlapped after the earlier holder was told it lost: fencing's job, not a violation. */
export interface FencedOverlap {
  readonly earlier: LockHold;
  readonly later: LockHold;
}

/** The verdict on a lock. */
export interface LocksReport {
  readonly valid: boolean;
  readonly violations: readonly LockViolation[];
  readonly fencedOverlaps: readonly FencedOverlap[];
}

/** When a hold certainly ended (release called, loss told, process killed), if it did. */
function endMs(hold: LockHold): number {
  return Math.min(hold.releaseInvokeMs ?? Infinity, hold.lostMs ?? Infinity, hold.killedMs ?? Infinity);
}

/**
 * Until when the holder acted as one: until it called release (a holder told of a loss may act on
 * until then, which fencing must catch), else until the loss, and never past its death.
 */
function actsUntilMs(hold: LockHold): number {
  return Math.min(hold.releaseInvokeMs ?? hold.lostMs ?? Infinity, hold.killedMs ?? Infinity);
}

const describeHold = (h: LockHold): string => `p${h.process} token ${h.token} [${h.acquiredMs}, ${endMs(h) === Infinity ? '...' : endMs(h)}]`;

/** Checks the holds of one lock and the writes they fenced. */
export function checkLocks(input: LocksInput): LocksReport {
  const violations: LockViolation[] = [];
  const fencedOverlaps: FencedOverlap[] = [];

  // One leader per token.
  const byToken = new Map<number, LockHold>();
  for (const hold of input.holds) {
    const first = byToken.get(hold.token);
    if (first === undefined) byToken.set(hold.token, hold);
    else if (first.process !== hold.process) {
      violations.push({ kind: 'shared-token', holds: [first, hold], detail: `token ${hold.token} held by p${first.process} and p${hold.process}` });
    }
  }

  // Real-time order: a hold that ended before another's acquire was called has a smaller token.
  // Sweep the acquires in time order against the holds ended so far, keeping the largest token.
  const ended = [...input.holds].filter((h) => endMs(h) !== Infinity).sort((a, b) => endMs(a) - endMs(b));
  const acquires = [...input.holds].sort((a, b) => a.acquireInvokeMs - b.acquireInvokeMs);
  let endedIndex = 0;
  let largest: LockHold | undefined;
  for (const hold of acquires) {
    while (endedIndex < ended.length && endMs(ended[endedIndex]!) < hold.acquireInvokeMs) {
      const h = ended[endedIndex++]!;
      if (largest === undefined || h.token > largest.token) largest = h;
    }
    if (largest !== undefined && largest.token >= hold.token) {
      violations.push({
        kind: 'token-order',
        holds: [largest, hold],
        detail: `${describeHold(largest)} ended before p${hold.process} called acquire at ${hold.acquireInvokeMs}, yet that hold got token ${hold.token}`,
      });
    }
  }

  // Exclusivity: when a hold begins, every other process's earlier hold still in force must have been told it was lost.
  // Sorted by acquisition, a hold that stopped before one acquisition stopped before all later ones.
  let inForce: LockHold[] = [];
  for (const later of [...input.holds].sort((a, b) => a.acquiredMs - b.acquiredMs)) {
    inForce = inForce.filter((h) => actsUntilMs(h) > later.acquiredMs);
    for (const earlier of inForce) {
      if (earlier.process === later.process) continue;
      if (earlier.lostMs !== undefined && earlier.lostMs <= later.acquiredMs) {
        fencedOverlaps.push({ earlier, later });
        continue;
      }
      violations.push({
        kind: 'not-exclusive',
        holds: [earlier, later],
        detail: `${describeHold(earlier)} still held, not told of a loss, when ${describeHold(later)} was acquired`,
      });
    }
    inForce.push(later);
  }

  // Fencing: the resource's accepted writes, in revision order, carry non-decreasing tokens.
  const accepted = (input.fencedWrites ?? []).filter((w) => w.ok && w.revision !== undefined).sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
  let highest: FencedWrite | undefined;
  for (const write of accepted) {
    if (highest !== undefined && write.token < highest.token) {
      violations.push({
        kind: 'fence-order',
        writes: [highest, write],
        detail: `write of token ${write.token} accepted at r${write.revision} after a write of token ${highest.token} at r${highest.revision}`,
      });
    }
    if (highest === undefined || write.token > highest.token) highest = write;
  }

  return { valid: violations.length === 0, violations, fencedOverlaps };
}
