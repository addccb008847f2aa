import { Command, CommanderError } from 'commander';
import { isServerError, loadConfig, type NodeConfig } from '@vigil/server';
import { serverFlagsHelp } from './server-help.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error. */
export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;

/** Everything the program touches outside itself, so tests can run it in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Runs a node until it is told to stop; resolves with the exit code. */
  readonly runServer: (config: NodeConfig) => Promise<number>;
}

/** Carries an exit code out of a commander action. */
class ExitWith extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('vigil')
    .description('Vigil: a Raft-replicated coordination service')
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      outputError: (text, write) => write(`vigil: ${text.replace(/^error: /, '')}`),
    })
    .exitOverride()
    .showHelpAfterError('(run vigil --help for usage)')
    .addHelpText('after', `\n${serverFlagsHelp('Settings of vigil server')}`);

  program
    .command('server')
    .description('start a node (settings from flags, VIGIL_* env or a config file)')
    .usage('[settings]')
    // loadConfig parses and validates the settings itself, so its messages name flag, env or
    // file key alike; commander only routes and prints help.
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', `\n${serverFlagsHelp()}`)
    .action(async (_options: unknown, command: Command) => {
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

  return program;
}

/** Runs the CLI on `argv` (without `node` and the script) and resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCodes.ok;
  } catch (err) {
    if (err instanceof ExitWith) return err.exitCode;
    // Help and version exit 0; every other commander error is a usage error, already printed.
    if (err instanceof CommanderError) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    io.stderr(`vigil: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!isServerError(err) && err instanceof Error && err.stack !== undefined) io.stderr(`${err.stack}\n`);
    return exitCodes.failure;
  }
}
