import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { Readable } from 'node:stream';
import type { Pem, TlsOptions } from '@vigil/client';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';

/** `--ca`, `--cert`, `--key`: options of the program, so every command and the shell take them. */
export interface TlsFlags {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A PEM file larger than this is not a certificate, a key or a CA bundle. */
const pemFileBytesMax = 1024 * 1024;

/** The files' contents as the SDK takes them, or null without any of the flags (plain ws:// and http://). */
export function readTlsFlags(flags: TlsFlags): TlsOptions | null {
  if (flags.ca === undefined && flags.cert === undefined && flags.key === undefined) return null;
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new CliError('--cert and --key go together (a client certificate and its key)', exitCodes.usage, 'USAGE');
  }
  const read = (flag: string, path: string | undefined): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      const bytes = readFileSync(path);
      if (bytes.byteLength > pemFileBytesMax) throw new CliError(`${flag} ${path}: larger than ${pemFileBytesMax} bytes`, exitCodes.usage, 'USAGE');
      return bytes;
    } catch (err) {
      if (err instanceof CliError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(`${flag} ${path}: cannot be read (${code === 'ENOENT' ? 'no such file' : (code ?? String(err))})`, exitCodes.usage, 'USAGE');
    }
  };
  const ca = read('--ca', flags.ca);
  const cert = read('--cert', flags.cert);
  const key = read('--key', flags.key);
  return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
}

/**
 * `fetch` over HTTPS with the CLI's CA and client certificate, which the global fetch cannot take
 * without undici's own Agent. Fails like fetch: a TypeError whose `cause` is the socket's error,
 * or the signal's reason.
 */
export function fetchWithTls(url: string, init: RequestInit, tls: TlsOptions): Promise<Response> {
  return new Promise((resolve, reject) => {
    const signal = init.signal ?? undefined;
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const headers = init.headers === undefined ? {} : Object.fromEntries(new Headers(init.headers));
    const pem = (value: Pem | undefined): string | Buffer | undefined =>
      value === undefined || typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const options = { method: init.method ?? 'GET', headers, ca: pem(tls.ca), cert: pem(tls.cert), key: pem(tls.key), ...(tls.servername === undefined ? {} : { servername: tls.servername }) };
    const req = request(url, options, (res) => {
      const status = res.statusCode ?? 0;
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
      }
      const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }));
    });
    const onAbort = (): void => {
      req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal?.removeEventListener('abort', onAbort));
    req.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    if (typeof init.body === 'string') req.end(init.body);
    else req.end();
  });
}
