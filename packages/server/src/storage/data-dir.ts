import { mkdir, open, readFile, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ServerError } from '../errors.js';

/** Written once into a data directory: whose it is. A node refuses a directory of another cluster or member. */
export interface DataDirIdentity {
  readonly format: 1;
  readonly clusterId: string;
  readonly nodeId: number;
}

export const IDENTITY_FILE = 'vigil-node.json';
export const DATABASE_DIR = 'db';
export const SNAPSHOT_DIR = 'snapshots';
export const WAL_DIR = 'wal';

/**
 * Make sure `dir` is this member's data directory, creating it (and its identity file) when it is
 * new. Returns whether it was new. Refuses, with DATA_DIR_INVALID and a message that says what to
 * do, a directory that belongs to another cluster or member, or that holds data without identity.
 */
export async function prepareDataDir(dir: string, expected: { clusterId: string; nodeId: number }): Promise<{ fresh: boolean }> {
  await mkdir(dir, { recursive: true });
  const idPath = join(dir, IDENTITY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(idPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmpName = `${IDENTITY_FILE}.tmp`;
  if (text === undefined) {
    // A first start that ended while writing the identity (a full disk, a crash) leaves its
    // temporary file: the directory is still new.
    const present = (await readdir(dir)).filter((f) => !f.startsWith('.') && f !== tmpName);
    if (present.length > 0) {
      throw new ServerError('DATA_DIR_INVALID', `data directory ${dir} is not empty but has no ${IDENTITY_FILE}: it is not a Vigil data directory (found ${present.slice(0, 5).join(', ')})`);
    }
    const identity: DataDirIdentity = { format: 1, clusterId: expected.clusterId, nodeId: expected.nodeId };
    const tmp = join(dir, tmpName);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(`${JSON.stringify(identity)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, idPath);
    return { fresh: true };
  }
  let identity: DataDirIdentity;
  try {
    identity = JSON.parse(text) as DataDirIdentity;
  } catch {
    throw new ServerError('DATA_DIR_INVALID', `${idPath} is damaged (not JSON); restore the directory from a backup or remove it to rejoin as a new member`);
  }
  if (identity.format !== 1 || typeof identity.clusterId !== 'string' || !Number.isInteger(identity.nodeId)) {
    throw new ServerError('DATA_DIR_INVALID', `${idPath} is damaged (unexpected content)`);
  }
  if (identity.clusterId !== expected.clusterId) {
    throw new ServerError('DATA_DIR_INVALID', `data directory ${dir} belongs to cluster '${identity.clusterId}', not '${expected.clusterId}'`);
  }
  if (identity.nodeId !== expected.nodeId) {
    throw new ServerError('DATA_DIR_INVALID', `data directory ${dir} belongs to member ${identity.nodeId}, not ${expected.nodeId}`);
  }
  return { fresh: false };
}
