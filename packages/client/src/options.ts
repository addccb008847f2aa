/**
 * What `connect()` accepts, its defaults, and the checks made before any socket is opened. A bad
 * option is an operational failure of the caller (BAD_ARGUMENTS), not a bug of the SDK.
 */
import { VigilError, authSecretBytesMax, userNameBytesMax, webSocketPath, type HelloAuth } from '@vigil/protocol';
import { parseNamespace } from './paths.js';

export interface ConnectOptions {
  /** Server endpoints: `'ws://127.0.0.1:8181'`, `'wss://…'`, or `'host:port'` (ws:// implied). */
  readonly endpoints: readonly string[];
  /** Requested session timeout; the server negotiates it (default 10_000). */
  readonly sessionTimeoutMs?: number;
  /** A chroot like ZooKeeper's (`'/app'`): every path is relative to it; results and events have it stripped. */
  readonly namespace?: string;
  /** Default deadline of every call (default 10_000). */
  readonly requestTimeoutMs?: number;
  /** How long `connect()` may take to open a first session (default 10_000). */
  readonly connectTimeoutMs?: number;
  /** Reconnect delays: exponential with full jitter between 0 and min(maxMs, baseMs·2^attempt) (default 50..2000). */
  readonly reconnectBackoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** After 'expired', open a fresh session and emit 'connected' (default true). */
  readonly reopenAfterExpiry?: boolean;
  /** How long `close()` waits for the server to confirm the end of the session (default 2_000). */
  readonly closeTimeoutMs?: number;
  /** Who the client acts as, sent in every hello; a refusal (AUTH_FAILED) ends the client (docs/client.md §1). */
  readonly auth?: { readonly user: string; readonly secret: string };
  /**
   * TLS for `wss://` endpoints (Node, through the `ws` package): whom to trust and which
   * certificate to present. With it, `host:port` endpoints mean `wss://`; a `ws://` one is refused.
   */
  readonly tls?: TlsOptions;
}

/** PEM text or bytes (a Buffer is fine). */
export type Pem = string | Uint8Array;

export interface TlsOptions {
  /** The CA certificate(s) the server's certificate must chain to (default: Node's bundled roots). */
  readonly ca?: Pem;
  /** A client certificate to present, and its private key: both or neither. */
  readonly cert?: Pem;
  readonly key?: Pem;
  /** The name the server's certificate must be valid for (default: the endpoint's host). */
  readonly servername?: string;
}

/** The options with every default filled in and every endpoint as a URL. */
export interface ResolvedOptions {
  readonly endpoints: readonly string[];
  readonly sessionTimeoutMs: number;
  readonly namespace: string;
  readonly requestTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  readonly reopenAfterExpiry: boolean;
  readonly closeTimeoutMs: number;
  /** null: anonymous. */
  readonly auth: HelloAuth | null;
  readonly tls: TlsOptions | null;
}

export const defaultSessionTimeoutMs = 10_000;
export const defaultRequestTimeoutMs = 10_000;
export const defaultConnectTimeoutMs = 10_000;
export const defaultBackoffBaseMs = 50;
export const defaultBackoffMaxMs = 2_000;
export const defaultCloseTimeoutMs = 2_000;
/** More endpoints than any cluster has members; a longer list is a mistake of the caller. */
export const endpointsMax = 64;

/**
 * Checks and normalises an endpoint list (connect's `endpoints`, `client.setEndpoints`). With
 * `tls`, every endpoint is `wss://` (`host:port` included).
 */
export function resolveEndpoints(endpoints: readonly string[], tls: TlsOptions | null = null): string[] {
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    throw new VigilError('BAD_ARGUMENTS', 'endpoints: at least one endpoint is required');
  }
  if (endpoints.length > endpointsMax) {
    throw new VigilError('BAD_ARGUMENTS', `endpoints: at most ${endpointsMax}`);
  }
  return endpoints.map((endpoint) => {
    const url = endpointUrl(endpoint, tls === null ? 'ws' : 'wss');
    if (tls !== null && url.startsWith('ws:')) {
      throw new VigilError('BAD_ARGUMENTS', `endpoint ${JSON.stringify(endpoint)} is ws:// but tls is given: use wss://`);
    }
    return url;
  });
}

