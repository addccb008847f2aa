import { open } from 'node:fs/promises';
import { authSecretBytesMax, userNameBytesMax } from '@vigil/protocol';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';

/**
 * Who the CLI acts as on a cluster run with `--auth`: `--user` (or VIGIL_USER) with the secret
 * from `--secret-file` (its first line) or VIGIL_SECRET. Secrets never come from the command line,
 * where `ps` and shell history would show them. Used for the WebSocket hello and, as HTTP Basic
 * auth, for the admin API.
 */
export interface Credentials {
  readonly user: string;
  readonly secret: string;
}

export const userEnv = 'VIGIL_USER';
export const secretEnv = 'VIGIL_SECRET';

export const userOptionHelp = `act as this user (env ${userEnv}); the secret comes from --secret-file or env ${secretEnv}`;
export const secretFileOptionHelp = `a file whose first line is the secret of --user (else env ${secretEnv})`;

/** A secret file is one short line; a bigger file is not one. */
const secretFileBytesMax = authSecretBytesMax + 2;

export interface CredentialFlags {
  readonly user?: string | undefined;
  readonly secretFile?: string | undefined;
}

/** The credentials the flags and environment give, or null for anonymous; a half-given pair is a usage error. */
export async function resolveCredentials(flags: CredentialFlags, env: Readonly<Record<string, string | undefined>>): Promise<Credentials | null> {
  const user = flags.user ?? nonEmpty(env[userEnv]);
  if (user === undefined) {
    if (flags.secretFile !== undefined) throw usage('--secret-file goes with --user (or env VIGIL_USER)');
    return null;
  }
  const source = flags.user === undefined ? userEnv : '--user';
  if (new TextEncoder().encode(user).byteLength > userNameBytesMax) throw usage(`${source}: a user name has at most ${userNameBytesMax} bytes`);
  if (flags.secretFile !== undefined) return { user, secret: await readSecretFile(flags.secretFile) };
  const secret = env[secretEnv];
  if (secret === undefined || secret === '') throw usage(`${source} ${user} needs a secret: --secret-file <file> or env ${secretEnv}`);
  return { user, secret };
}

/** `Authorization` for the admin API. */
export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.user}:${credentials.secret}`, 'utf8').toString('base64')}`;
}

/**
 * The first line of a file (without its line ending): a secret. `-` reads standard input, when
 * there is one to read. Empty, missing or oversized: a usage error.
 */
export async function readSecretFile(path: string, stdin?: () => Promise<Uint8Array>): Promise<string> {
  let bytes: Uint8Array;
  if (path === '-') {
    if (stdin === undefined) throw usage('a secret from standard input (-) is for one-shot use');
    bytes = await stdin();
  } else {
    bytes = await readHead(path);
  }
  return secretOf(bytes, path === '-' ? 'standard input' : path);
}

/** The first line of `bytes` as a secret, checked. */
export function secretOf(bytes: Uint8Array, source: string): string {
  const text = Buffer.from(bytes).toString('utf8');
  const newline = text.search(/\r?\n/);
  if (newline < 0 && bytes.byteLength >= secretFileBytesMax) throw usage(`${source}: the secret's line is longer than ${authSecretBytesMax} bytes`);
  const secret = newline < 0 ? text : text.slice(0, newline);
  if (secret === '') throw usage(`${source}: the first line (the secret) is empty`);
  if (new TextEncoder().encode(secret).byteLength > authSecretBytesMax) throw usage(`${source}: a secret has at most ${authSecretBytesMax} bytes`);
  return secret;
}

async function readHead(path: string): Promise<Uint8Array> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw usage(code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    const buffer = Buffer.alloc(secretFileBytesMax);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await file.close();
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function usage(message: string): CliError {
  return new CliError(message, exitCodes.usage, 'USAGE');
}
