import type { TlsOptions } from '@vigil/client';
import type { MemberStatus, NodeStatus } from '@vigil/server';
import { CliError } from '../cli-error.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { authHint } from '../failure.js';
import type { CommandContext } from './command-context.js';
import { basicAuthorization } from './credentials.js';
import { httpBaseOf } from './endpoints.js';
import { fetchWithTls } from './tls-flags.js';

/**
 * The admin HTTP API of docs/operations.md, as the CLI uses it: every request has a deadline and
 * the command's AbortSignal; every failure becomes a one-line CliError with an exit code.
 */
export interface HttpCall {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** `Authorization` of every request (HTTP Basic, from --user): a cluster run with --auth wants it. */
  readonly authorization?: string | undefined;
  /** `--ca`, `--cert`, `--key` for https:// (null: the global fetch, the system's CAs). */
  readonly tls: TlsOptions | null;
}

/** The HTTP call of a command's run: its signal, deadline, credentials and TLS files. */
export function httpCallOf(ctx: CommandContext): HttpCall {
  return { signal: ctx.signal, timeoutMs: ctx.timeoutMs, authorization: ctx.credentials === null ? undefined : basicAuthorization(ctx.credentials), tls: ctx.tls };
}

/** `init` with the call's Authorization header added. */
function withAuthorization(init: RequestInit, call: HttpCall): RequestInit {
  if (call.authorization === undefined) return init;
  const headers = new Headers(init.headers);
  headers.set('authorization', call.authorization);
  return { ...init, headers };
}

function fetchFor(call: HttpCall): (url: string, init: RequestInit) => Promise<Response> {
  const tls = call.tls;
  return tls === null ? fetch : (url, init) => fetchWithTls(url, init, tls);
}

/** Server error codes whose retry may succeed: the cluster could not do it now. */
const retryLater = new Set(['NOT_LEADER', 'NO_LEADER', 'TIMEOUT', 'SHUTTING_DOWN', 'TRANSFER_IN_PROGRESS', 'BUSY', 'PROPOSAL_DROPPED', 'BACKPRESSURE', 'CONF_CHANGE_PENDING']);

function exitCodeOfHttp(code: string): ExitCode {
  if (retryLater.has(code)) return exitCodes.unavailable;
  if (code === 'AUTH_FAILED' || code === 'HTTP_401') return exitCodes.authFailed;
  if (code === 'NO_AUTH' || code === 'HTTP_403') return exitCodes.notPermitted;
  if (code === 'BAD_REQUEST') return exitCodes.usage;
  return exitCodes.failure;
}

