import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { aclEntryText, aclTextHelp, parseAclText } from '../format/acl-text.js';
import { renderTable } from '../format/table.js';
import { findLeader, httpCallOf, httpJson } from './admin-http.js';
import { emit, type CommandContext, type CommandHost } from './command-context.js';
import { readSecretFile, secretOf } from './credentials.js';
import { version } from './option-values.js';

/**
 * Security (docs/cli.md §5): nodes' ACLs through the session (`getacl`, `setacl`), who the
 * session is (`whoami`), and the users table through the admin API on the leader (`user …`).
 */
export function registerSecurityCommands(program: Command, host: CommandHost): void {
  const created: Command[] = [];
  created.push(
    program
      .command('getacl')
      .description('print a node\'s ACL, one scheme:id:perms line per entry (perms as rwcda letters), and its aversion')
      .argument('<path>', 'the node')
      .action((path: string, _o: unknown, c: Command) => host.run(c, (ctx) => getAcl(ctx, path))),
    program
      .command('setacl')
      .description('replace a node\'s ACL (needs admin permission on it)')
      .argument('<path>', 'the node')
      .argument('<acl>', aclTextHelp)
      .option('-v, --version <aversion>', 'only if the ACL is at this version (its aversion)', version)
      .action((path: string, acl: string, o: { version?: number }, c: Command) => host.run(c, (ctx) => setAcl(ctx, path, acl, o))),
    program
      .command('whoami')
      .description('who the cluster takes this session for: user, superuser, admin roles, address')
      .action((_o: unknown, c: Command) => host.run(c, (ctx) => whoami(ctx))),
  );

  const user = program.command('user').description('add, remove or list the users of a cluster run with --auth (admin API, on the leader)');
  user
    .command('add')
    .description('add a user, or replace the secret and roles of an existing one')
    .argument('<name>', 'the user name')
    .option('--roles <list>', `comma-separated admin roles: ${roles.join(', ')} (default: none)`)
    .option('--new-secret-file <file>', 'the new user\'s secret: the first line of this file (- for standard input, one-shot only)')
    .action((name: string, o: { roles?: string; newSecretFile?: string }, c: Command) => host.run(c, (ctx) => addUser(ctx, name, o)));
  user
    .command('remove')
    .description('remove a user (its sessions go on until they end; new ones are refused)')
    .argument('<name>', 'the user name')
    .action((name: string, _o: unknown, c: Command) => host.run(c, (ctx) => removeUser(ctx, name)));
  user
    .command('list')
    .description('the users and their admin roles')
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => listUsers(ctx)));

  // The common options (--json; one-shot: --endpoints, --timeout-ms, --user, --secret-file) go after each command's own.
  for (const c of [...created, ...user.commands]) host.commonOptions(c);
}

/** The admin API's roles (docs/operations.md). */
export const roles = ['admin', 'membership', 'leadership', 'snapshots', 'users'] as const;

/** `admin,users` → the list; an unknown role is a usage error. */
export function parseRoles(text: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  const list = [...new Set(text.split(',').map((r) => r.trim()))];
  for (const role of list) {
    if (!(roles as readonly string[]).includes(role)) throw new CliError(`--roles: unknown role ${JSON.stringify(role)} (roles: ${roles.join(', ')})`, exitCodes.usage, 'USAGE');
  }
  return list;
}

async function getAcl(ctx: CommandContext, path: string): Promise<void> {
  const client = await ctx.client();
  const { acl, stat } = await client.getAcl(path, { signal: ctx.signal });
  emit(ctx, { path, acl: acl.map((e) => ({ ...e, text: aclEntryText(e) })), stat }, () => [...acl.map(aclEntryText), ctx.palette.dim(`aversion ${stat.aversion}`)]);
}

async function setAcl(ctx: CommandContext, path: string, text: string, o: { version?: number }): Promise<void> {
  const acl = parseAclText(text);
  const client = await ctx.client();
  const stat = await client.setAcl(path, acl, { ...(o.version === undefined ? {} : { version: o.version }), signal: ctx.signal });
  emit(ctx, { path, stat }, () => [`set the ACL of ${path} (aversion ${stat.aversion}): ${acl.map(aclEntryText).join(',')}`]);
}

async function whoami(ctx: CommandContext): Promise<void> {
  const client = await ctx.client();
  const identity = await client.whoami({ signal: ctx.signal });
  emit(ctx, identity, () => renderTable(['', ''], [
    ['user', identity.user ?? '(anonymous)'],
    ['superuser', identity.superuser ? 'yes' : 'no'],
    ['roles', identity.superuser ? 'all' : identity.roles.length === 0 ? '(none)' : identity.roles.join(', ')],
    ['address', identity.address],
  ]).slice(1));
}

async function addUser(ctx: CommandContext, name: string, o: { roles?: string; newSecretFile?: string }): Promise<void> {
  const list = parseRoles(o.roles);
  if (o.newSecretFile === undefined) {
    throw new CliError('user add needs the new user\'s secret: --new-secret-file <file> (its first line; - reads standard input)', exitCodes.usage, 'USAGE');
  }
  const secret = o.newSecretFile === '-'
    ? await newSecretFromStdin(ctx)
    : await readSecretFile(o.newSecretFile);
  const { base } = await findLeader(ctx.endpoints, httpCallOf(ctx));
  const body = await httpJson<{ name: string; created: boolean }>(
    `${base}/admin/users/${encodeURIComponent(name)}`,
    { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret, roles: list }) },
    httpCallOf(ctx),
  );
  const rolesText = list.length === 0 ? 'no roles' : `roles ${list.join(', ')}`;
  emit(ctx, { name, created: body.created, roles: list }, () => [`${body.created ? 'added' : 'updated'} user ${name} (${rolesText})`]);
}

async function newSecretFromStdin(ctx: CommandContext): Promise<string> {
  if (ctx.mode === 'shell') throw new CliError('a secret from standard input (-) is for one-shot use; in the shell give a file', exitCodes.usage, 'USAGE');
  return secretOf(await ctx.readStdin(4096), 'standard input');
}

async function removeUser(ctx: CommandContext, name: string): Promise<void> {
  const { base } = await findLeader(ctx.endpoints, httpCallOf(ctx));
  await httpJson<object>(`${base}/admin/users/${encodeURIComponent(name)}`, { method: 'DELETE' }, httpCallOf(ctx));
  emit(ctx, { name, removed: true }, () => [`removed user ${name}`]);
}

async function listUsers(ctx: CommandContext): Promise<void> {
  const { base } = await findLeader(ctx.endpoints, httpCallOf(ctx));
  const body = await httpJson<{ users: { name: string; roles: string[] }[] }>(`${base}/admin/users`, {}, httpCallOf(ctx));
  emit(ctx, body, () => renderTable(['NAME', 'ROLES'], body.users.map((u) => [u.name, u.roles.length === 0 ? '-' : u.roles.join(',')])));
}

