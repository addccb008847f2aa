import type { Command } from 'commander';
import { ExitWith, CliError } from '../cli-error.js';
import type { CliIo } from '../cli-io.js';
import { defaultTimeoutMs, endpointsOptionHelp } from '../commands/command-host.js';
import { connectClient } from '../commands/connect-client.js';
import { resolveCredentials, secretFileOptionHelp, userOptionHelp } from '../commands/credentials.js';
import { resolveEndpoints } from '../commands/endpoints.js';
import { timeoutMs } from '../commands/option-values.js';
import { readTlsFlags, type TlsFlags } from '../commands/tls-flags.js';
import { exitCodes } from '../exit-codes.js';
import { historyEnv, historyFileName, historyPath } from './history-file.js';
import { runShell } from './shell.js';

/** `vigil shell`: connect, run the REPL until quit, close the session, exit with its status. */
export function registerShellCommand(program: Command, io: CliIo): void {
  program
    .command('shell')
    .description('interactive shell: history, Tab completion of commands, flags and paths, watches; the commands below, one session')
    .option('--endpoints <list>', endpointsOptionHelp())
    .option('--timeout-ms <ms>', 'deadline of connecting and of each request', timeoutMs, defaultTimeoutMs)
    .option('--user <name>', userOptionHelp)
    .option('--secret-file <file>', secretFileOptionHelp)
    .addHelpText('after', `\nHistory: ~/${historyFileName} (env ${historyEnv}: another file, or empty for none). Colours only on a terminal, never with NO_COLOR.`)
    .action(async (_o: unknown, command: Command) => {
      const o = command.optsWithGlobals<{ endpoints?: string; timeoutMs: number; user?: string; secretFile?: string } & TlsFlags>();
      const streams = io.streams;
      if (streams === undefined) throw new CliError('the shell needs standard input and output', exitCodes.failure, 'FAILED');
      const tls = readTlsFlags(o);
      const endpoints = resolveEndpoints(o.endpoints, io.env, tls !== null);
      const credentials = await resolveCredentials(o, io.env);
      const controller = new AbortController();
      const interrupt = (): void => controller.abort();
      io.interrupts?.on('SIGINT', interrupt);
      let client;
      try {
        client = await connectClient(endpoints, { timeoutMs: o.timeoutMs, signal: controller.signal, credentials, tls });
      } finally {
        io.interrupts?.off('SIGINT', interrupt);
      }
      let status: number;
      try {
        status = await runShell({
          client,
          streams,
          env: io.env,
          ...(io.interrupts === undefined ? {} : { interrupts: io.interrupts }),
          endpoints,
          credentials,
          tls,
          timeoutMs: o.timeoutMs,
          historyPath: historyPath(io.env, io.homeDir),
        });
      } finally {
        await client.close();
      }
      throw new ExitWith(status);
    });
}
