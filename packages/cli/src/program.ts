import { Command, CommanderError } from 'commander';
import type { NodeConfig } from '@vigil/server';
import { ExitWith } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { oneShotHost } from './commands/command-host.js';
import { secretEnv, userEnv } from './commands/credentials.js';
import { endpointsEnv } from './commands/endpoints.js';
import { registerHashSecretCommand } from './commands/hash-secret-command.js';
import { addHelpCommand } from './commands/help-command.js';
import { registerCommands } from './commands/register-commands.js';
import { exitCodeMeanings, exitCodes } from './exit-codes.js';
import { describeFailure } from './failure.js';
import { serverFlagsHelp, type ServerSettingsApi } from './server-help.js';
import { registerShellCommand } from './shell/shell-command.js';
import { registerCertsCommand } from './certs/certs-command.js';


function rootHelpAfter(): string {
  const codes = exitCodeMeanings.map(([code, meaning]) => `  ${String(code).padStart(3)}  ${meaning}`);
  return [
    '',
    'Every cluster command also works in the shell; one-shot, each takes --endpoints, --timeout-ms, --user, --secret-file and --json.',
    '',
    'Exit status:',
    ...codes,
    '',
    'Environment:',
    `  ${endpointsEnv}  default endpoints (else ws://127.0.0.1:8181-8183, the npm start cluster)`,
    `  ${userEnv}       default --user`,
    `  ${secretEnv}     the secret of --user (unless --secret-file)`,
    '  NO_COLOR         no colours even on a terminal',
    '  VIGIL_HISTORY    the shell\'s history file (default ~/.vigil_history; empty: none)',
    '',
    'vigil help <command> shows a command\'s flags; docs/cli.md is the manual.',
  ].join('\n');
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('vigil')
    .description('Vigil: a Raft-replicated coordination service')
    .usage('<command> [flags] [arguments]')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => write(`vigil: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride()
    .showHelpAfterError('(vigil --help lists the commands)')
    .addHelpText('after', rootHelpAfter())
    // Options of the program, so that they may come before or after any command's name.
    .option('--ca <file>', 'TLS: the CA (PEM) the servers\' certificates must chain to; endpoints become wss:// and admin calls https://')
    .option('--cert <file>', 'TLS: a client certificate (PEM) to present, with --key')
    .option('--key <file>', 'TLS: the private key (PEM) of --cert');

  program
    .command('server')
    .description('start a node (settings from flags, VIGIL_* env or a config file; vigil server --help lists them)')
    .usage('[settings]')
    // loadConfig parses and validates the settings itself, so its messages name flag, env or
    // file key alike; commander only routes and prints help.
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption('-h, --help', 'show this help')
    // The settings table lives in @vigil/server, loaded (runCli) only when a command needs it.
    .addHelpText('after', () => (serverApi === undefined ? '' : `\n${serverFlagsHelp(serverApi)}`))
    .action(async (_options: unknown, command: Command) => {
      const { loadConfig, isServerError } = await import('@vigil/server/start');
      let config: NodeConfig;
      try {
        config = loadConfig({ argv: command.args, env: io.env });
      } catch (err) {
        if (isServerError(err) && err.code === 'CONFIG_INVALID') {
          io.stderr(`vigil: ${err.message}\n`);
          throw new ExitWith(exitCodes.usage);
        }
        throw err;
      }
      throw new ExitWith(await io.runServer(config));
    });

  registerShellCommand(program, io);
  registerCommands(program, oneShotHost(io));
  registerHashSecretCommand(program, io);
  registerCertsCommand(program, io);
  addHelpCommand(program);
  return program;
}

/** @vigil/server/start, once loaded: only the server's own commands pay for it. */
let serverApi: ServerSettingsApi | undefined;

/** Runs the CLI on `argv` (without `node` and the script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  if (argv[0] === 'server' || (argv[0] === 'help' && argv[1] === 'server')) serverApi = await import('@vigil/server/start');
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCodes.ok;
  } catch (err) {
    if (err instanceof ExitWith) return err.exitCode;
    // Help exits 0; every other commander error is a usage error, already printed.
    if (err instanceof CommanderError) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    const failure = describeFailure(err);
    if (argv.includes('--json')) {
      io.stderr(`${JSON.stringify({ error: { code: failure.code, message: failure.message, ...(failure.path === undefined ? {} : { path: failure.path }), exitCode: failure.exitCode } })}\n`);
    } else {
      io.stderr(`vigil: ${failure.message}\n`);
    }
    // A bug keeps its stack; operational failures are one line.
    if (failure.unexpected && err instanceof Error && err.stack !== undefined) io.stderr(`${err.stack}\n`);
    return failure.exitCode;
  }
}
