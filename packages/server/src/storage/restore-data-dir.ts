import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import type { NodeId } from '@vigil/raft';
import { Store } from '@vigil/store';
import { formatHostPort } from '../config/host-port.js';
import type { NodeConfig } from '../config/node-config.js';
import { decodeSnapshotEnvelope, encodeSnapshotEnvelope } from '../consensus/raft-driver.js';
import type { MemberAddress } from '../consensus/members.js';
import { ServerError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import { readBackupFile, type BackupHeader } from './backup-file.js';
import { DATABASE_DIR, IDENTITY_FILE, prepareDataDir, SNAPSHOT_DIR, WAL_DIR } from './data-dir.js';
import { RaftStorage } from './raft-storage.js';

export interface RestoreDataDirOptions {
  /** A file written by `vigil snapshot save` (or `GET /admin/snapshot`). */
  readonly backupPath: string;
  /** The settings the member will be started with: its id, cluster id, data dir, peers and client address. */
  readonly config: Pick<NodeConfig, 'id' | 'clusterId' | 'dataDir' | 'peers' | 'clientListen'>;
  readonly logger?: Logger;
}

export interface RestoredDataDir {
  /** Where the backup came from. */
  readonly backup: BackupHeader;
  /** Sessions in the backup: a restored cluster expires them a session timeout after it elects a leader. */
  readonly sessions: number;
}

const buffers = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

/**
 * Prepares the data directory of one member of a new cluster from a backup, offline: as if the
 * member had received the backup's snapshot from a leader. Every member of the new cluster is
 * restored from the same backup with the same `peers`; they then start at the snapshot's index
 * and term with `peers` as the voters, elect a leader, and go on from there (etcd's
 * `snapshot restore` works the same way).
 *
 * The directory gets the identity file, the store's image (verified chunk by chunk and against
 * the snapshot's digest), a snapshot file whose member addresses are the new cluster's, and the
 * Raft state: snapshot metadata and a hard state committed up to the snapshot. The backup is
 * checked before the directory is touched; a directory that is not empty is refused.
 */
export async function restoreDataDir(options: RestoreDataDirOptions): Promise<RestoredDataDir> {
  const { config } = options;
  const log = options.logger ?? silentLogger();
  const { header, snapshot } = await readBackupFile(options.backupPath);
  let envelope: ReturnType<typeof decodeSnapshotEnvelope>;
  try {
    envelope = decodeSnapshotEnvelope(snapshot);
  } catch (err) {
    throw new ServerError('BACKUP_INVALID', `${options.backupPath}: the snapshot does not decode (${(err as Error).message})`);
  }

  const dir = config.dataDir;
  const present = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  if (present.filter((f) => !f.startsWith('.')).length > 0) {
    throw new ServerError('DATA_DIR_INVALID', `data directory ${dir} is not empty: a backup is restored only into a new, empty directory`);
  }
  await mkdir(dir, { recursive: true });

  let db: Level<Buffer, Buffer> | undefined;
  try {
    await prepareDataDir(dir, { clusterId: config.clusterId, nodeId: config.id });
    db = new Level<Buffer, Buffer>(join(dir, DATABASE_DIR), buffers);
    await db.open();

    const store = await Store.open({ db: db.sublevel<Buffer, Buffer>('store', buffers), logger: log.child({ component: 'store' }) });
    let sessions: number;
    try {
      await store.restoreSnapshot(envelope.store).catch((err: unknown) => {
        throw new ServerError('BACKUP_INVALID', `${options.backupPath}: ${(err as Error).message}`);
      });
      if (store.appliedIndex !== header.index) {
        throw new ServerError('BACKUP_INVALID', `${options.backupPath}: the snapshot is at index ${store.appliedIndex}, the header says ${header.index}`);
      }
      sessions = store.sessions().length;
    } finally {
      await store.close();
    }

    // The new cluster's membership, written as a founding member writes it (bootstrapContext):
    // every peer address, and this member's client address.
    const members = new Map<NodeId, MemberAddress>();
    for (const [id, address] of config.peers) {
      members.set(id, { peer: formatHostPort(address), client: id === config.id ? formatHostPort(config.clientListen) : null });
    }
    const voters = [...config.peers.keys()].sort((a, b) => a - b);
    const meta = { index: header.index, term: header.term, conf: { voters, learners: [] } };
    const storage = await RaftStorage.open({ walDir: join(dir, WAL_DIR), snapshotDir: join(dir, SNAPSHOT_DIR) });
    await storage.load();
    await storage.writeSnapshotFile(meta, await encodeSnapshotEnvelope(members, new Set(), envelope.store));
    await storage.persist({ hardState: { term: header.term, vote: 0, commit: header.index }, entries: [], snapshotMeta: meta, sync: true });
    await storage.close();
    await db.close();
    db = undefined;
    log.info({ index: header.index, term: header.term, voters }, 'data directory restored from a backup');
    return { backup: header, sessions };
  } catch (err) {
    await db?.close().catch(() => undefined);
    // Leave the directory as empty as it was found, so that a corrected restore can run again.
    for (const f of [IDENTITY_FILE, `${IDENTITY_FILE}.tmp`, DATABASE_DIR, SNAPSHOT_DIR, WAL_DIR]) await rm(join(dir, f), { recursive: true, force: true });
    throw err;
  }
}