export function resolveOptions(options: ConnectOptions): ResolvedOptions {
  const tls = resolveTls(options.tls);
  const endpoints = resolveEndpoints(options.endpoints, tls);
  const backoffBaseMs = positive('reconnectBackoff.baseMs', options.reconnectBackoff?.baseMs, defaultBackoffBaseMs);
  const backoffMaxMs = positive('reconnectBackoff.maxMs', options.reconnectBackoff?.maxMs, defaultBackoffMaxMs);
  if (backoffMaxMs < backoffBaseMs) throw new VigilError('BAD_ARGUMENTS', 'reconnectBackoff: maxMs is below baseMs');
  return {
    endpoints,
    sessionTimeoutMs: positive('sessionTimeoutMs', options.sessionTimeoutMs, defaultSessionTimeoutMs),
    namespace: parseNamespace(options.namespace ?? ''),
    requestTimeoutMs: positive('requestTimeoutMs', options.requestTimeoutMs, defaultRequestTimeoutMs),
    connectTimeoutMs: positive('connectTimeoutMs', options.connectTimeoutMs, defaultConnectTimeoutMs),
    backoffBaseMs,
    backoffMaxMs,
    reopenAfterExpiry: options.reopenAfterExpiry ?? true,
    closeTimeoutMs: positive('closeTimeoutMs', options.closeTimeoutMs, defaultCloseTimeoutMs),
    auth: resolveAuth(options.auth),
    tls,
  };
}

function resolveTls(tls: TlsOptions | undefined): TlsOptions | null {
  if (tls === undefined) return null;
  if (typeof tls !== 'object' || tls === null) throw new VigilError('BAD_ARGUMENTS', 'tls: an object { ca?, cert?, key?, servername? }');
  for (const name of ['ca', 'cert', 'key'] as const) {
    const value: unknown = tls[name];
    if (value !== undefined && typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new VigilError('BAD_ARGUMENTS', `tls.${name}: PEM as a string or bytes`);
    }
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new VigilError('BAD_ARGUMENTS', 'tls: cert and key go together');
  if (tls.servername !== undefined && (typeof tls.servername !== 'string' || tls.servername === '')) {
    throw new VigilError('BAD_ARGUMENTS', 'tls.servername: a host name');
  }
  return tls;
}

/** `'host:port'` → `'ws://host:port/'` (`wss://` with TLS); a URL without a path gets the protocol's path. */
export function endpointUrl(endpoint: string, scheme: 'ws' | 'wss' = 'ws'): string {
  const hasScheme = /^wss?:\/\//i.test(endpoint);
  const text = hasScheme ? endpoint : `${scheme}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new VigilError('BAD_ARGUMENTS', `endpoint ${JSON.stringify(endpoint)} is not ws://host:port or host:port`);
  }
  // Without a scheme there is no default port to fall back on: 'host' alone is a mistake.
  if (!hasScheme && url.port === '') {
    throw new VigilError('BAD_ARGUMENTS', `endpoint ${JSON.stringify(endpoint)} has no port`);
  }
  if (url.pathname === '' || url.pathname === '/') url.pathname = webSocketPath;
  return url.toString();
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new VigilError('BAD_ARGUMENTS', `${name}: a positive integer of ms, not ${String(value)}`);
  return value;
}

/** The credentials as the hello carries them, checked against the protocol's bounds. */
function resolveAuth(auth: ConnectOptions['auth']): HelloAuth | null {
  if (auth === undefined) return null;
  const { user, secret } = auth;
  if (typeof user !== 'string' || user === '' || byteLength(user) > userNameBytesMax) {
    throw new VigilError('BAD_ARGUMENTS', `auth.user: a non-empty name of at most ${userNameBytesMax} bytes`);
  }
  if (typeof secret !== 'string' || byteLength(secret) > authSecretBytesMax) {
    throw new VigilError('BAD_ARGUMENTS', `auth.secret: a string of at most ${authSecretBytesMax} bytes`);
  }
  return { user, secret };
}

function byteLength(text: string): number {
  return new TextEncoder().encode(text).byteLength;
}
