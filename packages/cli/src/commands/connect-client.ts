import { connect, isVigilError, VigilError, type TlsOptions, type VigilClient } from '@vigil/client';
import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';
import { authHint } from '../failure.js';
import type { Credentials } from './credentials.js';

/**
 * Opens a session with one of the endpoints within `timeoutMs`. Ctrl-C (the signal) gives up at
 * once; a session that opens after that is closed again. Failures name the endpoints tried.
 */
export async function connectClient(
  endpoints: readonly string[],
  options: { timeoutMs: number; signal: AbortSignal; credentials: Credentials | null; tls: TlsOptions | null },
): Promise<VigilClient> {
  if (options.signal.aborted) throw new VigilError('CANCELLED');
  const auth = options.credentials === null ? {} : { auth: options.credentials };
  const opening = connect({ endpoints, connectTimeoutMs: options.timeoutMs, requestTimeoutMs: options.timeoutMs, ...auth, ...(options.tls === null ? {} : { tls: options.tls }) });
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new VigilError('CANCELLED'));
    options.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([opening, aborted]);
  } catch (err) {
    if (options.signal.aborted) {
      void opening.then((c) => c.close(), () => undefined);
      throw new VigilError('CANCELLED');
    }
    if (isVigilError(err) && err.code !== 'BAD_ARGUMENTS') {
      const reason = err.message.startsWith(`${err.code}: `) ? err.message.slice(err.code.length + 2) : err.message;
      if (err.code === 'AUTH_FAILED') {
        const who = options.credentials === null ? 'no credentials were given and the cluster requires them' : `as ${options.credentials.user}: ${reason}`;
        throw new CliError(`authentication failed at ${endpoints.join(', ')}: ${who} (${authHint})`, exitCodes.authFailed, err.code);
      }
      throw new CliError(`cannot connect to ${endpoints.join(', ')}: ${reason}`, exitCodes.unavailable, err.code);
    }
    throw err;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
}