/** Sends one request; resolves with the response (status 2xx) or throws a CliError. */
export async function httpRequest(url: string, init: RequestInit, call: HttpCall): Promise<Response> {
  const deadline = AbortSignal.timeout(call.timeoutMs);
  let res: Response;
  try {
    res = await fetchFor(call)(url, { ...withAuthorization(init, call), signal: AbortSignal.any([call.signal, deadline]) });
  } catch (err) {
    throw transportError(url, err, call);
  }
  if (res.ok) return res;
  const text = await res.text().catch(() => '');
  let body: { error?: { code?: string; message?: string } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const code = body?.error?.code ?? `HTTP_${res.status}`;
  const message = body?.error?.message ?? (text.length > 0 ? text.slice(0, 200) : res.statusText);
  const exitCode = exitCodeOfHttp(code);
  const hint = exitCode === exitCodes.authFailed ? `; ${authHint}` : exitCode === exitCodes.notPermitted ? '; the user lacks the admin role this needs (vigil whoami lists its roles)' : '';
  throw new CliError(`${new URL(url).host}: ${message} (${code}${hint})`, exitCode, code);
}

export async function httpJson<T>(url: string, init: RequestInit, call: HttpCall): Promise<T> {
  const res = await httpRequest(url, init, call);
  try {
    return (await res.json()) as T;
  } catch (err) {
    throw transportError(url, err, call);
  }
}

/** POST with an optional JSON body. */
export function postJson<T>(url: string, body: unknown, call: HttpCall): Promise<T> {
  const init: RequestInit = body === undefined ? { method: 'POST' } : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  return httpJson<T>(url, init, call);
}

export function transportError(url: string, err: unknown, call: HttpCall): CliError {
  const host = new URL(url).host;
  if (call.signal.aborted) return new CliError('cancelled', exitCodes.interrupted, 'CANCELLED');
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return new CliError(`${host} did not answer within ${call.timeoutMs} ms`, exitCodes.unavailable, 'TIMEOUT');
  const cause = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  const reason = cause === 'ECONNREFUSED' ? 'connection refused' : cause;
  return new CliError(`cannot reach ${host}: ${reason}`, exitCodes.unavailable, 'UNREACHABLE');
}

/** One endpoint's `/status`, or why it did not answer. */
export interface EndpointStatus {
  readonly endpoint: string;
  readonly base: string;
  readonly status: NodeStatus | null;
  readonly error: string | null;
}

export async function fetchStatuses(endpoints: readonly string[], call: HttpCall): Promise<EndpointStatus[]> {
  return Promise.all(
    endpoints.map(async (endpoint): Promise<EndpointStatus> => {
      const base = httpBaseOf(endpoint);
      try {
        return { endpoint, base, status: await httpJson<NodeStatus>(`${base}/status`, {}, call), error: null };
      } catch (err) {
        if (call.signal.aborted) throw err;
        // With --auth, `/status` wants credentials: a refusal is the caller's to fix, not a member down.
        if (err instanceof CliError && (err.exitCode === exitCodes.authFailed || err.exitCode === exitCodes.notPermitted)) throw err;
        return { endpoint, base, status: null, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
}

/** The leader's admin base URL and its status, found through the endpoints' `/status`. */
export async function findLeader(endpoints: readonly string[], call: HttpCall): Promise<{ base: string; status: NodeStatus }> {
  const statuses = await fetchStatuses(endpoints, call);
  const answered = statuses.filter((s): s is EndpointStatus & { status: NodeStatus } => s.status !== null);
  if (answered.length === 0) {
    throw new CliError(`no member answered: ${statuses.map((s) => s.error).join('; ')}`, exitCodes.unavailable, 'UNREACHABLE');
  }
  const leaders = answered.filter((s) => s.status.role === 'leader').sort((a, b) => b.status.term - a.status.term);
  const leader = leaders[0];
  if (leader !== undefined) return { base: leader.base, status: leader.status };
  // The leader is not among the endpoints: its client address may be known from the members list.
  for (const s of answered) {
    const id = s.status.leaderId;
    if (id === null) continue;
    const address = s.status.members.find((m: MemberStatus) => m.id === id)?.clientAddress ?? null;
    if (address !== null) {
      const base = httpBaseOf(address);
      return { base, status: await httpJson<NodeStatus>(`${base}/status`, {}, call) };
    }
    throw new CliError(`the leader is member ${id}, which is not among the endpoints (add its client address to --endpoints)`, exitCodes.unavailable, 'NO_LEADER');
  }
  throw new CliError('no leader is known (an election is under way, or there is no quorum)', exitCodes.unavailable, 'NO_LEADER');
}

/** `/readyz`: ready, or the reason it is not (503 is an answer here, not a failure). */
export async function fetchReadiness(base: string, call: HttpCall): Promise<{ ready: boolean; reason: string | null }> {
  const url = `${base}/readyz`;
  let res: Response;
  try {
    res = await fetchFor(call)(url, { ...withAuthorization({}, call), signal: AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]) });
  } catch (err) {
    throw transportError(url, err, call);
  }
  const body = (await res.json().catch(() => ({}))) as { ready?: boolean; reason?: string };
  return { ready: res.ok && body.ready === true, reason: body.reason ?? (res.ok ? null : `HTTP ${res.status}`) };
}
