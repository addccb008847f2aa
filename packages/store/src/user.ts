import { userNamePattern } from './acl.js';

/**
 * What a role lets a user do through the admin API (docs/security.md). `admin` is every one of
 * them; the superuser (a member's configuration, not a record) holds them all and passes every ACL.
 */
export const roles = ['admin', 'membership', 'leadership', 'snapshots', 'users'] as const;
export type Role = (typeof roles)[number];

/**
 * An identity as replicated: its secret only as a slow salted hash (the server's format, e.g.
 * `scrypt$16384$8$1$<salt>$<key>`; the store checks its shape, never a secret), and its roles.
 */
export interface UserRecord {
  readonly name: string;
  readonly hash: string;
  readonly roles: readonly Role[];
}

export const userHashBytesMax = 256;
const roleSet: ReadonlySet<unknown> = new Set(roles);

export function isUserName(name: unknown): name is string {
  return typeof name === 'string' && userNamePattern.test(name);
}

/** Why a user record's fields are malformed, or null. */
export function userProblem(name: unknown, hash: unknown, userRoles: unknown): string | null {
  if (!isUserName(name)) return 'bad user name';
  if (typeof hash !== 'string' || hash.length === 0 || hash.length > userHashBytesMax || !/^[\x21-\x7e]+$/.test(hash)) return 'bad user hash';
  if (!Array.isArray(userRoles) || userRoles.length > roles.length) return 'bad user roles';
  if (!userRoles.every((r) => roleSet.has(r)) || new Set(userRoles).size !== userRoles.length) return 'bad user roles';
  return null;
}
