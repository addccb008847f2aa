/**
 * The closed set of failure codes, named as in ZooKeeper. Operational failures travel as results
 * (`{ ok: false, error }`); `StoreError` is their thrown form for the few APIs that cannot return
 * a result (decoding, snapshot restore, a closed store).
 */
export const errorCodes = [
  'NO_NODE',
  'NODE_EXISTS',
  'BAD_VERSION',
  'NOT_EMPTY',
  'NO_CHILDREN_FOR_EPHEMERALS',
  'BAD_ARGUMENTS',
  'SESSION_EXPIRED',
  'STALE_SEQUENCE',
  'TOO_MANY_EPHEMERALS',
  'NO_AUTH',
  'INVALID_ACL',
  'NO_USER',
  'MARSHALLING_ERROR',
  'SNAPSHOT_INVALID',
  'STORE_CLOSED',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export class StoreError extends Error {
  override readonly name = 'StoreError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.code = code;
  }
}

/** A broken invariant is a bug: fail loudly, never limp on with a diverged replica. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`store invariant violated: ${message}`);
}
