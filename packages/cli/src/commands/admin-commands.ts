import type { Command } from 'commander';
import type { MemberStatus } from '@vigil/server';
import { renderTable } from '../format/table.js';
import { findLeader, httpCallOf, httpJson, postJson, type HttpCall } from './admin-http.js';
import { emit, type CommandContext, type CommandHost } from './command-context.js';
import { memberId } from './option-values.js';

/**
 * Membership and leadership over the admin HTTP API (docs/operations.md). Changes go to the
 * leader, found through the endpoints' `/status`, so the operator never has to know who leads.
 */
export function registerAdminCommands(program: Command, host: CommandHost): void {
  const member = program.command('member').description('list, add, remove or promote members (on the leader)');

  member
    .command('list')
    .description('the members: id, role, peer and client addresses, match index, lag')
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => listMembers(ctx)));

  member
    .command('add')
    .description('add a member as a learner (start it with --join first; promote it once its lag is near 0)')
    .argument('<id>', 'the new member\'s id (never reuse one)', memberId)
    .argument('<peer-address>', 'its peer address, host:port')
    .option('--client-address <host:port>', 'its client address, so that tools can find it')
    .action((id: number, peerAddress: string, o: { clientAddress?: string }, c: Command) =>
      host.run(c, (ctx) => changeMembers(ctx, '/admin/members', { id, peerAddress, ...(o.clientAddress === undefined ? {} : { clientAddress: o.clientAddress }) }, (index) =>
        `member ${id} added as a learner (index ${index}); once its lag is near 0: vigil member promote ${id}`)));

  member
    .command('promote')
    .description('make a learner a voter')
    .argument('<id>', 'the learner', memberId)
    .action((id: number, _o: unknown, c: Command) =>
      host.run(c, (ctx) => changeMembers(ctx, `/admin/members/${id}/promote`, undefined, (index) => `member ${id} is a voter (index ${index})`)));

  member
    .command('remove')
    .description('remove a member (stop its process afterwards; its id is never reused)')
    .argument('<id>', 'the member', memberId)
    .action((id: number, _o: unknown, c: Command) =>
      host.run(c, (ctx) => changeMembers(ctx, `/admin/members/${id}`, 'DELETE', (index) => `member ${id} removed (index ${index})`)));

  const leader = program.command('leader').description('move leadership');
  leader
    .command('transfer')
    .description('hand leadership to a voter (default: the most caught-up one)')
    .option('--to <id>', 'the voter to lead', memberId)
    .action((o: { to?: number }, c: Command) => host.run(c, (ctx) => transferLeader(ctx, o.to)));

  // The common options (--json; one-shot: --endpoints, --timeout-ms) go after each command's own.
  for (const c of [...member.commands, ...leader.commands]) host.commonOptions(c);
}

function call(ctx: CommandContext): HttpCall {
  return httpCallOf(ctx);
}

async function listMembers(ctx: CommandContext): Promise<void> {
  const { base } = await findLeader(ctx.endpoints, call(ctx));
  const body = await httpJson<{ leaderId: number | null; members: MemberStatus[] }>(`${base}/members`, {}, call(ctx));
  emit(ctx, body, () => renderTable(
    ['ID', 'ROLE', 'PEER', 'CLIENT', 'MATCH', 'LAG'],
    body.members.map((m) => [
      `${m.id}${m.id === body.leaderId ? ' *' : ''}`,
      m.role,
      m.peerAddress ?? '-',
      m.clientAddress ?? '-',
      m.matchIndex === null ? '-' : String(m.matchIndex),
      m.lag === null ? '-' : String(m.lag),
    ]),
  ).concat(ctx.palette.dim('* the leader')));
}

async function changeMembers(ctx: CommandContext, path: string, body: object | 'DELETE' | undefined, done: (index: number) => string): Promise<void> {
  const { base } = await findLeader(ctx.endpoints, call(ctx));
  const result = body === 'DELETE'
    ? await httpJson<{ index: number }>(`${base}${path}`, { method: 'DELETE' }, call(ctx))
    : await postJson<{ index: number }>(`${base}${path}`, body, call(ctx));
  emit(ctx, result, () => [done(result.index)]);
}

async function transferLeader(ctx: CommandContext, to: number | undefined): Promise<void> {
  const { base, status } = await findLeader(ctx.endpoints, call(ctx));
  if (to === status.id) {
    emit(ctx, { from: status.id, leaderId: status.id }, () => [`member ${status.id} already leads`]);
    return;
  }
  const result = await postJson<{ leaderId: number }>(`${base}/admin/leader/transfer`, to === undefined ? undefined : { to }, call(ctx));
  emit(ctx, { from: status.id, leaderId: result.leaderId }, () => [`leadership moved from member ${status.id} to member ${result.leaderId}`]);
}
