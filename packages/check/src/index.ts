// @vigil/check — the checkers of the fault suite. A runner records what clients did while faults
// raged; these functions say whether Vigil kept the promises of docs/design.md §1. Pure functions
// over recorded histories: no I/O, no clock, no dependencies. Each returns a report
// `{ valid, ...details }`, and `valid: false` comes with what a reader needs to see why.
// README.md says what each checker proves and what it needs.

// ---- The recorded history ----

/** One operation a client thread sent on a znode, its interval on the runner's monotonic clock, and how it ended. */
export type { ZnodeOp, ZnodeFunction, Outcome, WatchEventKind } from './history.js';
/** describeOp(op): one line for reports, e.g. `p3 set /a 'x' (if v2) → ok v3 @r17`. */
export { describeOp } from './history.js';

// ---- 1. Linearizability, per znode ----

/**
 * checkLinearizable(ops, { searchStepsMax?, initialState? }): LinearizabilityReport — every znode's
 * operations admit one order, within their real-time intervals, that a versioned znode accepts.
 * A Wing–Gong / Lowe search with memoisation per key; a key whose search exceeds searchStepsMax
 * (default searchStepsMaxDefault) is 'unknown', unless a read that no order can place proves it wrong.
 */
export { checkLinearizable, searchStepsMaxDefault, windowOpsMax } from './linearizable.js';
export type { LinearizableOptions, LinearizabilityReport, KeyResult, KeyVerdict, KeyViolation, Candidate } from './linearizable.js';
export type { ImpossibleRead } from './impossible-reads.js';
/** renderTimeline(report | violation, { widthColumns? }): plain text, one row per process; renderTimelineHtml: a self-contained page. */
export { renderTimeline, renderTimelineHtml } from './timeline.js';
export type { TimelineOptions } from './timeline.js';

/** The sequential model: `absent` or `{ value, version }`; stepZnode(state, op) applies one operation. */
export { absent, stepZnode, isModelled, describeZnodeState, explainRefusal } from './znode-model.js';
export type { ZnodeState, ZnodeStep, ZnodeRefusal } from './znode-model.js';

// ---- 2. Session order ----

/** checkSessionOrder(ops, { scope? }): SessionOrderReport — a process's answers, in completion order, never carry a lower revision. */
export { checkSessionOrder } from './session-order.js';
export type { SessionOrderOptions, SessionOrderReport, SessionOrderViolation } from './session-order.js';

// ---- 3. Nothing acknowledged lost ----

/** checkAcknowledgedPresent({ acknowledged, finalReads?, finalListing? }): AcknowledgedReport — acknowledged, never-deleted znodes survive healing. */
export { checkAcknowledgedPresent } from './acknowledged.js';
export type { AcknowledgedInput, AcknowledgedReport, MissingZnode } from './acknowledged.js';

// ---- 4. Watch streams ----

/**
 * checkWatchStreams({ writes, watchers }): WatchStreamsReport — each stream in revision order, no
 * duplicates, no gaps up to the last revision received (unless a compacted marker owns up to
 * them), no phantoms. watchCovers(watch, path, kind): which events a persistent watch hears.
 */
export { checkWatchStreams, watchCovers } from './watch-streams.js';
export type {
  WriteEvent,
  ReceivedEvent,
  CompactedMarker,
  WatchItem,
  WatcherRecord,
  WatchStreamsInput,
  WatchStreamsReport,
  WatchViolation,
  WatchViolationKind,
} from './watch-streams.js';

// ---- 5. Ephemerals ----

/**
 * checkEphemerals({ ephemerals, observations }, { graceMs? }): EphemeralsReport — never absent while
 * the owner is provably alive, gone once the owner has been silent past its timeout plus the grace
 * (graceMsDefault(timeoutMs) = 2 × timeoutMs + 2000).
 */
export { checkEphemerals, graceMsDefault } from './ephemerals.js';
export type { EphemeralRecord, EphemeralObservation, EphemeralsInput, EphemeralsOptions, EphemeralsReport, EphemeralViolation } from './ephemerals.js';

// ---- 6. Locks and leadership ----

/**
 * checkLocks({ holds, fencedWrites? }): LocksReport — one process per token, tokens rising in real
 * time, no two processes holding at once unless the first was told it lost (a fenced overlap), and
 * the guarded resource accepting tokens in order.
 */
export { checkLocks } from './locks.js';
export type { LockHold, FencedWrite, LocksInput, LocksReport, LockViolation, FencedOverlap } from './locks.js';
