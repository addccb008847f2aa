// ZooKeeper's access control, decided by the state machine (docs/security.md): every znode holds
// an ACL, a list of (scheme, id, permissions); a write is checked at apply against the tree as it
// stands at that entry, with the identity the member that took the write stamped into the command,
// so that every replica decides alike; a read is checked by the member that serves it.
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

/** ZooKeeper's permission bits, with the same values. */
export const perms = { read: 1, write: 2, create: 4, delete: 8, admin: 16 } as const;
export const permsAll = 31;
/** The letters of the text form (`rwcda`), in bit order. */
export const permLetters = 'rwcda';

/**
 * `world:anyone`, `user:<name>` (an authenticated identity), `ip:<address>[/<prefix bits>]`,
 * `digest:<name>:<base64 of sha1("<name>:<password>")>` (ZooKeeper's digest scheme: a connection
 * that added that name and password with ZooKeeper's `addauth`). The order is the record codec's.
 */
export const aclSchemes = ['world', 'user', 'ip', 'digest'] as const;
export type AclScheme = (typeof aclSchemes)[number];

export interface AclEntry {
  readonly scheme: AclScheme;
  readonly id: string;
  /** A sum of `perms` bits, 0..permsAll. */
  readonly perms: number;
}

export type Acl = readonly AclEntry[];

/** An ACL as a client gives it: scheme `auth` (id '') stands for the caller's own identity, as in ZooKeeper. */
export interface AclEntryInput {
  readonly scheme: AclScheme | 'auth';
  readonly id: string;
  readonly perms: number;
}

/** Entries in one ACL. */
export const aclEntriesMax = 32;
/** User names: what the `user` scheme's id and the users table hold. */
export const userNamePattern = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

/**
 * On whose behalf a client request runs, as the member that authenticated the client stamps it:
 * `user` when the client authenticated, `address` its IP, `superuser` bypasses every check.
 * A command without a caller is not checked at all: the cluster runs without security.
 */
export interface Caller {
  readonly user?: string;
  readonly address?: string;
  readonly superuser?: boolean;
  /** ZooKeeper digest identities (`<name>:<hash>`) the connection added with `addauth`. */
  readonly digests?: readonly string[];
}

/** Digest identities one connection may hold. */
export const callerDigestsMax = 16;
/** A digest id: a name without ':' and the base64 of a sha1 (28 characters). */
const digestIdPattern = /^[^:]{1,96}:[A-Za-z0-9+/]{27}=$/;

/** world:anyone with every permission: what a node gets when security is off and its creator gave no ACL. */
export const openAcl: Acl = Object.freeze([Object.freeze({ scheme: 'world', id: 'anyone', perms: permsAll } as const)]);

const interned = new Map<string, Acl>([[aclKey(openAcl), openAcl]]);
/** Distinct ACLs shared between znodes; past it a new one is kept unshared (correct, only larger). */
const internedMax = 65_536;

function aclKey(acl: readonly AclEntry[]): string {
  return acl.map((e) => `${e.perms}:${e.scheme}:${e.id}`).join('\n');
}

/** The one shared, frozen copy of an ACL: znodes with equal ACLs hold the same array. */
export function internAcl(acl: readonly AclEntry[]): Acl {
  const key = aclKey(acl);
  const known = interned.get(key);
  if (known !== undefined) return known;
  const frozen: Acl = Object.freeze(acl.map((e) => Object.freeze({ scheme: e.scheme, id: e.id, perms: e.perms })));
  if (interned.size < internedMax) interned.set(key, frozen);
  return frozen;
}

/**
 * Whether an ACL is `openAcl`: every ACL a znode holds comes through `internAcl` (resolveAcl,
 * defaultAcl, the record codec), which answers `openAcl` itself for its entries, so identity is
 * enough — no string is built per record encoded.
 */
export function isOpenAcl(acl: Acl): boolean {
  return acl === openAcl;
}

/** Why an `ip` scheme id is not an address or a subnet, or null. */
function ipIdProblem(id: string): string | null {
  const slash = id.indexOf('/');
  const address = slash < 0 ? id : id.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `ip id ${JSON.stringify(id)} is not an IP address`;
  if (slash < 0) return null;
  const bits = id.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max ? null : `ip id ${JSON.stringify(id)}: prefix bits must be 0..${max}`;
}

/** Why an entry a client gave is not a valid ACL entry, or null. */
function entryProblem(e: unknown): string | null {
  if (typeof e !== 'object' || e === null) return 'an ACL entry must be an object';
  const { scheme, id, perms: p } = e as Record<string, unknown>;
  if (typeof id !== 'string') return 'an ACL id must be a string';
  if (!Number.isInteger(p) || (p as number) < 0 || (p as number) > permsAll) return `ACL perms must be 0..${permsAll}`;
  switch (scheme) {
    case 'world':
      return id === 'anyone' ? null : 'the world scheme has the one id "anyone"';
    case 'user':
      return userNamePattern.test(id) ? null : `user id ${JSON.stringify(id)} is not a user name`;
    case 'ip':
      return ipIdProblem(id);
    case 'digest':
      return digestIdPattern.test(id) ? null : `digest id ${JSON.stringify(id)} is not <name>:<base64 sha1>`;
    case 'auth':
      return id === '' ? null : 'the auth scheme takes an empty id';
    default:
      return `unknown ACL scheme ${JSON.stringify(scheme)}`;
  }
}

