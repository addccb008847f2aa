/**
 * Certificates for a test cluster (`vigil certs`): a CA, one certificate per member (with the
 * hosts it may be reached at as subject alternative names) and client certificates whose subject
 * CN is the client's name. Node has no API that makes X.509 certificates, so node-forge (pure
 * JavaScript, no install scripts) builds them; the RSA keys come from Node's crypto through it.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import forge from 'node-forge';

/** A certificate and its private key, PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** What a certificate is for: a member is a TLS server and a client (peers dial each other). */
export type CertificateRole = 'member' | 'client';

export interface CertificateOptions {
  readonly commonName: string;
  readonly role: CertificateRole;
  /** Host names and IP addresses the member is dialed at (members only). */
  readonly hosts?: readonly string[];
  readonly validDays?: number;
}

export const certificateValidDaysDefault = 365;
export const caValidDaysDefault = 3_650;
/** More members than a cluster has, or clients than a test needs, is a typo. */
export const certificatesMax = 256;
const rsaKeyBits = 2048;
/** Clocks of the machines that check the certificates may run behind this one's. */
const backdateMs = 60 * 60 * 1000;

/** A new self-signed CA. */
export function makeCertificateAuthority(options: { commonName?: string; validDays?: number } = {}): PemPair {
  const keys = forge.pki.rsa.generateKeyPair({ bits: rsaKeyBits });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  setValidity(cert, options.validDays ?? caValidDaysDefault);
  const subject = [{ name: 'commonName', value: options.commonName ?? 'Vigil test CA' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/**
 * A certificate signed by `ca`. Members get serverAuth and clientAuth (the peer port refuses a
 * certificate without serverAuth, so a client's cannot pass for a member's) and their hosts as
 * subject alternative names; clients get clientAuth only.
 */
export function makeCertificate(ca: PemPair, options: CertificateOptions): PemPair {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = forge.pki.rsa.generateKeyPair({ bits: rsaKeyBits });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  setValidity(cert, options.validDays ?? certificateValidDaysDefault);
  cert.setSubject([{ name: 'commonName', value: options.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const member = options.role === 'member';
  const hosts = options.hosts ?? [];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: member, clientAuth: true },
    ...(member && hosts.length > 0
      ? [{ name: 'subjectAltName', altNames: hosts.map((host) => (isIP(host) === 0 ? { type: 2, value: host } : { type: 7, ip: host })) }]
      : []),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

export interface TestCertsOptions {
  /** The directory written (created if needed). A CA already there (`ca.pem`, `ca-key.pem`) signs the new certificates. */
  readonly out: string;
  readonly nodes: number;
  /** Every member certificate gets all of them as subject alternative names. */
  readonly hosts: readonly string[];
  readonly clients: readonly string[];
  readonly validDays?: number;
}

export interface TestCertsWritten {
  /** Every file written, in order. */
  readonly files: readonly string[];
  /** Whether the CA was made now (false: the one in `out` was used). */
  readonly madeCa: boolean;
}

/**
 * Writes `ca.pem` and `ca-key.pem` (unless a CA is there already), `node<i>.pem` and
 * `node<i>-key.pem` for i = 1…nodes, and `client-<name>.pem` / `client-<name>-key.pem`. Key files
 * are mode 0600. Existing member and client files are replaced: run it again for new
 * certificates from the same CA (a rotation).
 */
export async function writeTestCerts(options: TestCertsOptions): Promise<TestCertsWritten> {
  await mkdir(options.out, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, pair: PemPair): Promise<void> => {
    const certPath = join(options.out, `${name}.pem`);
    const keyPath = join(options.out, `${name}-key.pem`);
    // The key first, so that a node watching both never pairs the new certificate with the old key for long.
    await writeFile(keyPath, pair.key, { mode: 0o600 });
    await chmod(keyPath, 0o600);
    await writeFile(certPath, pair.cert);
    files.push(certPath, keyPath);
  };
  let ca = await readExistingCa(options.out);
  const madeCa = ca === null;
  if (ca === null) {
    ca = makeCertificateAuthority();
    await write('ca', ca);
  }
  const validity = options.validDays === undefined ? {} : { validDays: options.validDays };
  for (let i = 1; i <= options.nodes; i++) {
    await write(`node${i}`, makeCertificate(ca, { commonName: `node${i}`, role: 'member', hosts: options.hosts, ...validity }));
  }
  for (const name of options.clients) {
    await write(`client-${name}`, makeCertificate(ca, { commonName: name, role: 'client', ...validity }));
  }
  return { files, madeCa };
}

async function readExistingCa(dir: string): Promise<PemPair | null> {
  const read = (name: string): Promise<string | null> =>
    readFile(join(dir, name), 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    });
  const [cert, key] = await Promise.all([read('ca.pem'), read('ca-key.pem')]);
  return cert === null || key === null ? null : { cert, key };
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive, as DER integers of serials must be
  return bytes.toString('hex');
}

function setValidity(cert: forge.pki.Certificate, validDays: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - backdateMs);
  cert.validity.notAfter = new Date(now + validDays * 24 * 60 * 60 * 1000);
}
