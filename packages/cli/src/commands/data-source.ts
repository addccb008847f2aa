import { open } from 'node:fs/promises';
import { dataBytesMax } from '@vigil/protocol';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { formatBytes } from '../format/data-text.js';
import type { CommandContext } from './command-context.js';

const utf8 = new TextEncoder();

/**
 * The data argument of `set` and `create`, as curl reads it: `@file` is the file's bytes, `-` is
 * standard input, `@@text` is the text `@text`, anything else is the text itself (UTF-8). No
 * argument is empty data. At most `dataBytesMax` (1 MiB), checked before anything is sent.
 */
export async function readData(ctx: CommandContext, arg: string | undefined): Promise<Uint8Array> {
  if (arg === undefined) return new Uint8Array(0);
  let data: Uint8Array;
  if (arg === '-') {
    if (ctx.mode === 'shell') throw new CliError('data from standard input (-) is for one-shot use; in the shell use @file or text', exitCodes.usage, 'USAGE');
    data = await ctx.readStdin(dataBytesMax + 1);
  } else if (arg.startsWith('@@')) {
    data = utf8.encode(arg.slice(1));
  } else if (arg.startsWith('@')) {
    data = await readFileBounded(arg.slice(1), dataBytesMax + 1);
  } else {
    data = utf8.encode(arg);
  }
  if (data.length > dataBytesMax) {
    throw new CliError(`data is over ${formatBytes(dataBytesMax)}, the most a znode holds`, exitCodes.usage, 'USAGE');
  }
  return data;
}

async function readFileBounded(path: string, maxBytes: number): Promise<Uint8Array> {
  if (path.length === 0) throw new CliError('@ needs a file name (@@ stands for a literal @)', exitCodes.usage, 'USAGE');
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CliError(code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${(err as Error).message}`, exitCodes.usage, 'USAGE');
  }
  try {
    const buffer = Buffer.allocUnsafe(maxBytes);
    let length = 0;
    while (length < maxBytes) {
      const { bytesRead } = await file.read(buffer, length, maxBytes - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

/** Reads a stream to its end, or until it has more than `maxBytes` (then stops reading). */
export async function readStreamBounded(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(b);
    length += b.length;
    if (length >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes);
}
