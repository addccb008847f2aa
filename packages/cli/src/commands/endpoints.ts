import { CliError } from '../cli-error.js';
import { exitCodes } from '../exit-codes.js';

/** The cluster `npm start` runs: what the shell and every command talk to unless told otherwise. */
export const defaultEndpoints: readonly string[] = ['ws://127.0.0.1:8181', 'ws://127.0.0.1:8182', 'ws://127.0.0.1:8183'];
export const endpointsEnv = 'VIGIL_ENDPOINTS';
/** More endpoints than any cluster has members is a mistake (the SDK's own bound). */
const endpointsMax = 64;

/**
 * `--endpoints`, else VIGIL_ENDPOINTS, else the local cluster. A list separated by commas or
 * spaces of `ws://host:port`, `wss://host:port/path` or `host:port`.
 */
export function resolveEndpoints(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string[] {
  const text = flag ?? (env[endpointsEnv] === '' ? undefined : env[endpointsEnv]);
  if (text === undefined) return [...defaultEndpoints];
  const list = text.split(/[\s,]+/).filter((e) => e.length > 0);
  const source = flag === undefined ? endpointsEnv : '--endpoints';
  if (list.length === 0) throw new CliError(`${source}: no endpoint given`, exitCodes.usage, 'USAGE');
  if (list.length > endpointsMax) throw new CliError(`${source}: at most ${endpointsMax} endpoints`, exitCodes.usage, 'USAGE');
  for (const e of list) httpBaseOf(e, source);
  return list;
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
