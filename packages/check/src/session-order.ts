// Session order (docs/protocol.md §4, docs/design.md §1): a client never sees the tree go back.
// Every answer carries a revision; one client thread's answers, in the order they arrived, must
// never carry a lower revision than one it already had, its own writes' revisions included.

import type { ZnodeOp } from './history.js';

/** Options of checkSessionOrder. */
export interface SessionOrderOptions {
  /**
   * 'process' (default): one sequence per process, across sessions. That holds for linearizable
   * reads; with `sequential` reads only a session is promised not to go back (a fresh session
   * after expiry presents no lastRevision), so check with 'session' instead.
   */
  readonly scope?: 'process' | 'session';
}

/** An answer with a lower revision than one its process (or session) had already seen. */
export interface SessionOrderViolation {
  readonly process: number;
  readonly sessionId?: number;
  /** The answer that went back. */
  readonly op: ZnodeOp;
  /** The earlier answer of the same process with the highest revision. */
  readonly seen: ZnodeOp;
  readonly revision: number;
  readonly seenRevision: number;
}

/** The verdict on session order. */
export interface SessionOrderReport {
  readonly valid: boolean;
  readonly violations: readonly SessionOrderViolation[];
  /** Answers with a revision that were checked ('ok' and 'error' outcomes). */
  readonly opsChecked: number;
}

/** Checks that each process's answered revisions, in completion order, never decrease. */
export function checkSessionOrder(ops: readonly ZnodeOp[], options: SessionOrderOptions = {}): SessionOrderReport {
  const scope = options.scope ?? 'process';
  const sequences = new Map<string, ZnodeOp[]>();
  let opsChecked = 0;
  for (const op of ops) {
    if ((op.outcome !== 'ok' && op.outcome !== 'error') || op.revision === undefined) continue;
    opsChecked++;
    const id = scope === 'session' ? `${op.process}/${op.sessionId ?? ''}` : `${op.process}`;
    const sequence = sequences.get(id);
    if (sequence === undefined) sequences.set(id, [op]);
    else sequence.push(op);
  }

  const violations: SessionOrderViolation[] = [];
  for (const sequence of sequences.values()) {
    sequence.sort((a, b) => a.completeMs - b.completeMs || a.invokeMs - b.invokeMs);
    let seen: ZnodeOp | undefined;
    for (const op of sequence) {
      const revision = op.revision ?? 0;
      const seenRevision = seen?.revision ?? 0;
      if (seen !== undefined && revision < seenRevision) {
        violations.push({ process: op.process, ...(op.sessionId === undefined ? {} : { sessionId: op.sessionId }), op, seen, revision, seenRevision });
      }
      if (seen === undefined || revision > seenRevision) seen = op;
    }
  }
  return { valid: violations.length === 0, violations, opsChecked };
}
