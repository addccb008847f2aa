import { open, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import type { BackupHeader } from '@vigil/server';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { formatBytes } from '../format/data-text.js';
import { httpCallOf, findLeader, httpRequest, postJson, transportError } from './admin-http.js';
import { emit, type CommandContext, type CommandHost } from './command-context.js';

/**
 * Backups. `save` asks the leader for a snapshot (it covers every write acknowledged before the
 * command) and downloads it (`GET /admin/snapshot`); `restore` prepares a new member's data
 * directory from it, offline, with the settings the member will run with.
 */
export function registerSnapshotCommands(program: Command, host: CommandHost): void {
  const snapshot = program.command('snapshot').description('back up a running cluster, restore a backup into a new one');

  const save = snapshot
    .command('save')
    .description('take a snapshot on the leader and download it as a backup file')
    .argument('<file>', 'where to write the backup (replaced if it exists)')
    .action((file: string, _o: unknown, c: Command) => host.run(c, (ctx) => saveBackup(ctx, file)));
  host.commonOptions(save);

  if (host.mode === 'shell') return;
  snapshot
    .command('restore')
    .description('prepare a new member\'s empty data directory from a backup, offline; run it for every member of the new cluster, then start them')
    .argument('<file>', 'a backup written by snapshot save')
    .usage('<file> [--json] --id <n> --data-dir <dir> --client-listen <host:port> --peer-listen <host:port> --peers <id=host:port,…> [--cluster-id <name>] [--config <file>]')
    .addHelpText('after', '\nThe settings are those of vigil server (flags, VIGIL_* env, or --config): give the ones the member will be started with.\nThe cluster id defaults to the backup\'s.')
    // loadConfig parses the server's settings itself, with its own messages (as `vigil server` does).
    .allowUnknownOption()
    .allowExcessArguments()
    .action((file: string, _o: unknown, c: Command) => host.run(c, (ctx) => restore(ctx, file, c.args.slice(1))));
}

async function saveBackup(ctx: CommandContext, file: string): Promise<void> {
  const { backupHeaderBytesMax, decodeBackupHeader } = await import('@vigil/server');
  const { base, status } = await findLeader(ctx.endpoints, httpCallOf(ctx));
  const taken = await postJson<{ index: number }>(`${base}/admin/snapshot`, undefined, httpCallOf(ctx));

  // The download may be long: its deadline is for silence (no bytes for timeoutMs), not the total.
  const idle = new AbortController();
  const signal = AbortSignal.any([ctx.signal, idle.signal]);
  let timer = setTimeout(() => idle.abort(), ctx.timeoutMs);
  const call = { signal, timeoutMs: 2 ** 31 - 1, tls: ctx.tls };
  const url = `${base}/admin/snapshot`;
  const target = resolve(file);
  const partial = `${target}.partial`;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    const res = await httpRequest(url, {}, call);
    const totalBytes = Number(res.headers.get('content-length') ?? NaN);
    if (res.body === null || !Number.isSafeInteger(totalBytes)) throw new CliError(`${url}: no backup in the answer`, exitCodes.failure, 'FAILED');
    handle = await open(partial, 'w', 0o600).catch((err: NodeJS.ErrnoException) => {
      throw new CliError(`cannot write ${partial}: ${err.code === 'ENOENT' ? `no directory ${dirname(target)}` : err.message}`, exitCodes.failure, 'FAILED');
    });
    const progress = ctx.progress('saving backup', totalBytes);
    let received = 0;
    let head = Buffer.alloc(0);
    try {
      for await (const chunk of res.body) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), ctx.timeoutMs);
        const bytes = chunk as Uint8Array;
        if (head.length < backupHeaderBytesMax) head = Buffer.concat([head, bytes.subarray(0, backupHeaderBytesMax - head.length)]);
        await handle.write(bytes);
        received += bytes.length;
        progress.update(received);
      }
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (idle.signal.aborted && !ctx.signal.aborted) throw new CliError(`${new URL(url).host} sent nothing for ${ctx.timeoutMs} ms`, exitCodes.unavailable, 'TIMEOUT');
      throw transportError(url, err, call);
    } finally {
      progress.finish();
    }
    if (received !== totalBytes) throw new CliError(`the download ended after ${received} of ${totalBytes} bytes`, exitCodes.unavailable, 'CONNECTION_LOSS');
    const { header, headerBytes } = decodeBackupHeader(head);
    if (headerBytes + header.snapshotBytes !== received) throw new CliError('the backup\'s length does not match its header', exitCodes.failure, 'FAILED');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(partial, target);
    const result: BackupHeader & { file: string; bytes: number; requestedIndex: number } = { file, bytes: received, requestedIndex: taken.index, ...header };
    emit(ctx, result, () => [
      `saved ${file}: member ${status.id}'s snapshot of cluster ${header.clusterId} at index ${header.index} (term ${header.term}, ${formatBytes(received)})`,
    ]);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function restore(ctx: CommandContext, file: string, rawSettings: readonly string[]): Promise<void> {
  // --json arrives among the settings (commander hands everything after the file to loadConfig).
  const json = ctx.json || rawSettings.includes('--json');
  const settings = rawSettings.filter((a) => a !== '--json');
  const { loadConfig, restoreDataDir } = await import('@vigil/server');
  const header = await backupHeaderOf(file);
  // The cluster id defaults to the backup's (a restored cluster usually replaces the one backed
  // up), unless a flag, VIGIL_CLUSTER_ID or a config file says otherwise.
  const named = settings.some((a) => /^--(cluster-id|config)(=|$)/.test(a)) || ctx.env.VIGIL_CLUSTER_ID || ctx.env.VIGIL_CONFIG;
  const env = named ? ctx.env : { ...ctx.env, VIGIL_CLUSTER_ID: header.clusterId };
  const config = loadConfig({ argv: settings, env });
  const restored = await restoreDataDir({ backupPath: file, config });
  const voters = [...config.peers.keys()].sort((a, b) => a - b);
  const result = { dataDir: config.dataDir, memberId: config.id, clusterId: config.clusterId, voters, backup: restored.backup, sessions: restored.sessions };
  emit(json ? { ...ctx, json: true } : ctx, result, () => [
    `restored ${config.dataDir} as member ${config.id} of cluster ${config.clusterId} (voters ${voters.join(', ')})`,
    `  from member ${header.memberId}'s snapshot at index ${header.index}, term ${header.term}, taken ${header.takenAt}`,
    ...(restored.sessions > 0 ? [`  ${restored.sessions} session(s) in the backup expire a session timeout after the new cluster elects a leader; their ephemeral nodes go with them`] : []),
    '  restore every member of the new cluster from the same file with the same --peers, then start each with these settings',
  ]);
}

/** The header alone, to learn the backup's cluster id before the settings are read. */
async function backupHeaderOf(file: string): Promise<BackupHeader> {
  const { backupHeaderBytesMax, decodeBackupHeader } = await import('@vigil/server');
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${(err as Error).message}`, exitCodes.usage, 'USAGE');
  }
  try {
    const head = Buffer.alloc(backupHeaderBytesMax);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return decodeBackupHeader(head.subarray(0, bytesRead)).header;
  } finally {
    await handle.close();
  }
}
