// Ephemeral lifetime (docs/design.md §1): an ephemeral znode lives exactly as long as its session.
// Seen from other clients: it must not vanish while its owner is provably alive, and must be gone
// once its owner has been silent for longer than the session timeout (plus a grace for a leader
// change, which grants one fresh timeout, and for the sweep itself).

/** One ephemeral znode the workload created, and what is known of its owner. */
export interface EphemeralRecord {
  readonly path: string;
  readonly sessionId: number;
  /** When its create was acknowledged. */
  readonly createdMs: number;
  /** When its create was sent (default createdMs): it may exist from then on. */
  readonly createInvokeMs?: number;
  /** The owner's session timeout. */
  readonly timeoutMs: number;
  /** The invocation of the owner's last 'ok' operation: its session was certainly alive then. */
  readonly ownerAliveUntilMs: number;
  /** When the owner stopped heartbeating (killed, partitioned, closed); undefined if it kept going. */
  readonly ownerGoneMs?: number;
  /** When the owner sent a delete of it, if it did. */
  readonly deletedByOwnerMs?: number;
}

/** Another client's read of whether an ephemeral path exists. */
export interface EphemeralObservation {
  readonly path: string;
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly exists: boolean;
  readonly process?: number;
}

/** Options of checkEphemerals. */
export interface EphemeralsOptions {
  /**
   * Slack after ownerGoneMs + timeoutMs before a present ephemeral is a violation (default
   * graceMsDefault(timeoutMs)); a function gives each ephemeral its own (e.g. one more timeout per
   * leader change the run may have caused meanwhile: every new leader grants one).
   */
  readonly graceMs?: number | ((ephemeral: EphemeralRecord) => number);
}

/** The default grace: two more session timeouts (a new leader grants one fresh timeout) and two seconds. */
export function graceMsDefault(timeoutMs: number): number {
  return 2 * timeoutMs + 2_000;
}

/** The input of checkEphemerals. */
export interface EphemeralsInput {
  readonly ephemerals: readonly EphemeralRecord[];
  readonly observations: readonly EphemeralObservation[];
}

/** An ephemeral seen absent while its owner lived, or present long after its owner went. */
export interface EphemeralViolation {
  readonly kind: 'vanished-before-session-ended' | 'outlived-session';
  readonly ephemeral: EphemeralRecord;
  readonly observation: EphemeralObservation;
  readonly detail: string;
}

/** The verdict on ephemerals. */
export interface EphemeralsReport {
  readonly valid: boolean;
  readonly violations: readonly EphemeralViolation[];
  readonly observationsChecked: number;
}

/** Checks other clients' observations of ephemerals against their owners' lifetimes. */
export function checkEphemerals(input: EphemeralsInput, options: EphemeralsOptions = {}): EphemeralsReport {
  const byPath = new Map<string, EphemeralRecord[]>();
  for (const e of input.ephemerals) {
    const list = byPath.get(e.path);
    if (list === undefined) byPath.set(e.path, [e]);
    else list.push(e);
  }
  const deadlineMs = (e: EphemeralRecord): number =>
    e.ownerGoneMs === undefined ? Infinity : e.ownerGoneMs + e.timeoutMs + graceOf(e);
  const graceOf = (e: EphemeralRecord): number =>
    typeof options.graceMs === 'function' ? options.graceMs(e) : options.graceMs ?? graceMsDefault(e.timeoutMs);

  const violations: EphemeralViolation[] = [];
  let observationsChecked = 0;
  for (const observation of input.observations) {
    const records = byPath.get(observation.path);
    if (records === undefined) continue;
    observationsChecked++;
    for (const e of records) {
      if (!observation.exists) {
        const afterCreate = observation.invokeMs >= e.createdMs;
        const ownerAlive = observation.completeMs < e.ownerAliveUntilMs;
        const deleted = e.deletedByOwnerMs !== undefined && e.deletedByOwnerMs <= observation.completeMs;
        if (afterCreate && ownerAlive && !deleted) {
          violations.push({
            kind: 'vanished-before-session-ended',
            ephemeral: e,
            observation,
            detail: `${e.path} (session ${e.sessionId}) read absent in [${observation.invokeMs}, ${observation.completeMs}] ms, but it was created by ${e.createdMs} ms and its session was alive at ${e.ownerAliveUntilMs} ms`,
          });
        }
      } else if (observation.invokeMs > deadlineMs(e)) {
        // Another session may have created the same path since; only then is a present read innocent.
        const other = records.some((o) => o !== e && (o.createInvokeMs ?? o.createdMs) <= observation.completeMs && observation.invokeMs <= deadlineMs(o));
        if (!other) {
          violations.push({
            kind: 'outlived-session',
            ephemeral: e,
            observation,
            detail: `${e.path} (session ${e.sessionId}) read present at ${observation.invokeMs} ms, past ${deadlineMs(e)} ms (owner gone at ${e.ownerGoneMs} ms, timeout ${e.timeoutMs} ms, plus grace)`,
          });
        }
      }
    }
  }
  return { valid: violations.length === 0, violations, observationsChecked };
}
