import type { Command } from 'commander';
import { VigilError, type CreateMode, type PersistentWatchEvent, type Stat, type WatchEvent } from '@vigil/client';
import { CliError, ExitWith } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { aclTextHelp, parseAclText } from '../format/acl-text.js';
import { dataAsText, hexDump } from '../format/data-text.js';
import type { Palette } from '../format/palette.js';
import { isoTime, sessionIdText, statLines } from '../format/stat-text.js';
import { renderTable } from '../format/table.js';
import { emit, type CommandContext, type CommandHost } from './command-context.js';
import { readData } from './data-source.js';
import { integerIn, version } from './option-values.js';
import { forEachLimited, preOrder, walkConcurrencyMax, walkNodesMax, walkTree, type TreeNode } from './tree-walk.js';

/**
 * The znode commands of docs/design.md, shared by the shell and one-shot use: the same parser,
 * help and output in both. Each is a thin layer on one or a few SDK calls, every call taking the
 * command's AbortSignal (Ctrl-C).
 */
export function registerZnodeCommands(program: Command, host: CommandHost): void {
  // The common options (--json; one-shot: --endpoints, --timeout-ms) go after each command's own.
  const created: Command[] = [];
  const command = (name: string, summary: string): Command => {
    const c = program.command(name).description(summary);
    created.push(c);
    return c;
  };

  command('ls', 'list the children of a node')
    .argument('[path]', 'the node', '/')
    .option('-R, --recursive', 'every node below, as full paths (parents first)')
    .option('-s, --stat', 'with each node\'s version, data length, children, owner and mtime')
    .option('-w, --watch', 'then watch the children once (the shell prints the event when it comes; one-shot use waits for it)')
    .action((path: string, o: { recursive?: true; stat?: true; watch?: true }, c: Command) => host.run(c, (ctx) => ls(ctx, path, o)));

  command('tree', 'draw the subtree of a node')
    .argument('[path]', 'the node', '/')
    .option('--depth <n>', 'levels below the node to show (default: all)', integerIn(0, 10_000))
    .action((path: string, o: { depth?: number }, c: Command) => host.run(c, (ctx) => tree(ctx, path, o)));

  command('get', 'print a node\'s data: text when it is UTF-8 text, else a hex dump')
    .argument('<path>', 'the node')
    .option('-s, --stat', 'also print the stat')
    .option('-w, --watch', 'then watch the node once (the shell prints the event when it comes; one-shot use waits for it)')
    .option('--raw', 'write the data bytes as they are (no newline, no stat)')
    .action((path: string, o: { stat?: true; watch?: true; raw?: true }, c: Command) => host.run(c, (ctx) => get(ctx, path, o)));

  command('set', 'replace a node\'s data')
    .argument('<path>', 'the node')
    .argument('<data>', 'text, @file for a file\'s bytes, - for standard input, @@text for text that starts with @')
    .option('-v, --version <version>', 'only if the node is at this version (compare-and-set)', version)
    .action((path: string, data: string, o: { version?: number }, c: Command) => host.run(c, (ctx) => set(ctx, path, data, o)));

  command('create', 'create a node')
    .argument('<path>', 'the node; with -s a 10-digit counter is appended')
    .argument('[data]', 'text, @file, - (standard input) or @@text; default empty')
    .option('-e, --ephemeral', 'deleted when this session ends')
    .option('-s, --sequential', 'append a counter that grows with each creation under the parent')
    .option('-c, --container', 'deleted by the server once its last child is gone')
    .option('-t, --ttl-ms <ms>', 'deleted when not modified for this long and without children', integerIn(1, 2 ** 40))
    .option('-p, --parents', 'create missing ancestors (as persistent nodes, with the same ACL)')
    .option('--acl <acl>', `the node's ACL, ${aclTextHelp}; default: open without --auth, else the creator's alone`)
    .action((path: string, data: string | undefined, o: CreateFlags, c: Command) => host.run(c, (ctx) => create(ctx, path, data, o)));

  command('delete', 'delete a node without children')
    .argument('<path>', 'the node')
    .option('-v, --version <version>', 'only if the node is at this version', version)
    .action((path: string, o: { version?: number }, c: Command) => host.run(c, (ctx) => del(ctx, path, o)));

  command('deleteall', 'delete a node and everything below it (/ keeps the root)')
    .argument('<path>', 'the node')
    .action((path: string, _o: unknown, c: Command) => host.run(c, (ctx) => deleteAll(ctx, path)));

  command('stat', 'print a node\'s stat')
    .argument('<path>', 'the node')
    .action((path: string, _o: unknown, c: Command) => host.run(c, (ctx) => stat(ctx, path)));

  command('exists', `say whether a node exists (exit status ${exitCodes.noNode} when it does not)`)
    .argument('<path>', 'the node')
    .action((path: string, _o: unknown, c: Command) => host.run(c, (ctx) => exists(ctx, path)));

  command('sync', 'wait until the connected member has applied everything the leader committed')
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => sync(ctx)));

  command('watch', 'print the changes of a node (and with -R of every node below) until Ctrl-C')
    .argument('<path>', 'the node')
    .option('-R, --recursive', 'also every node below (created, deleted, dataChanged)')
    .option('--count <n>', 'stop after this many events', integerIn(1, Number.MAX_SAFE_INTEGER))
    .action((path: string, o: { recursive?: true; count?: number }, c: Command) => host.run(c, (ctx) => watch(ctx, path, o)));

  command('session', 'print the session: id, negotiated timeout, state, connected member')
    .action((_o: unknown, c: Command) => host.run(c, (ctx) => session(ctx)));

  for (const c of created) host.commonOptions(c);
}

