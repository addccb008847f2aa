import type { Command } from 'commander';
import type { MemberStatus, NodeStatus } from '@vigil/server';
import { ExitWith } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { formatBytes, formatDurationMs } from '../format/data-text.js';
import { renderTable } from '../format/table.js';
import { fetchReadiness, fetchStatuses, httpCallOf, type EndpointStatus, type HttpCall } from './admin-http.js';
import { emit, type CommandContext, type CommandHost } from './command-context.js';
import { hostOf } from './endpoints.js';

/**
 * Views of the cluster from the members' admin HTTP (`/status`, `/readyz`), on the same host:port
 * as the client endpoints: `cluster` (membership and replication) and `status` (each member's
 * health, with an exit status for scripts and probes).
 */
export function registerClusterCommands(program: Command, host: CommandHost): void {
  program
    .command('cluster')
    .description('the members: roles, leader, term, log indexes and lag')
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => cluster(ctx)));
  program
    .command('status')
    .description(`each endpoint's health: role, leader, applied/commit, readiness, db size, uptime (exit status ${exitCodes.unavailable} unless all answer and agree on a leader)`)
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => status(ctx)));
  for (const name of ['cluster', 'status']) host.commonOptions(program.commands.find((c) => c.name() === name)!);
}

function call(ctx: CommandContext): HttpCall {
  return httpCallOf(ctx);
}

type Answered = EndpointStatus & { status: NodeStatus };

function answered(statuses: readonly EndpointStatus[]): Answered[] {
  return statuses.filter((s): s is Answered => s.status !== null);
}

/** The leader's view when a leader answered (it alone knows match indexes and lag). */
function leaderOf(statuses: readonly Answered[]): Answered | undefined {
  return statuses.filter((s) => s.status.role === 'leader').sort((a, b) => b.status.term - a.status.term)[0];
}

async function cluster(ctx: CommandContext): Promise<void> {
  const first = await fetchStatuses(ctx.endpoints, call(ctx));
  // Members known from a membership list but absent from the endpoints: ask them too, when their
  // client address is known.
  const seenIds = new Set(answered(first).map((s) => s.status.id));
  const extra = [...new Set(answered(first).flatMap((s) => s.status.members)
    .filter((m) => !seenIds.has(m.id) && m.clientAddress !== null)
    .map((m) => m.clientAddress!))]
    .filter((address) => !first.some((s) => hostOf(s.base) === address));
  const statuses = [...first, ...(await fetchStatuses(extra, call(ctx)))];
  const ok = answered(statuses);
  const leader = leaderOf(ok);
  const membership = new Map<number, MemberStatus>();
  for (const s of ok) for (const m of s.status.members) if (!membership.has(m.id)) membership.set(m.id, m);
  for (const m of leader?.status.members ?? []) membership.set(m.id, m);

  const byId = new Map(ok.map((s) => [s.status.id, s]));
  const ids = [...new Set([...membership.keys(), ...byId.keys()])].sort((a, b) => a - b);
  const members = ids.map((id) => {
    const s = byId.get(id);
    const m = membership.get(id);
    return {
      id,
      endpoint: s === undefined ? (m?.clientAddress ?? null) : hostOf(s.base),
      reachable: s !== undefined,
      role: s?.status.role ?? null,
      membership: m?.role ?? null,
      term: s?.status.term ?? null,
      leaderId: s?.status.leaderId ?? null,
      commitIndex: s?.status.commitIndex ?? null,
      appliedIndex: s?.status.appliedIndex ?? null,
      snapshotIndex: s?.status.snapshotIndex ?? null,
      lastLogIndex: s?.status.lastLogIndex ?? null,
      matchIndex: m?.matchIndex ?? null,
      lag: m?.lag ?? null,
    };
  });
  const unreachable = statuses.filter((s) => s.status === null).map((s) => ({ endpoint: hostOf(s.base), error: s.error }));
  const summary = { leaderId: leader?.status.id ?? null, term: leader?.status.term ?? null, members, unreachable };
  emit(ctx, summary, () => {
    const p = ctx.palette;
    const dash = (v: number | string | null): string => (v === null ? '-' : String(v));
    const lines = [leader === undefined ? p.yellow('no leader answered') : `leader ${p.bold(String(leader.status.id))}, term ${leader.status.term}`];
    lines.push(...renderTable(
      ['ID', 'ENDPOINT', 'ROLE', 'MEMBER', 'TERM', 'COMMIT', 'APPLIED', 'SNAPSHOT', 'LAST', 'LAG'],
      members.map((m) => [
        String(m.id),
        dash(m.endpoint),
        m.role === null ? 'no answer' : m.role,
        dash(m.membership),
        dash(m.term),
        dash(m.commitIndex),
        dash(m.appliedIndex),
        dash(m.snapshotIndex),
        dash(m.lastLogIndex),
        dash(m.lag),
      ]),
    ));
    for (const u of unreachable) lines.push(p.red(`${u.endpoint}: ${u.error ?? 'no answer'}`));
    return lines;
  });
}

async function status(ctx: CommandContext): Promise<void> {
  const statuses = await fetchStatuses(ctx.endpoints, call(ctx));
  const nodes = await Promise.all(statuses.map(async (s) => {
    if (s.status === null) return { endpoint: hostOf(s.base), status: null, ready: false, reason: null, error: s.error };
    const readiness = await fetchReadiness(s.base, call(ctx)).catch((err: unknown) => ({ ready: false, reason: (err as Error).message }));
    return { endpoint: hostOf(s.base), status: s.status, ready: readiness.ready, reason: readiness.reason, error: null };
  }));
  const ok = answered(statuses);
  const leaderIds = new Set(ok.map((s) => s.status.leaderId));
  const leaderId = leaderIds.size === 1 ? [...leaderIds][0]! : null;
  const healthy = ok.length === statuses.length && leaderId !== null;
  const term = leaderOf(ok)?.status.term ?? null;
  emit(ctx, { healthy, leaderId, term, nodes }, () => {
    const p = ctx.palette;
    const lines = renderTable(
      ['ENDPOINT', 'ID', 'ROLE', 'TERM', 'LEADER', 'APPLIED/COMMIT', 'READY', 'DB', 'UPTIME'],
      nodes.map((n) => n.status === null
        ? [n.endpoint, '-', p.red('unreachable'), '-', '-', '-', '-', '-', n.error ?? '']
        : [
          n.endpoint,
          String(n.status.id),
          n.status.role,
          String(n.status.term),
          n.status.leaderId === null ? '-' : String(n.status.leaderId),
          `${n.status.appliedIndex}/${n.status.commitIndex}`,
          n.ready ? 'yes' : `no: ${n.reason ?? '?'}`,
          formatBytes(n.status.dbSizeBytes),
          formatDurationMs(n.status.uptimeMs),
        ]),
    );
    lines.push(healthy
      ? p.green(`healthy: leader ${leaderId}, term ${term ?? '?'}; ${ok.length} of ${statuses.length} endpoints answered`)
      : p.red(`unhealthy: ${leaderId === null ? 'no leader all agree on' : `leader ${leaderId}`}; ${ok.length} of ${statuses.length} endpoints answered`));
    return lines;
  });
  if (!healthy) throw new ExitWith(exitCodes.unavailable);
}
