/**
 * A member's TLS credentials: its certificate and key and the cluster's CA, read from the three
 * PEM files of `--tls-cert`, `--tls-key` and `--tls-ca`, checked, and re-read when the files
 * change (docs/operations.md, TLS). Servers that follow the credentials get the new pair through
 * `setSecureContext` (connections already up keep theirs); dials made afterwards present it.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createSecureContext, TLSSocket, type SecureContext, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Socket } from 'node:net';
import { ServerError } from '../errors.js';
import type { Logger } from '../node/logger.js';

export interface TlsFilePaths {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

/** The three files' contents, checked: they parse, and the key belongs to the certificate. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** The certificate's serial number (hex, as OpenSSL prints it), for the logs. */
  readonly serialNumber: string;
  /** When the certificate expires (its notAfter, as OpenSSL prints it). */
  readonly validTo: string;
}

/** How often the files' mtime and size are polled. */
export const tlsFilesPollMs = 1_000;
/** A PEM file larger than this is not a certificate, a key or a CA bundle. */
export const tlsFileBytesMax = 1024 * 1024;

/**
 * The `extendedKeyUsage` OID of server certificates. `vigil certs` gives it to member
 * certificates only, so the peer port can tell a member from a client holding a certificate of
 * the same CA (decision 53).
 */
export const serverAuthOid = '1.3.6.1.5.5.7.3.1';

/**
 * The subject CN of the certificate a client presented on this socket, if it verified against
 * the cluster's CA (`tlsCa`); null for a plain socket, a client without a certificate, or one
 * whose certificate did not verify. The client port asks for a certificate but lets clients
 * without one in: what a name is allowed is for the caller to decide.
 */
export function verifiedClientName(socket: Socket): string | null {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return null;
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : null;
}

/** Whether the peer's verified certificate is a member's (it may act as a TLS server). */
export function isMemberCertificate(socket: TLSSocket): boolean {
  if (!socket.authorized) return false;
  const usage: unknown = socket.getPeerCertificate().ext_key_usage;
  return Array.isArray(usage) && usage.includes(serverAuthOid);
}

/** Reads and checks the three files; throws `CONFIG_INVALID` naming the file and the fault. */
export function readTlsMaterial(paths: TlsFilePaths): TlsMaterial {
  const read = (what: string, path: string): Buffer => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      throw new ServerError('CONFIG_INVALID', `TLS ${what} ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (bytes.byteLength > tlsFileBytesMax) throw new ServerError('CONFIG_INVALID', `TLS ${what} ${path}: larger than ${tlsFileBytesMax} bytes`);
    return bytes;
  };
  const cert = read('certificate', paths.cert);
  const key = read('key', paths.key);
  const ca = read('CA', paths.ca);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw new ServerError('CONFIG_INVALID', `TLS certificate ${paths.cert}: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    if (!certificate.checkPrivateKey(createPrivateKey(key))) {
      throw new ServerError('CONFIG_INVALID', `TLS key ${paths.key} does not belong to the certificate ${paths.cert}`);
    }
  } catch (err) {
    if (err instanceof ServerError) throw err;
    throw new ServerError('CONFIG_INVALID', `TLS key ${paths.key}: not a PEM private key (${(err as Error).message})`);
  }
  try {
    new X509Certificate(ca);
  } catch (err) {
    throw new ServerError('CONFIG_INVALID', `TLS CA ${paths.ca}: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new ServerError('CONFIG_INVALID', `TLS files ${paths.cert}, ${paths.key}, ${paths.ca}: ${(err as Error).message}`);
  }
  return { cert, key, ca, serialNumber: certificate.serialNumber, validTo: certificate.validTo };
}

/**
 * The credentials in use, and the servers that follow them. `watch()` polls the files; a change
 * is read once the files have been still for one more poll (a cert and its key are seldom
 * replaced in the same instant), then applied, or logged and ignored if the new files do not
 * make a valid pair: the old credentials stay. `close()` stops the polling (idempotent).
 */
export class TlsCredentials {
  #material: TlsMaterial;
  #clientContext: SecureContext;
  readonly #servers = new Set<TlsServer>();
  readonly #log: Logger;
  #watching = false;
  #settleTimer: NodeJS.Timeout | null = null;
  readonly #onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    if (this.#settleTimer !== null) clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = null;
      this.reload();
    }, tlsFilesPollMs);
    this.#settleTimer.unref();
  };

  constructor(
    readonly paths: TlsFilePaths,
    logger: Logger,
  ) {
    this.#material = readTlsMaterial(paths);
    this.#clientContext = createSecureContext(this.contextOptions());
    this.#log = logger.child({ component: 'tls' });
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** The certificate, key and CA in use, as `tls.createServer` and `setSecureContext` take them. */
  contextOptions(): SecureContextOptions {
    const { cert, key, ca } = this.#material;
    return { cert, key, ca };
  }

  /** A context with the credentials in use, for dials (rebuilt only when they change). */
  clientContext(): SecureContext {
    return this.#clientContext;
  }

  /** The server presents the credentials in use from now on, and the new ones after a change. */
  follow(server: TlsServer): void {
    this.#servers.add(server);
    server.once('close', () => this.#servers.delete(server));
  }

  /** Starts polling the three files (every `tlsFilesPollMs`, without keeping the process alive). */
  watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    for (const path of this.#files()) watchFile(path, { interval: tlsFilesPollMs, persistent: false }, this.#onChange);
  }

  /** Reads the files again; applies them if they are valid, else logs why and keeps the old ones. */
  reload(): boolean {
    let material: TlsMaterial;
    try {
      material = readTlsMaterial(this.paths);
    } catch (err) {
      this.#log.error({ err, files: this.paths }, 'TLS files changed but are not usable; the previous certificate stays in use');
      return false;
    }
    const previous = this.#material.serialNumber;
    this.#material = material;
    this.#clientContext = createSecureContext(this.contextOptions());
    for (const server of this.#servers) server.setSecureContext(this.contextOptions());
    this.#log.info({ serialNumber: material.serialNumber, previous, validTo: material.validTo }, 'TLS certificate reloaded');
    return true;
  }

  close(): void {
    if (this.#settleTimer !== null) clearTimeout(this.#settleTimer);
    this.#settleTimer = null;
    if (!this.#watching) return;
    this.#watching = false;
    for (const path of this.#files()) unwatchFile(path, this.#onChange);
  }

  #files(): string[] {
    return [...new Set([this.paths.cert, this.paths.key, this.paths.ca])];
  }
}
