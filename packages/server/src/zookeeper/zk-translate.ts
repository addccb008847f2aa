/**
 * What ZooKeeper's names become in Vigil's and back: create flags and modes, ACLs, and the error a
 * ZooKeeper client is told for each of Vigil's (docs/zookeeper-compatibility.md).
 */
import type { AclEntry, CreateMode, ErrorCode, WireError } from '@vigil/protocol';
import { errorCodeOfWire } from '@vigil/protocol';
import { aclProblem } from '@vigil/store';
import { zkErr, type ZkAcl } from './zk-wire.js';

/** Vigil's create mode of each of ZooKeeper's CreateMode flags, by flag value (zkCreateMode). */
const createModesByFlag: readonly CreateMode[] = ['persistent', 'ephemeral', 'persistent-sequential', 'ephemeral-sequential', 'container', 'ttl', 'persistent-sequential-ttl'];

/** ZooKeeper's CreateMode flags, as Vigil's create modes; undefined for a flag ZooKeeper does not have. */
export function createModeOf(flags: number): CreateMode | undefined {
  return Number.isInteger(flags) && flags >= 0 ? createModesByFlag[flags] : undefined;
}

/**
 * A ZooKeeper ACL as Vigil's, or the reason it has none: the schemes are the same (`auth` stands
 * for every identity the connection added); `super`, `sasl` and `x509` are not served.
 */
export function aclFromZk(acl: readonly ZkAcl[]): AclEntry[] | string {
  if (acl.length === 0) return 'an ACL needs at least one entry';
  const entries: AclEntry[] = [];
  for (const e of acl) {
    if (e.scheme !== 'world' && e.scheme !== 'ip' && e.scheme !== 'digest' && e.scheme !== 'auth') return `scheme ${e.scheme} is not supported (world, ip, digest and auth are)`;
    entries.push({ scheme: e.scheme, id: e.scheme === 'auth' ? '' : e.id, perms: e.perms });
  }
  const problem = aclProblem(entries);
  return problem ?? entries;
}

/** Vigil's ACL as a ZooKeeper client sees it: a `user` entry (a vigil.v1 client's) keeps its scheme name. */
export function aclToZk(acl: readonly AclEntry[]): ZkAcl[] {
  return acl.map((e) => ({ scheme: e.scheme, id: e.id, perms: e.perms }));
}

/**
 * The ZooKeeper error code of a Vigil error, or null for an error whose outcome a ZooKeeper client
 * can only learn as a lost connection (the cluster could not answer: no leader, a timeout, a
 * member stopping): the channel closes, and the client reconnects and resumes its session as it
 * would with ZooKeeper. TOO_MANY_REQUESTS is one of them: it is answered ahead of the requests
 * before it, and ZooKeeper's clients drop a connection whose answers come out of order anyway.
 * So is STALE_SEQUENCE: the write was not applied, because a later connection of the session has
 * claimed its range of seqs since (the session moved; ClientConnection's claimSeqRange).
 */
export function zkErrorOf(error: WireError): number | null {
  const code: ErrorCode = errorCodeOfWire(error.code) ?? 'INTERNAL';
  switch (code) {
    case 'NO_NODE':
      return zkErr.noNode;
    case 'NODE_EXISTS':
      return zkErr.nodeExists;
    case 'BAD_VERSION':
      return zkErr.badVersion;
    case 'NOT_EMPTY':
      return zkErr.notEmpty;
    case 'NO_CHILDREN_FOR_EPHEMERALS':
      return zkErr.noChildrenForEphemerals;
    case 'BAD_ARGUMENTS':
      return zkErr.badArguments;
    case 'NO_WATCH':
      return zkErr.noWatcher;
    case 'NO_AUTH':
      return zkErr.noAuth;
    case 'INVALID_ACL':
      return zkErr.invalidACL;
    case 'AUTH_FAILED':
      return zkErr.authFailed;
    case 'SESSION_EXPIRED':
      return zkErr.sessionExpired;
    case 'SESSION_MOVED':
      return zkErr.sessionMoved;
    case 'TOO_MANY_WATCHES':
    case 'TOO_MANY_EPHEMERALS':
      return zkErr.quotaExceeded;
    case 'MALFORMED_FRAME':
      return zkErr.marshallingError;
    case 'UNKNOWN_OP':
      return zkErr.unimplemented;
    case 'INTERNAL':
      return zkErr.systemError;
    default:
      return null;
  }
}
