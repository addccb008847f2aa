/**
 * The server's operational failures: one class, a closed union of codes, each with the HTTP
 * status the admin API answers with (fastify's error catalogue style). Broken invariants are not
 * here: they are asserts, and the process dies loudly.
 */
export const serverErrorCatalogue = {
  /** This node is not the leader; `leaderId` in the details says who is, when known. */
  NOT_LEADER: { status: 421, message: 'this node is not the leader' },
  /** No leader is known right now (an election is under way or the cluster has no quorum). */
  NO_LEADER: { status: 503, message: 'no leader is known' },
  /** The request did not complete within its deadline; its outcome is unknown. */
  TIMEOUT: { status: 504, message: 'the request timed out' },
  /** The proposal was overwritten by a new leader's log: it did not take effect; retry. */
  PROPOSAL_DROPPED: { status: 503, message: 'the proposal was dropped by a leader change' },
  /** The leader refuses new proposals until commits catch up. */
  BACKPRESSURE: { status: 503, message: 'too many uncommitted proposals' },
  /** A leader transfer is in progress. */
  TRANSFER_IN_PROGRESS: { status: 503, message: 'a leader transfer is in progress' },
  /** Another membership change is not applied yet. */
  CONF_CHANGE_PENDING: { status: 409, message: 'another membership change is in progress' },
  /** The membership change does not fit the current membership. */
  INVALID_CONF_CHANGE: { status: 400, message: 'invalid membership change' },
  /** Credentials are missing (the member runs with --auth), unknown or wrong, or the address failed too often lately. */
  AUTH_FAILED: { status: 401, message: 'authentication failed' },
  /** The identity lacks the admin role, or the ACL permission, the request needs. */
  NO_AUTH: { status: 403, message: 'not authorised' },
  /** The request is malformed. */
  BAD_REQUEST: { status: 400, message: 'bad request' },
  /** The node is shutting down. */
  SHUTTING_DOWN: { status: 503, message: 'the node is shutting down' },
  /** The configuration is invalid (the message says which setting and why). */
  CONFIG_INVALID: { status: 500, message: 'invalid configuration' },
  /** The data directory belongs to another cluster or member, or is damaged. */
  DATA_DIR_INVALID: { status: 500, message: 'the data directory cannot be used' },
  /** A bounded resource (such as concurrent snapshot downloads) is in use; try again later. */
  BUSY: { status: 503, message: 'the node is busy; try again later' },
  /** Writing the data directory failed (a full disk, an I/O error): the member stops (`vigil server` exits 70). */
  STORAGE_FAILED: { status: 500, message: 'the data directory could not be written' },
  /** A backup file that is not a Vigil backup, or is truncated or damaged. */
  BACKUP_INVALID: { status: 400, message: 'not a valid Vigil backup' },
} as const;

export type ServerErrorCode = keyof typeof serverErrorCatalogue;

export class ServerError extends Error {
  override readonly name = 'ServerError';
  readonly status: number;
  constructor(
    readonly code: ServerErrorCode,
    message?: string,
    readonly details?: Readonly<Record<string, unknown>>,
  ) {
    super(message ?? serverErrorCatalogue[code].message);
    this.status = serverErrorCatalogue[code].status;
  }
}

export function isServerError(err: unknown): err is ServerError {
  return err instanceof ServerError;
}
