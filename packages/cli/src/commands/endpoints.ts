import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';

/** The cluster `npm start` runs: what the shell and every command talk to unless told otherwise. */
export const defaultEndpoints: readonly string[] = ['ws://127.0.0.1:8181', 'ws://127.0.0.1:8182', 'ws://127.0.0.1:8183'];
/** The same cluster with TLS on. */
export const defaultSecureEndpoints: readonly string[] = defaultEndpoints.map((e) => e.replace(/^ws:/, 'wss:'));
export const endpointsEnv = 'VIGIL_ENDPOINTS';
/** More endpoints than any cluster has members is a mistake (the SDK's own bound). */
const endpointsMax = 64;

/**
 * `--endpoints`, else VIGIL_ENDPOINTS, else the local cluster. A list separated by commas or
 * spaces of `ws://host:port`, `wss://host:port/path` or `host:port`. `secure` (`--ca`, `--cert`):
 * `host:port` means `wss://host:port`, and `ws://` is a mistake.
 */
export function resolveEndpoints(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, secure = false): string[] {
  const text = flag ?? (env[endpointsEnv] === '' ? undefined : env[endpointsEnv]);
  if (text === undefined) return [...(secure ? defaultSecureEndpoints : defaultEndpoints)];
  const list = text.split(/[\s,]+/).filter((e) => e.length > 0);
  const source = flag === undefined ? endpointsEnv : '--endpoints';
  if (list.length === 0) throw new CliError(`${source}: no endpoint given`, exitCodes.usage, 'USAGE');
  if (list.length > endpointsMax) throw new CliError(`${source}: at most ${endpointsMax} endpoints`, exitCodes.usage, 'USAGE');
  for (const e of list) httpBaseOf(e, source);
  if (!secure) return list;
  return list.map((e) => {
    if (/^ws:\/\//i.test(e)) throw new CliError(`${source}: ${JSON.stringify(e)} is ws:// but --ca/--cert ask for TLS: use wss://`, exitCodes.usage, 'USAGE');
    return /^wss:\/\//i.test(e) ? e : `wss://${e}`;
  });
}

/**
 * The admin HTTP API shares the client port: `ws://h:p/…` → `http://h:p`, `wss://` → `https://`,
 * `h:p` → `http://h:p`.
 */
export function httpBaseOf(endpoint: string, source = 'endpoint'): string {
  const withScheme = /^[a-z]+:\/\//i.test(endpoint) ? endpoint : `ws://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new CliError(`${source}: ${JSON.stringify(endpoint)} is not ws://host:port or host:port`, exitCodes.usage, 'USAGE');
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new CliError(`${source}: ${JSON.stringify(endpoint)} is not ws://host:port, wss://host:port or host:port`, exitCodes.usage, 'USAGE');
  }
  return `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}`;
}

/** `http://127.0.0.1:8181` → `127.0.0.1:8181`, for tables. */
export function hostOf(base: string): string {
  return base.replace(/^[a-z]+:\/\//, '');
}
