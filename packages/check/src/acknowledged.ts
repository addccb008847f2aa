// Durability (docs/design.md §1): a write acknowledged to a client is never lost while a majority
// survives. After the faults heal, every znode whose create was acknowledged, and which the
// workload never tried to delete, must still be there.

import type { ZnodeOp } from './history.js';

/** The input of checkAcknowledgedPresent. */
export interface AcknowledgedInput {
  /** 'ok' creates of znodes that nobody attempted to delete (other operations are ignored). */
  readonly acknowledged: readonly ZnodeOp[];
  /** Reads after healing: an 'ok' get proves a znode present, a NO_NODE answer proves it absent. */
  readonly finalReads?: readonly ZnodeOp[];
  /** Every path present after healing (e.g. the children of the workload's parent, listed). */
  readonly finalListing?: readonly string[];
}

/** An acknowledged znode that is gone. */
export interface MissingZnode {
  readonly key: string;
  /** The acknowledged create. */
  readonly create: ZnodeOp;
  /** What showed it absent: a final read answering NO_NODE, or the listing. */
  readonly evidence: ZnodeOp | 'listing';
}

/** The verdict on acknowledged creates. */
export interface AcknowledgedReport {
  readonly valid: boolean;
  readonly missing: readonly MissingZnode[];
  /** Acknowledged znodes that neither the reads nor the listing covered: not checked. */
  readonly unverified: readonly string[];
  /** Acknowledged znodes found present. */
  readonly present: number;
}

/** Checks that every acknowledged, never-deleted znode is present after healing. */
export function checkAcknowledgedPresent(input: AcknowledgedInput): AcknowledgedReport {
  const creates = new Map<string, ZnodeOp>();
  for (const op of input.acknowledged) {
    if (op.f === 'create' && op.outcome === 'ok' && !creates.has(op.key)) creates.set(op.key, op);
  }
  const readPresent = new Set<string>();
  const readAbsent = new Map<string, ZnodeOp>();
  for (const op of input.finalReads ?? []) {
    if (op.f !== 'get') continue;
    if (op.outcome === 'ok') readPresent.add(op.key);
    else if (op.outcome === 'error' && op.error === 'NO_NODE' && !readAbsent.has(op.key)) readAbsent.set(op.key, op);
  }
  const listed = input.finalListing === undefined ? undefined : new Set(input.finalListing);

  const missing: MissingZnode[] = [];
  const unverified: string[] = [];
  let present = 0;
  for (const [key, create] of [...creates.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const absentRead = readAbsent.get(key);
    if (absentRead !== undefined) missing.push({ key, create, evidence: absentRead });
    else if (listed !== undefined && !listed.has(key)) missing.push({ key, create, evidence: 'listing' });
    else if (readPresent.has(key) || listed?.has(key) === true) present++;
    else unverified.push(key);
  }
  return { valid: missing.length === 0, missing, unverified, present };
}
