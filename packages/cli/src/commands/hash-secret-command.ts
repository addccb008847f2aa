import type { Command } from 'commander';
import { authSecretBytesMax } from '@vigil/protocol';
import { CliError } from '../cli-error.js';
import type { CliIo, CliStreams } from '../cli-io.js';
import { exitCodes } from '../exit-codes.js';
import { secretOf } from './credentials.js';
import { readStreamBounded } from './data-source.js';

/**
 * `vigil hash-secret`: the hash `vigil server --superuser-hash` takes, made from a secret read
 * from standard input (its first line), never from the command line. On a terminal it asks twice
 * without echo. Local: it talks to no cluster, so it is not a shell command.
 */
export function registerHashSecretCommand(program: Command, io: CliIo): void {
  program
    .command('hash-secret')
    .description('read a secret from standard input (its first line; on a terminal: typed twice, not shown) and print its hash for --superuser-hash')
    .action(async () => {
      const streams = io.streams;
      if (streams === undefined) throw new CliError('hash-secret reads the secret from standard input, and there is none', exitCodes.usage, 'USAGE');
      const stdin = streams.stdin;
      const secret = stdin.isTTY === true && isRawCapable(stdin)
        ? await typedTwice(stdin, streams.stderr)
        : secretOf(await readStreamBounded(streams.stdin, authSecretBytesMax + 2), 'standard input');
      const { hashSecret } = await import('@vigil/server');
      io.stdout(`${await hashSecret(secret)}\n`);
    });
}

type RawInput = CliStreams['stdin'] & { setRawMode(mode: boolean): unknown };

function isRawCapable(stdin: CliStreams['stdin']): stdin is RawInput {
  return typeof (stdin as { setRawMode?: unknown }).setRawMode === 'function';
}

async function typedTwice(stdin: RawInput, stderr: CliStreams['stderr']): Promise<string> {
  const first = await typedSecret(stdin, stderr, 'secret: ');
  const again = await typedSecret(stdin, stderr, 'again: ');
  if (first !== again) throw new CliError('the two secrets differ', exitCodes.usage, 'USAGE');
  return secretOf(Buffer.from(first), 'the terminal');
}

/** One line typed on the terminal, not echoed; Ctrl-C interrupts, Ctrl-D or Enter ends it. */
function typedSecret(stdin: RawInput, stderr: CliStreams['stderr'], prompt: string): Promise<string> {
  stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      stderr.write('\n');
    };
    const onData = (chunk: Buffer | string): void => {
      for (const char of chunk.toString()) {
        if (char === '\u0003') {
          done();
          reject(new CliError('interrupted', exitCodes.interrupted, 'CANCELLED'));
          return;
        }
        if (char === '\r' || char === '\n' || char === '\u0004') {
          done();
          resolve(typed);
          return;
        }
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (typed.length <= authSecretBytesMax) typed += char;
      }
    };
    stdin.on('data', onData);
  });
}
