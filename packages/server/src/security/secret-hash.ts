import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * Secrets are kept only as scrypt hashes (node:crypto), in one text format that says how it was
 * made, so that the cost can be raised later without invalidating older hashes:
 *
 *   scrypt$<N>$<r>$<p>$<salt, base64>$<key, base64>
 *
 * N = 2^14, r = 8, p = 1 costs about 16 MiB and 40–60 ms of one libuv thread per check: slow for
 * whoever guesses, and bounded by the failure limiter (auth-failures.ts) for whoever floods.
 */
export const scryptCost = { N: 16_384, r: 8, p: 1 } as const;
const saltBytes = 16;
const keyBytes = 32;
/** The most memory a hash may ask scrypt for: a hash from elsewhere cannot make a member allocate more. */
const scryptMemoryMax = 64 * 1024 * 1024;

export interface SecretHash {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const base64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** A hash's parts, or why it is not one this server can check. */
export function parseSecretHash(text: string): SecretHash | string {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'not a scrypt$N$r$p$salt$key hash (make one with `vigil hash-secret`)';
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n >= 1) || (N & (N - 1)) !== 0 || N < 2) return 'scrypt N must be a power of two, r and p positive integers';
  if (128 * N * r > scryptMemoryMax || p > 16) return `scrypt parameters ask for more than ${scryptMemoryMax} bytes or 16 lanes`;
  const [salt, key] = parts.slice(4) as [string, string];
  if (!base64.test(salt) || !base64.test(key)) return 'salt and key must be base64';
  const keyBuffer = Buffer.from(key, 'base64');
  if (keyBuffer.byteLength < 16 || keyBuffer.byteLength > 64) return 'the key must be 16..64 bytes';
  return { N, r, p, salt: Buffer.from(salt, 'base64'), key: keyBuffer };
}

function derive(secret: string, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret.normalize('NFC'), salt, length, { ...options, maxmem: scryptMemoryMax + 1024 * 1024 }, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

/** A new salted hash of `secret`. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(saltBytes);
  const key = await derive(secret, salt, keyBytes, scryptCost);
  return `scrypt$${scryptCost.N}$${scryptCost.r}$${scryptCost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `secret` is the one `hash` was made from; a malformed hash matches nothing. */
export async function verifySecret(secret: string, hash: string): Promise<boolean> {
  const parsed = parseSecretHash(hash);
  if (typeof parsed === 'string') return false;
  const key = await derive(secret, parsed.salt, parsed.key.byteLength, { N: parsed.N, r: parsed.r, p: parsed.p });
  return timingSafeEqual(key, parsed.key);
}

/** A hash no secret matches, checked for unknown users so that their answer takes as long as a wrong secret's. */
export const unknownUserHash = `scrypt$${scryptCost.N}$${scryptCost.r}$${scryptCost.p}$${Buffer.alloc(saltBytes).toString('base64')}$${Buffer.alloc(keyBytes).toString('base64')}`;
