/**
 * Access control lists as ZooKeeper has them (docs/client.md §2.1): each node carries a list of
 * entries `{ scheme, id, perms }`; `perms` is a sum of `aclPerms` bits. The ready-made lists are
 * ZooKeeper's `Ids` under plainer names.
 */
import { VigilError, aclPerms, aclSchemes, type AclEntry } from '@vigil/protocol';

export { aclPerms };
export type { AclEntry, AclScheme } from '@vigil/protocol';

/** Ready-made ACLs for `create(…, { acl })` and `setAcl`. */
export const acls = {
  /** Anyone may do anything (ZooKeeper's OPEN_ACL_UNSAFE): what a node gets on a server without `--auth`. */
  open: Object.freeze([Object.freeze({ scheme: 'world', id: 'anyone', perms: aclPerms.all })]),
  /** Only the creating user, with every permission (ZooKeeper's CREATOR_ALL_ACL); needs an authenticated client. */
  creatorAll: Object.freeze([Object.freeze({ scheme: 'auth', id: '', perms: aclPerms.all })]),
  /** Anyone may read, nobody may change (ZooKeeper's READ_ACL_UNSAFE). */
  readOnly: Object.freeze([Object.freeze({ scheme: 'world', id: 'anyone', perms: aclPerms.read })]),
} as const satisfies Readonly<Record<string, readonly AclEntry[]>>;

/** Who the server takes this connection for (`client.whoami()`). */
export interface Identity {
  /** Absent: anonymous (a server without `--auth`, and no `auth` given). */
  readonly user?: string;
  /** The superuser passes every ACL and holds every admin role. */
  readonly superuser: boolean;
  /** The admin API roles the user holds (`admin`, `membership`, `leadership`, `snapshots`, `users`). */
  readonly roles: readonly string[];
  /** The client's address as the server sees it: what `ip` entries match. */
  readonly address: string;
}

/**
 * A copy of the caller's list with exactly the wire fields. Only the shape is checked here (a
 * scheme the protocol knows, a string id, perms 0..31): whether an id means something is the
 * server's to judge (INVALID_ACL).
 */
export function wireAcl(acl: readonly AclEntry[]): AclEntry[] {
  if (!Array.isArray(acl)) throw new VigilError('BAD_ARGUMENTS', 'acl: an array of { scheme, id, perms }');
  return acl.map((entry: AclEntry, i) => {
    const { scheme, id, perms } = entry;
    if (!(aclSchemes as readonly string[]).includes(scheme)) throw new VigilError('BAD_ARGUMENTS', `acl[${i}].scheme: one of ${aclSchemes.join(', ')}, not ${JSON.stringify(scheme)}`);
    if (typeof id !== 'string') throw new VigilError('BAD_ARGUMENTS', `acl[${i}].id: a string`);
    if (!Number.isInteger(perms) || perms < 0 || perms > aclPerms.all) throw new VigilError('BAD_ARGUMENTS', `acl[${i}].perms: an integer 0..${aclPerms.all}, not ${String(perms)}`);
    return { scheme, id, perms };
  });
}
