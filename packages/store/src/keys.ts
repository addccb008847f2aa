// Key layout, all keys raw bytes under one database (or sublevel) that the store owns:
//
//   m<name>                      meta: appliedIndex, format
//   p<name>                      one user (principal): its secret's hash and roles
//   s<sessionId: f64 big-endian> one session (positive doubles sort numerically big-endian)
//   t<parentPath>\0<name>        one znode; the root is t\0
//
// A node's key is its parent's path, a NUL, then its name. Names never contain NUL or '/', so
// children(p) is the range scan of prefix `t<p>\0`, which holds exactly p's children and nothing
// deeper: a grandchild's key continues `t<p>/…`, and '/' never equals NUL.
import { assert } from './errors.js';
import { nameOf, parentOf } from './path.js';

export const metaPrefix = 0x6d; // 'm'
export const userPrefix = 0x70; // 'p'
export const sessionPrefix = 0x73; // 's'
export const treePrefix = 0x74; // 't'

export const appliedIndexKey = Buffer.from('mappliedIndex', 'latin1');
export const formatKey = Buffer.from('mformat', 'latin1');

/** Whether a key is one of the state's records (a user, a session or a znode), which snapshots and digests carry. */
export function isRecordKey(key: Uint8Array): boolean {
  const prefix = key[0];
  return prefix === userPrefix || prefix === sessionPrefix || prefix === treePrefix;
}

export function userKey(name: string): Buffer {
  return Buffer.from(`p${name}`, 'utf8');
}

export function userNameOfKey(key: Uint8Array): string {
  assert(key[0] === userPrefix, 'not a user key');
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', 1);
}

/** Range covering every key the store writes, meta first, then sessions, then the tree. */
export const storeRange = { gte: Buffer.from('m', 'latin1'), lt: Buffer.from('u', 'latin1') } as const;

export function nodeKey(path: string): Buffer {
  if (path === '/') return Buffer.from('t\0', 'latin1');
  return Buffer.from(`t${parentOf(path)}\0${nameOf(path)}`, 'utf8');
}

/** The range scan holding exactly the children of `path`. */
export function childrenRange(path: string): { gt: Buffer; lt: Buffer } {
  return { gt: Buffer.from(`t${path}\0`, 'utf8'), lt: Buffer.from(`t${path}\u0001`, 'utf8') };
}

export function pathOfNodeKey(key: Uint8Array): string {
  assert(key[0] === treePrefix, 'not a node key');
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8', 1);
  const nul = text.lastIndexOf('\0');
  assert(nul >= 0, 'node key without separator');
  const parent = text.slice(0, nul);
  const name = text.slice(nul + 1);
  if (parent === '') {
    assert(name === '', 'root key with a name');
    return '/';
  }
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

export function sessionKey(sessionId: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = sessionPrefix;
  key.writeDoubleBE(sessionId, 1);
  return key;
}

export function sessionIdOfKey(key: Uint8Array): number {
  assert(key[0] === sessionPrefix && key.byteLength === 9, 'not a session key');
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).readDoubleBE(1);
}
