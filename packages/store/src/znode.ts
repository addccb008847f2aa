import { openAcl, type Acl } from './acl.js';

/** ZooKeeper's Stat. The zxids are revisions (Raft indexes); times are the leader's stamp in the entry. */
export interface Stat {
  readonly czxid: number;
  readonly mzxid: number;
  readonly pzxid: number;
  readonly ctime: number;
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  /** Session id owning an ephemeral node, 0 otherwise. */
  readonly ephemeralOwner: number;
  readonly dataLength: number;
  readonly numChildren: number;
}

export const createModes = [
  'persistent',
  'ephemeral',
  'persistent-sequential',
  'ephemeral-sequential',
  'container',
  'ttl',
  'persistent-sequential-ttl',
] as const;

export type CreateMode = (typeof createModes)[number];

/** What a node is once created; "sequential" only shapes the name. */
export type ZnodeKind = 'persistent' | 'ephemeral' | 'container' | 'ttl';

/**
 * One znode as the state machine holds it. Treated as immutable: a change replaces the record, so
 * a multi can stage new records and drop them on failure without an undo log.
 */
export interface Znode {
  readonly kind: ZnodeKind;
  readonly data: Uint8Array;
  readonly czxid: number;
  readonly mzxid: number;
  readonly pzxid: number;
  readonly ctime: number;
  readonly mtime: number;
  readonly version: number;
  readonly cversion: number;
  readonly aversion: number;
  readonly ephemeralOwner: number;
  readonly numChildren: number;
  /** Time to live of a TTL node, 0 for every other kind. */
  readonly ttlMs: number;
  /** Interned (acl.ts): nodes with equal ACLs share one array; `openAcl` for most. */
  readonly acl: Acl;
}

export function statOf(node: Znode): Stat {
  return {
    czxid: node.czxid,
    mzxid: node.mzxid,
    pzxid: node.pzxid,
    ctime: node.ctime,
    mtime: node.mtime,
    version: node.version,
    cversion: node.cversion,
    aversion: node.aversion,
    ephemeralOwner: node.ephemeralOwner,
    dataLength: node.data.byteLength,
    numChildren: node.numChildren,
  };
}

const empty = new Uint8Array(0);

/** The root exists before any entry, with every counter at zero. */
export const rootZnode: Znode = {
  kind: 'persistent',
  data: empty,
  czxid: 0,
  mzxid: 0,
  pzxid: 0,
  ctime: 0,
  mtime: 0,
  version: 0,
  cversion: 0,
  aversion: 0,
  ephemeralOwner: 0,
  numChildren: 0,
  ttlMs: 0,
  acl: openAcl,
};
