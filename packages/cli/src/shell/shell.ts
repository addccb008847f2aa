import { clearLine, createInterface, cursorTo } from 'node:readline';
import { Command, CommanderError } from 'commander';
import type { ConnectionState, TlsOptions, VigilClient } from '@vigil/client';
import { ExitWith } from '../cli-error.js';
import type { CliStreams, InterruptSource } from '../cli-io.js';
import type { CommandContext, CommandHost, CommandOutput } from '../commands/command-context.js';
import type { Credentials } from '../commands/credentials.js';
import { commandPath } from '../commands/command-host.js';
import { addHelpCommand } from '../commands/help-command.js';
import { registerCommands } from '../commands/register-commands.js';
import { exitCodes } from '../exit-codes.js';
import { describeFailure } from '../failure.js';
import { colorsWanted, createPalette, type Palette } from '../format/palette.js';
import { noProgress, progressBar } from '../format/progress-bar.js';
import { sessionIdText } from '../format/stat-text.js';
import { completeLine } from './completion.js';
import { historyLinesMax, historyWriter, loadHistory } from './history-file.js';
import { splitLine } from './split-line.js';

export interface ShellOptions {
  readonly client: VigilClient;
  readonly streams: CliStreams;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** SIGINT delivered to the process (scripted input; a terminal's Ctrl-C comes as a key). */
  readonly interrupts?: InterruptSource;
  readonly endpoints: readonly string[];
  /** The shell's `--user` and secret (null: anonymous), for admin commands' HTTP requests. */
  readonly credentials: Credentials | null;
  /** `--ca`, `--cert`, `--key`, for admin HTTP (the session already has them). */
  readonly tls?: TlsOptions | null;
  readonly timeoutMs: number;
  /** Where history persists; null for none. Used on a terminal only. */
  readonly historyPath: string | null;
}

/** Lines typed ahead (or piped in) waiting for the running command; input pauses beyond this. */
const queuedLinesMax = 64;
/** Tab completion of a path waits this long for the cluster's listing. */
const completionTimeoutMs = 2_000;

/**
 * The interactive shell: a readline REPL over one session. On a terminal it has a prompt with the
 * connection state and member, persistent history, Tab completion of commands, flags and paths,
 * and colours (unless NO_COLOR). Commands run one at a time in the order typed; Ctrl-C cancels
 * the running one (its AbortSignal) and returns to the prompt, Ctrl-D or `quit` leaves.
 *
 * With piped input it runs the lines as a script: no prompt, results on stdout, errors and notices
 * on stderr, and it exits with the status of the last command, as `sh` does.
 */
export async function runShell(options: ShellOptions): Promise<number> {
  const { client, streams } = options;
  const input = streams.stdin;
  const output = streams.stdout;
  const terminal = input.isTTY === true && output.isTTY === true;
  const palette = createPalette(colorsWanted(output.isTTY, options.env));
  const history = terminal && options.historyPath !== null ? historyWriter(options.historyPath) : undefined;

  let running: AbortController | null = null;
  let quitting = false;
  let inputEnded = false;
  let status: number = exitCodes.ok;
  const queue: string[] = [];
  let paused = false;
  let pumping = false;

  const rl = createInterface({
    input,
    output,
    terminal,
    history: terminal && options.historyPath !== null ? await loadHistory(options.historyPath) : [],
    historySize: historyLinesMax,
    removeHistoryDuplicates: true,
    prompt: promptText(client, palette),
    ...(terminal ? { completer: (line: string, callback: (err: null, result: [string[], string]) => void) => void complete(line).then((r) => callback(null, r)) } : {}),
  });

  const write = (text: string): void => void output.write(text);
  /** Results: stdout. Notices and errors: the terminal, or stderr when the input is a script. */
  const notice = (text: string): void => void (terminal ? output : streams.stderr).write(`${text}\n`);
  /** News that arrives while the prompt waits: printed above it, the typed line kept. */
  const printAbove = (text: string): void => {
    if (terminal && running === null && !quitting) {
      clearLine(output, 0);
      cursorTo(output, 0);
      write(`${text}\n`);
      rl.prompt(true);
    } else {
      write(`${text}\n`);
    }
  };

  const out: CommandOutput = {
    line: (text) => write(`${text}\n`),
    bytes: (data) => void output.write(data),
    note: notice,
    later: printAbove,
  };
  const host: CommandHost = {
    mode: 'shell',
    commonOptions: (command) =>
      command.option('--json', 'JSON output, one document per line').showHelpAfterError(`(help ${commandPath(command)} shows its usage)`),
    run: async (command, action) => {
      const ctx: CommandContext = {
        mode: 'shell',
        json: command.opts<{ json?: true }>().json === true,
        out,
        palette,
        signal: running?.signal ?? new AbortController().signal,
        timeoutMs: options.timeoutMs,
        endpoints: options.endpoints,
        credentials: options.credentials,
        tls: options.tls ?? null,
        env: options.env,
        client: async () => client,
        readStdin: () => Promise.reject(new Error('standard input is the shell\'s')),
        progress: (label, totalBytes) => (output.isTTY === true ? progressBar({ write, label, totalBytes }) : noProgress),
      };
      await action(ctx);
    },
  };
  const program = (): Command => shellProgram(host, palette, { out: write, err: (text) => notice(text.trimEnd()) }, () => (quitting = true));
  const catalogue = program();

  async function complete(line: string): Promise<[string[], string]> {
    try {
      return await completeLine(line, {
        program: catalogue,
        listChildren: async (path) => (await client.children(path, { timeoutMs: completionTimeoutMs, consistency: 'sequential' })).names,
      });
    } catch {
      return [[], ''];
    }
  }

  async function runLine(line: string): Promise<void> {
    const { words, openQuote } = splitLine(line);
    if (openQuote) {
      notice(palette.red('unterminated quote'));
      status = exitCodes.usage;
      return;
    }
    if (words.length === 0) return;
    const controller = new AbortController();
    running = controller;
    try {
      await program().parseAsync(words, { from: 'user' });
      status = exitCodes.ok;
    } catch (err) {
      status = report(err);
    } finally {
      running = null;
    }
  }

  function report(err: unknown): number {
    if (err instanceof ExitWith) return err.exitCode;
    // Commander printed its message (or the help) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
    const failure = describeFailure(err);
    if (failure.exitCode === exitCodes.interrupted) {
      notice(palette.dim('cancelled'));
      return failure.exitCode;
    }
    notice(palette.red(failure.unexpected ? `internal error: ${failure.message}` : failure.message));
    if (failure.unexpected && options.env.VIGIL_DEBUG !== undefined && err instanceof Error) notice(err.stack ?? '');
    return failure.exitCode;
  }

  const onInterrupt = (): void => {
    if (running !== null) {
      if (terminal) write('^C\n');
      running.abort();
      return;
    }
    if (terminal) {
      // Like a shell: Ctrl-C at the prompt drops the typed line (readline redraws the prompt);
      // on an empty line it says how to leave.
      write('^C\n');
      if (rl.line.length > 0) {
        rl.write(null, { ctrl: true, name: 'e' });
        rl.write(null, { ctrl: true, name: 'u' });
      } else {
        notice(palette.dim('(Ctrl-D or quit leaves the shell)'));
        rl.prompt();
      }
      return;
    }
    quitting = true;
    status = exitCodes.interrupted;
    rl.close();
  };

  const done = new Promise<void>((resolve) => {
    const pump = async (): Promise<void> => {
      if (pumping) return;
      pumping = true;
      try {
        while (!quitting && queue.length > 0) {
          await runLine(queue.shift()!);
          if (paused && queue.length < queuedLinesMax / 4) {
            paused = false;
            rl.resume();
          }
        }
      } finally {
        pumping = false;
      }
      if (quitting || inputEnded) resolve();
      else if (terminal) rl.prompt();
    };
    rl.on('line', (line) => {
      queue.push(line);
      if (queue.length >= queuedLinesMax && !paused) {
        paused = true;
        rl.pause();
      }
      void pump();
    });
    rl.on('close', () => {
      inputEnded = true;
      // Ctrl-D on a terminal leaves now; the end of a script lets its last lines run.
      if (terminal && !quitting) {
        quitting = true;
        running?.abort();
        write('\n');
      }
      void pump();
    });
  });

  rl.on('SIGINT', onInterrupt);
  options.interrupts?.on('SIGINT', onInterrupt);
  rl.on('history', (lines: string[]) => history?.save(lines));
  const unsubscribe = client.on('state', (state) => {
    rl.setPrompt(promptText(client, palette));
    if (terminal) printAbove(palette.dim(`(connection ${state}${client.serverId === 0 ? '' : `: member ${client.serverId}`})`));
  });

  if (terminal) {
    write(`${palette.bold('vigil shell')}: member ${client.serverId}, session ${sessionIdText(client.sessionId)}${options.credentials === null ? '' : ` as ${options.credentials.user}`}, timeout ${client.sessionTimeoutMs} ms. ${palette.dim('help lists the commands; Tab completes; Ctrl-C cancels; Ctrl-D leaves.')}\n`);
    rl.prompt();
  }
  try {
    await done;
  } finally {
    unsubscribe();
    options.interrupts?.off('SIGINT', onInterrupt);
    rl.close();
    await history?.flush();
  }
  return status;
}

function promptText(client: VigilClient, palette: Palette): string {
  const state: ConnectionState = client.state;
  const colour = state === 'connected' || state === 'reconnected' ? palette.green : state === 'suspended' ? palette.yellow : palette.red;
  const member = client.serverId === 0 ? '' : `member ${client.serverId} · `;
  return `${palette.bold('vigil')} [${member}${colour(state)}]> `;
}

/** The commands as the shell knows them: the one-shot ones minus the process-level ones, plus quit. */
function shellProgram(host: CommandHost, palette: Palette, print: { out: (text: string) => void; err: (text: string) => void }, quit: () => void): Command {
  const program = new Command('vigil')
    .usage('<command> [flags] [arguments]')
    .configureOutput({
      writeOut: print.out,
      writeErr: print.err,
      outputError: (text, write) => write(palette.red(text.replace(/^error: /, ''))),
    })
    .exitOverride()
    .addHelpText('after', '\nTab completes commands, flags and paths; Ctrl-C cancels the running command; Ctrl-D or quit leaves.\ndocs/cli.md is the manual.');
  registerCommands(program, host);
  addHelpCommand(program);
  program.command('quit').alias('exit').description('leave the shell (Ctrl-D does too)').action(quit);
  return program;
}