interface CreateFlags {
  ephemeral?: true;
  sequential?: true;
  container?: true;
  ttlMs?: number;
  parents?: true;
  acl?: string;
}

// ---- one-shot watches (ls -w, get -w) ------------------------------------------------------------

interface OneShotWatch {
  readonly listener: (event: WatchEvent) => void;
  /** Shell: returns at once (the event is printed when it comes). One-shot use: waits for it. */
  settle(): Promise<void>;
}

function oneShotWatch(ctx: CommandContext, path: string): OneShotWatch {
  if (ctx.mode === 'shell') {
    return {
      listener: (event) => ctx.out.later(ctx.json ? JSON.stringify({ event }) : `event: ${eventText(event, ctx.palette)}`),
      settle: async () => {
        if (!ctx.json) ctx.out.note(ctx.palette.dim(`(watching ${path} once; the event is printed when it comes)`));
      },
    };
  }
  let fire: (event: WatchEvent) => void = () => undefined;
  const fired = new Promise<WatchEvent>((resolve) => (fire = resolve));
  return {
    listener: (event) => fire(event),
    settle: async () => {
      if (!ctx.json) ctx.out.note(`watching ${path} once; Ctrl-C stops`);
      const event = await untilAborted(fired, ctx.signal);
      emit(ctx, { event }, () => [`event: ${eventText(event, ctx.palette)}`]);
    },
  };
}

