import { CommanderError } from 'commander';
import { isVigilError, type ErrorCode } from '@vigil/client';
import { CliError } from './cli-error.js';
import { exitCodes, type ExitCode } from './exit-codes.js';

/** A failure as the CLI reports it: one line, an exit code, and a code for `--json`. */
export interface Failure {
  readonly exitCode: ExitCode;
  readonly code: string;
  readonly message: string;
  readonly path?: string;
}

/** The SDK's codes that mean "the cluster could not serve this now": a retry may succeed. */
const unavailableCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONNECTION_LOSS', 'TIMEOUT', 'NO_LEADER', 'UNAVAILABLE', 'SHUTTING_DOWN', 'SERVER_BEHIND', 'SESSION_EXPIRED',
  'SESSION_MOVED', 'PROPOSAL_DROPPED', 'BACKPRESSURE', 'TOO_MANY_REQUESTS', 'TOO_MANY_SESSIONS', 'HANDSHAKE_TIMEOUT', 'SLOW_CONSUMER', 'NOT_LEADER',
]);

/**
 * Turns anything a command threw into one line and an exit code. `path` is the node the command
 * was about, for errors that do not name one. Unexpected errors (bugs) keep their message; the
 * caller decides whether to show a stack (never for the operational ones).
 */
export function describeFailure(err: unknown, path?: string): Failure & { readonly unexpected: boolean } {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: err.code, message: err.message, ...pathField(err.path), unexpected: false };
  if (isVigilError(err)) return { ...vigilFailure(err.code, detail(err.message, err.code), err.path ?? path), unexpected: false };
  if (isServerError(err)) {
    const exitCode = err.code === 'CONFIG_INVALID' ? exitCodes.usage : err.code === 'STORAGE_FAILED' ? exitCodes.storageFailed : exitCodes.failure;
    return { exitCode, code: err.code, message: err.message, unexpected: false };
  }
  if (err instanceof CommanderError) return { exitCode: exitCodes.usage, code: 'USAGE', message: err.message.replace(/^error: /, ''), unexpected: false };
  return { exitCode: exitCodes.failure, code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), unexpected: true };
}

/**
 * @vigil/server's ServerError, recognised by shape: the CLI loads the server package only for the
 * commands that need it (it takes most of a second to load), so `instanceof` is not available.
 */
function isServerError(err: unknown): err is Error & { code: string } {
  return err instanceof Error && err.name === 'ServerError' && typeof (err as { code?: unknown }).code === 'string';
}

function vigilFailure(code: ErrorCode, message: string, path: string | undefined): Failure {
  const at = path ?? '(unknown path)';
  switch (code) {
    case 'NO_NODE':
      return { exitCode: exitCodes.noNode, code, message: `no such node: ${at}`, ...pathField(path) };
    case 'NODE_EXISTS':
      return { exitCode: exitCodes.nodeExists, code, message: `node already exists: ${at}`, ...pathField(path) };
    case 'BAD_VERSION':
      return { exitCode: exitCodes.badVersion, code, message: `version mismatch: ${at} is not at the expected version`, ...pathField(path) };
    case 'NOT_EMPTY':
      return { exitCode: exitCodes.notEmpty, code, message: `node has children: ${at} (deleteall removes a subtree)`, ...pathField(path) };
    case 'NO_CHILDREN_FOR_EPHEMERALS':
      return { exitCode: exitCodes.failure, code, message: `an ephemeral node cannot have children: ${at}`, ...pathField(path) };
    case 'BAD_ARGUMENTS':
      return { exitCode: exitCodes.usage, code, message: `invalid argument: ${message}`, ...pathField(path) };
    case 'INVALID_ACL':
      return { exitCode: exitCodes.usage, code, message: `invalid ACL: ${message}`, ...pathField(path) };
    case 'NO_AUTH':
      return { exitCode: exitCodes.notPermitted, code, message: `not permitted by the ACL of ${at}: ${message}`, ...pathField(path) };
    case 'AUTH_FAILED':
      return { exitCode: exitCodes.authFailed, code, message: `authentication failed: ${message} (${authHint})` };
    case 'CANCELLED':
      return { exitCode: exitCodes.interrupted, code, message: 'cancelled' };
    case 'TIMEOUT':
      return { exitCode: exitCodes.unavailable, code, message: `timed out: ${message}` };
    case 'CONNECTION_LOSS':
      return { exitCode: exitCodes.unavailable, code, message: `connection lost: ${message}` };
    case 'SESSION_EXPIRED':
      return { exitCode: exitCodes.unavailable, code, message: `session expired: ${message}` };
    default:
      return { exitCode: unavailableCodes.has(code) ? exitCodes.unavailable : exitCodes.failure, code, message: `${code.toLowerCase().replaceAll('_', ' ')}: ${message}` };
  }
}

/** What to check when the cluster refuses the credentials. */
export const authHint = 'check --user and its secret (--secret-file or VIGIL_SECRET)';

/** A VigilError's message is `CODE: detail`; the detail alone reads better after our own words. */
function detail(message: string, code: string): string {
  return message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
}

function pathField(path: string | undefined): { path?: string } {
  return path === undefined ? {} : { path };
}
