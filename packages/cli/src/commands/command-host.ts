import type { Command } from 'commander';
import type { VigilClient } from '@vigil/client';
import { CliError } from '../cli-error.js';
import type { CliIo } from '../cli-io.js';
import { exitCodes } from '../exit-codes.js';
import { colorsWanted, createPalette } from '../format/palette.js';
import { noProgress, progressBar } from '../format/progress-bar.js';
import type { CommandContext, CommandHost, CommandOutput } from './command-context.js';
import { connectClient } from './connect-client.js';
import { resolveCredentials, secretFileOptionHelp, userOptionHelp } from './credentials.js';
import { readStreamBounded } from './data-source.js';
import { endpointsEnv, resolveEndpoints } from './endpoints.js';
import { timeoutMs } from './option-values.js';
import { readTlsFlags, type TlsFlags } from './tls-flags.js';

export const defaultTimeoutMs = 10_000;

/** `snapshot save` → "snapshot save", for help hints. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c !== null && c.parent !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

export function endpointsOptionHelp(): string {
  return `client endpoints, comma-separated ws://host:port or host:port (env ${endpointsEnv}; default: the npm start cluster, ws://127.0.0.1:8181-8183)`;
}

/**
 * One-shot use (`vigil get /a --endpoints …`): each command gets `--endpoints`, `--timeout-ms`
 * and `--json`, opens its own session on first use and closes it when done, and Ctrl-C (SIGINT)
 * cancels it.
 */
export function oneShotHost(io: CliIo): CommandHost {
  const palette = createPalette(colorsWanted(io.streams?.stdout.isTTY, io.env));
  const out: CommandOutput = {
    line: (text) => io.stdout(`${text}\n`),
    bytes: (data) => (io.stdoutBytes === undefined ? io.stdout(Buffer.from(data).toString('utf8')) : io.stdoutBytes(data)),
    note: (text) => io.stderr(`${text}\n`),
    later: (text) => io.stdout(`${text}\n`),
  };
  return {
    mode: 'oneShot',
    commonOptions: (command) =>
      command
        .option('--endpoints <list>', endpointsOptionHelp())
        .option('--timeout-ms <ms>', 'deadline of connecting and of each request', timeoutMs, defaultTimeoutMs)
        .option('--user <name>', userOptionHelp)
        .option('--secret-file <file>', secretFileOptionHelp)
        .option('--json', 'JSON output, one document per line (errors too, on stderr)')
        .showHelpAfterError(`(vigil help ${commandPath(command)} shows its usage)`),
    run: async (command, action) => {
      const o = command.optsWithGlobals<{ endpoints?: string; timeoutMs?: number; json?: true; user?: string; secretFile?: string } & TlsFlags>();
      const tls = readTlsFlags(o);
      const endpoints = resolveEndpoints(o.endpoints, io.env, tls !== null);
      const credentials = await resolveCredentials(o, io.env);
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      io.interrupts?.on('SIGINT', interrupt);
      let client: Promise<VigilClient> | undefined;
      const ctx: CommandContext = {
        mode: 'oneShot',
        json: o.json === true,
        out,
        palette,
        signal: controller.signal,
        timeoutMs: o.timeoutMs ?? defaultTimeoutMs,
        endpoints,
        credentials,
        tls,
        env: io.env,
        client: () => (client ??= connectClient(endpoints, { timeoutMs: o.timeoutMs ?? defaultTimeoutMs, signal: controller.signal, credentials, tls })),
        readStdin: async (maxBytes) => {
          if (io.streams === undefined) throw new CliError('no standard input to read data from', exitCodes.usage, 'USAGE');
          return readStreamBounded(io.streams.stdin, maxBytes);
        },
        progress: (label, totalBytes) =>
          io.streams?.stderr.isTTY === true ? progressBar({ write: io.stderr, label, totalBytes }) : noProgress,
      };
      try {
        await action(ctx);
      } finally {
        io.interrupts?.off('SIGINT', interrupt);
        const opened = await client?.catch(() => undefined);
        await opened?.close();
      }
    },
  };
}