/** Resolves with `promise`, or rejects CANCELLED when the signal aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new VigilError('CANCELLED'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new VigilError('CANCELLED'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

export function eventText(event: PersistentWatchEvent, palette: Palette): string {
  if (event.kind === 'historyCompacted') {
    return `${palette.yellow('historyCompacted')} ${event.path}: events up to revision ${event.floor} may be missing; re-read`;
  }
  const kind = event.kind === 'deleted' ? palette.red(event.kind) : event.kind === 'created' ? palette.green(event.kind) : palette.cyan(event.kind);
  return `${kind} ${event.path} ${palette.dim(`(revision ${event.revision})`)}`;
}

// ---- the commands ------------------------------------------------------------------------------

function statRows(nodes: readonly { label: string; stat: Stat }[]): string[] {
  return renderTable(
    ['NAME', 'VERSION', 'BYTES', 'CHILDREN', 'OWNER', 'MTIME'],
    nodes.map(({ label, stat: s }) => [
      label,
      String(s.version),
      String(s.dataLength),
      String(s.numChildren),
      s.ephemeralOwner === 0 ? '-' : sessionIdText(s.ephemeralOwner),
      isoTime(s.mtime),
    ]),
  );
}

async function ls(ctx: CommandContext, path: string, o: { recursive?: true; stat?: true; watch?: true }): Promise<void> {
  const client = await ctx.client();
  const w = o.watch === true ? oneShotWatch(ctx, path) : undefined;
  if (o.recursive === true) {
    if (w !== undefined) await client.children(path, { watch: w.listener, signal: ctx.signal });
    const walk = await walkTree(client, path, { signal: ctx.signal });
    const nodes = [...preOrder(walk.root)];
    emit(
      ctx,
      { path, nodes: o.stat === true ? nodes.map((n) => ({ path: n.path, stat: n.stat })) : nodes.map((n) => n.path), truncated: walk.truncated },
      () => (o.stat === true ? statRows(nodes.map((n) => ({ label: n.path, stat: n.stat }))) : nodes.map((n) => n.path)),
    );
    if (walk.truncated) ctx.out.note(`(stopped after ${walkNodesMax} nodes)`);
  } else {
    const listing = await client.children(path, { ...(o.stat === true ? { withStats: true } : {}), ...(w === undefined ? {} : { watch: w.listener }), signal: ctx.signal });
    const stats = listing.stats ?? [];
    emit(
      ctx,
      { path, children: o.stat === true ? listing.names.map((name, i) => ({ name, stat: stats[i] })) : listing.names },
      () => (o.stat === true ? (listing.names.length === 0 ? [] : statRows(listing.names.map((name, i) => ({ label: name, stat: stats[i]! })))) : listing.names),
    );
  }
  await w?.settle();
}

async function tree(ctx: CommandContext, path: string, o: { depth?: number }): Promise<void> {
  const client = await ctx.client();
  const walk = await walkTree(client, path, { signal: ctx.signal, ...(o.depth === undefined ? {} : { depthMax: o.depth }) });
  const json = (n: TreeNode): unknown => ({ name: n.name, path: n.path, children: n.children.map(json) });
  emit(ctx, { ...(json(walk.root) as object), truncated: walk.truncated }, () => {
    const lines = [ctx.palette.bold(walk.root.path)];
    const draw = (node: TreeNode, indent: string): void => {
      node.children.forEach((child, i) => {
        const last = i === node.children.length - 1;
        // A node whose children were not listed (depth limit) says how many it has.
        const hidden = child.children.length === 0 && child.stat.numChildren > 0 ? ctx.palette.dim(` (${child.stat.numChildren} more below)`) : '';
        lines.push(`${indent}${last ? '└── ' : '├── '}${child.name}${hidden}`);
        draw(child, `${indent}${last ? '    ' : '│   '}`);
      });
    };
    draw(walk.root, '');
    return lines;
  });
  if (walk.truncated && o.depth === undefined) ctx.out.note(`(stopped after ${walkNodesMax} nodes)`);
}

async function get(ctx: CommandContext, path: string, o: { stat?: true; watch?: true; raw?: true }): Promise<void> {
  if (o.raw === true && (o.stat === true || ctx.json)) throw new CliError('--raw writes the bytes alone: it goes with neither -s nor --json', exitCodes.usage, 'USAGE');
  const client = await ctx.client();
  const w = o.watch === true ? oneShotWatch(ctx, path) : undefined;
  const { data, stat: s } = await client.get(path, { ...(w === undefined ? {} : { watch: w.listener }), signal: ctx.signal });
  if (o.raw === true) {
    ctx.out.bytes(data);
  } else {
    const text = dataAsText(data);
    const encoding = text === null ? 'base64' : 'utf8';
    emit(ctx, { path, data: text ?? Buffer.from(data).toString('base64'), encoding, stat: s }, () => {
      const lines: string[] = [];
      if (data.length > 0) lines.push(text === null ? hexDump(data) : text.endsWith('\n') ? text.slice(0, -1) : text);
      if (o.stat === true) lines.push(...(lines.length > 0 ? [''] : []), ...statLines(s));
      return lines;
    });
  }
  await w?.settle();
}

async function set(ctx: CommandContext, path: string, dataArg: string, o: { version?: number }): Promise<void> {
  const data = await readData(ctx, dataArg);
  const client = await ctx.client();
  const s = await client.set(path, data, { ...(o.version === undefined ? {} : { version: o.version }), signal: ctx.signal });
  emit(ctx, { path, stat: s }, () => [`set ${path} (version ${s.version})`]);
}

function createMode(o: CreateFlags): CreateMode {
  if (o.container === true && (o.ephemeral === true || o.sequential === true || o.ttlMs !== undefined)) {
    throw new CliError('-c (container) goes with none of -e, -s, -t', exitCodes.usage, 'USAGE');
  }
  if (o.ephemeral === true && o.ttlMs !== undefined) throw new CliError('-e (ephemeral) and -t (TTL) exclude each other', exitCodes.usage, 'USAGE');
  if (o.ttlMs !== undefined) return o.sequential === true ? 'persistent-sequential-ttl' : 'ttl';
  if (o.ephemeral === true) return o.sequential === true ? 'ephemeral-sequential' : 'ephemeral';
  if (o.container === true) return 'container';
  return o.sequential === true ? 'persistent-sequential' : 'persistent';
}

async function create(ctx: CommandContext, path: string, dataArg: string | undefined, o: CreateFlags): Promise<void> {
  const mode = createMode(o);
  const acl = o.acl === undefined ? undefined : parseAclText(o.acl);
  const data = await readData(ctx, dataArg);
  const client = await ctx.client();
  const created = await client.create(path, data, {
    mode,
    ...(o.ttlMs === undefined ? {} : { ttlMs: o.ttlMs }),
    ...(o.parents === true ? { createParents: true } : {}),
    ...(acl === undefined ? {} : { acl }),
    signal: ctx.signal,
  });
  emit(ctx, { path: created.path, stat: created.stat }, () => [`created ${created.path}`]);
  if (ctx.mode === 'oneShot' && mode.startsWith('ephemeral')) ctx.out.note('note: an ephemeral node ends with its session, which ends as this command exits; use the shell to keep one');
}

async function del(ctx: CommandContext, path: string, o: { version?: number }): Promise<void> {
  const client = await ctx.client();
  await client.delete(path, { ...(o.version === undefined ? {} : { version: o.version }), signal: ctx.signal });
  emit(ctx, { path, deleted: 1 }, () => [`deleted ${path}`]);
}

async function deleteAll(ctx: CommandContext, path: string): Promise<void> {
  const client = await ctx.client();
  const walk = await walkTree(client, path, { signal: ctx.signal });
  if (walk.truncated) {
    throw new CliError(`${path} has more than ${walkNodesMax} nodes below it: delete its subtrees one by one`, exitCodes.failure, 'TOO_LARGE', path);
  }
  // Deepest level first; the nodes of one level in parallel (a bounded number at a time).
  const levels: TreeNode[][] = [];
  const collect = (node: TreeNode, depth: number): void => {
    (levels[depth] ??= []).push(node);
    for (const child of node.children) collect(child, depth + 1);
  };
  collect(walk.root, 0);
  if (path === '/') levels.shift();
  let deleted = 0;
  for (const level of levels.reverse()) {
    await forEachLimited(level, walkConcurrencyMax, async (node) => {
      try {
        await client.delete(node.path, { signal: ctx.signal });
        deleted++;
      } catch (err) {
        // Deleted by someone else meanwhile: the goal is reached all the same.
        if (!(err instanceof VigilError && err.code === 'NO_NODE')) throw err;
      }
    });
  }
  emit(ctx, { path, deleted }, () => [`deleted ${deleted} node${deleted === 1 ? '' : 's'}${path === '/' ? ' (the root stays)' : ''}`]);
}

async function stat(ctx: CommandContext, path: string): Promise<void> {
  const client = await ctx.client();
  const s = await client.exists(path, { signal: ctx.signal });
  if (s === null) throw new VigilError('NO_NODE', 'the node does not exist', { path });
  emit(ctx, { path, stat: s }, () => statLines(s));
}

async function exists(ctx: CommandContext, path: string): Promise<void> {
  const client = await ctx.client();
  const s = await client.exists(path, { signal: ctx.signal });
  emit(ctx, s === null ? { path, exists: false } : { path, exists: true, stat: s }, () => [s === null ? `${path} does not exist` : `${path} exists`]);
  if (s === null) throw new ExitWith(exitCodes.noNode);
}

async function sync(ctx: CommandContext): Promise<void> {
  const client = await ctx.client();
  await client.sync({ signal: ctx.signal });
  emit(ctx, { serverId: client.serverId, revision: client.lastRevision }, () => [
    `member ${client.serverId} has applied everything committed (revision ${client.lastRevision})`,
  ]);
}

async function watch(ctx: CommandContext, path: string, o: { recursive?: true; count?: number }): Promise<void> {
  const client = await ctx.client();
  const stream = client.watch(path, { ...(o.recursive === true ? { recursive: true } : {}), signal: ctx.signal });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      stream.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new VigilError('TIMEOUT', `the server did not register the watch within ${ctx.timeoutMs} ms`)), ctx.timeoutMs);
      }),
    ]);
  } catch (err) {
    stream.close();
    if (ctx.signal.aborted) return;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  ctx.out.note(ctx.palette.dim(`watching ${path}${o.recursive === true ? ' and every node below' : ''}; Ctrl-C stops`));
  let seen = 0;
  // The stream ends when Ctrl-C aborts the signal: for `watch`, that is the normal way out.
  for await (const event of stream) {
    emit(ctx, event, () => [eventText(event, ctx.palette)]);
    if (o.count !== undefined && ++seen >= o.count) break;
  }
  stream.close();
}

async function session(ctx: CommandContext): Promise<void> {
  const client = await ctx.client();
  const info = {
    sessionId: client.sessionId,
    sessionTimeoutMs: client.sessionTimeoutMs,
    state: client.state,
    serverId: client.serverId,
    lastRevision: client.lastRevision,
  };
  emit(ctx, info, () => renderTable(['', ''], [
    ['session', sessionIdText(info.sessionId)],
    ['timeout', `${info.sessionTimeoutMs} ms (negotiated)`],
    ['state', info.state],
    ['member', info.serverId === 0 ? '(none)' : String(info.serverId)],
    ['revision', `${info.lastRevision} (the highest seen)`],
  ]).slice(1));
}
