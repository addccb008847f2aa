/**
 * What a `vigil` exit status says (docs/cli.md, "Exit codes"). Scripts may rely on these numbers:
 * never renumber one, only add.
 */
export const exitCodes = {
  ok: 0,
  /** Any failure not listed below. */
  failure: 1,
  /** Usage: unknown command or flag, missing or extra argument, bad value, invalid path. */
  usage: 2,
  /** No such node (NO_NODE); also `exists` of a missing node. */
  noNode: 3,
  /** The node already exists (NODE_EXISTS). */
  nodeExists: 4,
  /** The expected version did not match (BAD_VERSION). */
  badVersion: 5,
  /** The node has children (NOT_EMPTY). */
  notEmpty: 6,
  /** No member could be reached or none answered in time, no leader, session lost: try again. */
  unavailable: 7,
  /** The cluster refused the credentials: missing (it runs with --auth), unknown or wrong (AUTH_FAILED). */
  authFailed: 8,
  /** Not permitted: the node's ACL (NO_AUTH) or the user's admin roles deny it. */
  notPermitted: 9,
  /** `vigil server`: writing the data directory failed (a full disk, an I/O error); the member stopped. */
  storageFailed: 70,
  /** Interrupted by Ctrl-C (128 + SIGINT, as shells report it). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** The table printed by `vigil --help` and docs/cli.md. */
export const exitCodeMeanings: readonly (readonly [ExitCode, string])[] = [
  [exitCodes.ok, 'ok'],
  [exitCodes.failure, 'failure not listed below'],
  [exitCodes.usage, 'usage: unknown command or flag, bad argument or value, invalid path'],
  [exitCodes.noNode, 'no such node (also: `exists` of a missing node)'],
  [exitCodes.nodeExists, 'node already exists'],
  [exitCodes.badVersion, 'version mismatch (-v)'],
  [exitCodes.notEmpty, 'node has children'],
  [exitCodes.unavailable, 'cluster unavailable: cannot connect, timed out, no leader, session lost'],
  [exitCodes.authFailed, 'authentication failed: credentials missing, unknown or wrong'],
  [exitCodes.notPermitted, 'not permitted: the node\'s ACL or the user\'s roles deny it'],
  [exitCodes.storageFailed, 'vigil server: the data directory could not be written (full disk, I/O error); the member stopped'],
  [exitCodes.interrupted, 'interrupted (Ctrl-C)'],
];
