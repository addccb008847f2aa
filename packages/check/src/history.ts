// The history a fault run records: one entry per operation a client sent, with its interval on the
// runner's monotonic clock and how it ended. The fault runner writes these; every checker reads them.

/** How a recorded operation ended. */
export type Outcome =
  /** Answered with a result: a write took effect, a read observed. */
  | 'ok'
  /** Answered with a definite application error (NO_NODE, NODE_EXISTS, BAD_VERSION, NOT_EMPTY): an observation, no state change. */
  | 'error'
  /** Certainly did not take effect (SHUTTING_DOWN, NOT_LEADER, CONNECTION_LOSS before sending). */
  | 'fail'
  /** Unknown (TIMEOUT, CONNECTION_LOSS after sending, SESSION_EXPIRED mid-flight): may take effect at any time after invoke, or never. */
  | 'info';

/** The znode operations the linearizability checker models. */
export type ZnodeFunction = 'create' | 'get' | 'set' | 'delete';

/** One operation on one znode, as a client thread sent it and saw it end. */
export interface ZnodeOp {
  /** One logical client thread; its operations never overlap in time. */
  readonly process: number;
  readonly sessionId?: number;
  /** The znode path. */
  readonly key: string;
  readonly f: ZnodeFunction;
  /** create/set: the data written (values are unique per history). Absent means empty data. */
  readonly value?: string;
  /** set/delete: the version the write requires; undefined or -1 means any version. */
  readonly expectedVersion?: number;
  readonly outcome: Outcome;
  /** The error code, for 'error', 'fail' and 'info'. */
  readonly error?: string;
  /** 'ok' get: the data read. Undefined means "not recorded": the checker does not constrain it. */
  readonly resultValue?: string;
  /** 'ok' get: the version read; create: 0; set: the new version. Undefined means "not recorded". */
  readonly resultVersion?: number;
  /** The response's revision ('ok' and 'error' answers): what a read observed or a write made. */
  readonly revision?: number;
  /** Monotonic clock (performance.now()) when the request was sent. */
  readonly invokeMs: number;
  /** When the answer arrived; for 'info', when the client gave up. */
  readonly completeMs: number;
}

/** The event kinds of docs/protocol.md §7. */
export type WatchEventKind = 'created' | 'deleted' | 'dataChanged' | 'childrenChanged';

/** True when a set/delete accepts whatever version the znode has. */
export function isAnyVersion(expectedVersion: number | undefined): boolean {
  return expectedVersion === undefined || expectedVersion === -1;
}

/** A one-line account of an operation: `p3 set /a 'x' (if v2) → ok v3 @r17`. */
export function describeOp(op: ZnodeOp): string {
  const input: string[] = [];
  if (op.f === 'create' || op.f === 'set') input.push(quote(op.value ?? ''));
  if ((op.f === 'set' || op.f === 'delete') && !isAnyVersion(op.expectedVersion)) input.push(`(if v${op.expectedVersion})`);
  const head = [`p${op.process}`, op.f, op.key, ...input].join(' ');
  const revision = op.revision === undefined ? '' : ` @r${op.revision}`;
  return `${head} → ${describeResult(op)}${revision}`;
}

function describeResult(op: ZnodeOp): string {
  switch (op.outcome) {
    case 'ok': {
      const parts = ['ok'];
      if (op.resultValue !== undefined) parts.push(quote(op.resultValue));
      if (op.resultVersion !== undefined) parts.push(`v${op.resultVersion}`);
      return parts.join(' ');
    }
    case 'error':
      return op.error ?? 'error';
    case 'fail':
      return `fail ${op.error ?? ''}`.trimEnd();
    case 'info':
      return `unknown ${op.error ?? ''}`.trimEnd();
  }
}

/** Data as a short quoted string for reports. */
export function quote(value: string): string {
  const shown = value.length > 24 ? `${value.slice(0, 21)}...` : value;
  return `'${shown}'`;
}
