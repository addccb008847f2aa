import { createHash, type Hash } from 'node:crypto';
import { encodeSession, encodeUser, encodeZnode } from './record-codec.js';
import { nodeKey, sessionKey, userKey } from './keys.js';
import type { UserRecord } from './user.js';
import type { SessionRecord } from './session.js';
import type { Znode } from './znode.js';

const digestDomain = 'vigil-store-digest-v1';

/**
 * sha256 over the applied index and every user, session (with its reply table) and znode record in key
 * order, i.e. exactly the records a snapshot carries. Fed record by record so the image can be digested as it streams.
 */
export class DigestBuilder {
  readonly #hash: Hash;
  #records = 0;

  constructor(appliedIndex: number) {
    this.#hash = createHash('sha256');
    this.#hash.update(digestDomain);
    const index = Buffer.allocUnsafe(8);
    index.writeDoubleBE(appliedIndex, 0);
    this.#hash.update(index);
  }

  add(key: Uint8Array, value: Uint8Array): void {
    const lengths = Buffer.allocUnsafe(8);
    lengths.writeUInt32BE(key.byteLength, 0);
    lengths.writeUInt32BE(value.byteLength, 4);
    this.#hash.update(lengths);
    this.#hash.update(key);
    this.#hash.update(value);
    this.#records++;
  }

  get records(): number {
    return this.#records;
  }

  finish(): Buffer {
    return this.#hash.digest();
  }
}

/** The digest of an in-memory state, with the same bytes as the durable image would give. */
export function digestOfRecords(
  appliedIndex: number,
  nodes: Iterable<readonly [string, Znode]>,
  sessions: Iterable<SessionRecord>,
  users: Iterable<UserRecord> = [],
): string {
  const records: [Buffer, Buffer][] = [];
  for (const user of users) records.push([userKey(user.name), encodeUser(user)]);
  for (const session of sessions) records.push([sessionKey(session.sessionId), encodeSession(session)]);
  for (const [path, node] of nodes) records.push([nodeKey(path), encodeZnode(node)]);
  records.sort((a, b) => Buffer.compare(a[0], b[0]));
  const builder = new DigestBuilder(appliedIndex);
  for (const [key, value] of records) builder.add(key, value);
  return builder.finish().toString('hex');
}