/** Why a client's ACL is not valid in shape (before `auth` is resolved), or null. */
export function aclProblem(acl: unknown): string | null {
  if (!Array.isArray(acl)) return 'an ACL must be an array';
  if (acl.length === 0) return 'an ACL must have at least one entry';
  if (acl.length > aclEntriesMax) return `an ACL has at most ${aclEntriesMax} entries`;
  for (const e of acl) {
    const problem = entryProblem(e);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * The ACL a znode gets from what its creator (or a setAcl) gave: `auth` becomes every identity
 * the caller authenticated as — `user:<caller>` and each of its `digest` ids (an error without
 * any, as in ZooKeeper) —, exact duplicates go, and the result is interned. `acl` must have
 * passed `aclProblem`.
 */
export function resolveAcl(acl: readonly AclEntryInput[], caller: Caller | undefined): Acl | string {
  const out: AclEntry[] = [];
  const seen = new Set<string>();
  for (const e of acl) {
    let entries: AclEntry[];
    if (e.scheme === 'auth') {
      entries = [
        ...(caller?.user === undefined ? [] : [{ scheme: 'user' as const, id: caller.user, perms: e.perms }]),
        ...(caller?.digests ?? []).map((id) => ({ scheme: 'digest' as const, id, perms: e.perms })),
      ];
      if (entries.length === 0) return 'the auth scheme needs an authenticated caller';
    } else {
      entries = [{ scheme: e.scheme, id: e.id, perms: e.perms }];
    }
    for (const entry of entries) {
      const key = `${entry.perms}:${entry.scheme}:${entry.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(entry);
    }
  }
  if (out.length > aclEntriesMax) return `an ACL has at most ${aclEntriesMax} entries`;
  return internAcl(out);
}

/** The ACL of a node created without one: open without security, else its creator's alone. */
export function defaultAcl(caller: Caller | undefined): Acl {
  if (caller?.user === undefined) return openAcl;
  return internAcl([{ scheme: 'user', id: caller.user, perms: permsAll }]);
}

function ipMatches(id: string, address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const slash = id.indexOf('/');
  const list = new BlockList();
  const net = slash < 0 ? id : id.slice(0, slash);
  if (isIP(net) !== family) return false;
  if (slash < 0) list.addAddress(net, type);
  else list.addSubnet(net, Number(id.slice(slash + 1)), type);
  return list.check(address, type);
}

/** Whether `caller` holds every bit of `perm` on a node with `acl`; no caller: not checked. */
export function permits(acl: Acl, caller: Caller | undefined, perm: number): boolean {
  if (caller === undefined || caller.superuser === true) return true;
  for (const e of acl) {
    if ((e.perms & perm) !== perm) continue;
    if (e.scheme === 'world') return true;
    if (e.scheme === 'user' && caller.user === e.id) return true;
    if (e.scheme === 'ip' && caller.address !== undefined && ipMatches(e.id, caller.address)) return true;
    if (e.scheme === 'digest' && caller.digests !== undefined && caller.digests.includes(e.id)) return true;
  }
  return false;
}

/** Whether `caller` holds any bit of `anyOf` (getAcl: read or admin). */
export function permitsAny(acl: Acl, caller: Caller | undefined, anyOf: number): boolean {
  for (let bit = 1; bit <= permsAll; bit <<= 1) if ((anyOf & bit) !== 0 && permits(acl, caller, bit)) return true;
  return false;
}

/** `rwcda` letters of a perms number. */
export function permsText(p: number): string {
  let text = '';
  for (let i = 0; i < permLetters.length; i++) if ((p & (1 << i)) !== 0) text += permLetters[i];
  return text;
}

/** A perms number from `rwcda` letters (any order, each at most once), or null. */
export function permsOfText(text: string): number | null {
  let p = 0;
  for (const c of text) {
    const i = permLetters.indexOf(c);
    if (i < 0 || (p & (1 << i)) !== 0) return null;
    p |= 1 << i;
  }
  return p;
}

/** ZooKeeper's digest id of a name and password: `<name>:<base64 of sha1("<name>:<password>")>`. */
export function digestId(name: string, password: string): string {
  return `${name}:${createHash('sha1').update(`${name}:${password}`).digest('base64')}`;
}

/** Why a caller stamp is malformed, or null (commandShapeProblem). */
export function callerProblem(caller: unknown): string | null {
  if (caller === undefined) return null;
  if (typeof caller !== 'object' || caller === null || Array.isArray(caller)) return 'caller must be an object';
  const { user, address, superuser } = caller as Record<string, unknown>;
  if (user !== undefined && (typeof user !== 'string' || !userNamePattern.test(user))) return 'bad caller user';
  if (address !== undefined && (typeof address !== 'string' || address.length > 64)) return 'bad caller address';
  if (superuser !== undefined && typeof superuser !== 'boolean') return 'bad caller superuser';
  const { digests } = caller as Record<string, unknown>;
  if (digests !== undefined && (!Array.isArray(digests) || digests.length > callerDigestsMax || !digests.every((d) => typeof d === 'string' && digestIdPattern.test(d)))) return 'bad caller digests';
  return null;
}
