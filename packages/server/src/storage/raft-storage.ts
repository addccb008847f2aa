import { mkdir, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { assert, type Entry, type EntryKind, type HardState, type SnapshotMeta } from '@vigil/raft';
import { SnapshotFileBytes } from './snapshot-file-bytes.js';

/** The port of LevelDB the Raft log needs: a sublevel with buffer keys and values. */
export interface RaftDatabase {
  get(key: Buffer): Promise<Buffer | undefined>;
  batch(): RaftChainedBatch;
  iterator(options: { gte: Buffer; lt: Buffer; highWaterMarkBytes: number }): { nextv(size: number): Promise<[Buffer, Buffer][]>; close(): Promise<void> };
  /** Deletes every key in the range, on LevelDB's own thread. */
  clear(range: { gte: Buffer; lte: Buffer }): Promise<void>;
}

export interface RaftChainedBatch {
  put(key: Buffer, value: Buffer): unknown;
  del(key: Buffer): unknown;
  write(options?: { sync?: boolean }): Promise<void>;
}

/** What a node restarts from. */
export interface RaftImage {
  readonly hardState: HardState | null;
  readonly snapshotMeta: SnapshotMeta | null;
  readonly entries: readonly Entry[];
}

export interface PersistInput {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: its file is written first, then its metadata here. */
  readonly snapshotMeta: SnapshotMeta | null;
  readonly sync: boolean;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });

const HARD_STATE = Buffer.from('h');
const SNAPSHOT_META = Buffer.from('s');
const ENTRY_PREFIX = 0x65; // 'e'
const ENTRY_END = Buffer.from([ENTRY_PREFIX + 1]);
/** The log is read at start-up in batches of this many entries, up to this many bytes (as the store does). */
const loadBatchEntries = 8_192;
const readAheadBytes = 4 * 1024 * 1024;
const snapshotFilesKept = 2;

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_PREFIX;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}

const kinds: readonly EntryKind[] = ['normal', 'noop', 'conf'];

function encodeEntry(e: Entry): Buffer {
  return packr.pack([e.term, kinds.indexOf(e.kind), e.data]);
}

function decodeEntry(index: number, value: Buffer): Entry {
  const [term, kind, data] = packr.unpack(value) as [number, number, Uint8Array];
  const k = kinds[kind];
  assert(k !== undefined && Number.isSafeInteger(term), `log entry ${index} is well formed`);
  // msgpackr yields Buffers; the core's entries are plain Uint8Array views (no copy).
  return { term, index, kind: k, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/**
 * The durable Raft log, hard state and snapshot metadata, in the node's LevelDB under their own
 * sublevel. Snapshot data lives in files next to it (written, fsynced and renamed before the
 * metadata that names them). One `persist` call is one LevelDB batch: the group commit of
 * everything the core produced since the previous one.
 */
export class RaftStorage {
  private firstIndex = 1;
  private lastIndex = 0;
  /** The metadata of the newest snapshot recorded (loaded, received or taken). */
  private snapshotMeta: SnapshotMeta | null = null;

  private constructor(
    private readonly db: RaftDatabase,
    private readonly snapshotDir: string,
  ) {}

  static async open(db: RaftDatabase, snapshotDir: string): Promise<RaftStorage> {
    await mkdir(snapshotDir, { recursive: true });
    // A snapshot file still being written when the last process ended: never renamed, never used.
    for (const f of await readdir(snapshotDir)) if (f.startsWith('snap-') && f.endsWith('.tmp')) await rm(join(snapshotDir, f), { force: true });
    return new RaftStorage(db, snapshotDir);
  }

  async load(): Promise<RaftImage> {
    const hs = await this.db.get(HARD_STATE);
    const meta = await this.db.get(SNAPSHOT_META);
    const entries: Entry[] = [];
    const it = this.db.iterator({ gte: entryKey(0), lt: ENTRY_END, highWaterMarkBytes: readAheadBytes });
    try {
      for (;;) {
        const page = await it.nextv(loadBatchEntries);
        if (page.length === 0) break;
        for (const [k, v] of page) {
          const index = Number(k.readBigUInt64BE(1));
          const e = decodeEntry(index, v);
          const prev = entries[entries.length - 1];
          assert(prev === undefined || prev.index + 1 === index, `the durable log is contiguous at ${index}`);
          entries.push(e);
        }
      }
    } finally {
      await it.close();
    }
    this.firstIndex = entries[0]?.index ?? 1;
    this.lastIndex = entries[entries.length - 1]?.index ?? 0;
    this.snapshotMeta = meta === undefined ? null : (packr.unpack(meta) as SnapshotMeta);
    return {
      hardState: hs === undefined ? null : (packr.unpack(hs) as HardState),
      snapshotMeta: this.snapshotMeta,
      entries,
    };
  }

  /** One batch: snapshot metadata (replacing the whole log), entries (replacing any suffix), hard state. */
  async persist(input: PersistInput): Promise<void> {
    const batch = this.db.batch();
    if (input.snapshotMeta !== null) {
      for (let i = this.firstIndex; i <= this.lastIndex; i++) batch.del(entryKey(i));
      batch.put(SNAPSHOT_META, packr.pack(input.snapshotMeta));
      this.firstIndex = input.snapshotMeta.index + 1;
      this.lastIndex = input.snapshotMeta.index;
    }
    if (input.entries.length > 0) {
      const first = input.entries[0]!.index;
      for (let i = Math.max(first, this.firstIndex); i <= this.lastIndex; i++) batch.del(entryKey(i));
      for (const e of input.entries) batch.put(entryKey(e.index), encodeEntry(e));
      if (this.lastIndex < this.firstIndex) this.firstIndex = first;
      this.lastIndex = input.entries[input.entries.length - 1]!.index;
    }
    if (input.hardState !== null) batch.put(HARD_STATE, packr.pack(input.hardState));
    // Recorded before the write completes, as firstIndex and lastIndex are: LevelDB applies
    // batches in the order they are written, so a later saveSnapshotMeta must already see it.
    if (input.snapshotMeta !== null) this.snapshotMeta = input.snapshotMeta;
    await batch.write({ sync: input.sync });
  }

  /**
   * Record a snapshot this node took of its own state machine (its file is already durable).
   * False, and nothing written, if a snapshot at or after `meta.index` is already recorded: one
   * received from the leader while this one was being taken, whose persist deleted the log this
   * one would need; recording the older one after it would leave a commit index beyond the log.
   */
  async saveSnapshotMeta(meta: SnapshotMeta): Promise<boolean> {
    if (this.snapshotMeta !== null && this.snapshotMeta.index >= meta.index) return false;
    this.snapshotMeta = meta;
    const batch = this.db.batch();
    batch.put(SNAPSHOT_META, packr.pack(meta));
    await batch.write({ sync: true });
    return true;
  }

  /** The newest snapshot this node holds (its file is durable), or null before the first. */
  latestSnapshot(): SnapshotMeta | null {
    return this.snapshotMeta;
  }

  /** Delete entries before `index` (the entry at `index` stays: it carries the compaction term). */
  async compactBefore(index: number): Promise<void> {
    if (index <= this.firstIndex) return;
    const end = Math.min(index - 1, this.lastIndex);
    // One range deletion, which LevelDB's own thread carries out (classic-level's clear: it
    // iterates the range and deletes in batches there, in key order, so a crash leaves a suffix of
    // the range). Deleting key by key from here cost the event loop half a second of CPU per
    // 50,000 entries (building and prefixing a key per entry), even in slices (decisions 45, 46).
    await this.db.clear({ gte: entryKey(this.firstIndex), lte: entryKey(end) });
    this.firstIndex = Math.max(this.firstIndex, end + 1);
  }

  // -- snapshot files ---------------------------------------------------------------------------

  private fileOf(meta: Pick<SnapshotMeta, 'index' | 'term'>): string {
    return join(this.snapshotDir, `snap-${String(meta.index).padStart(16, '0')}-${meta.term}.bin`);
  }

  /** Write snapshot data durably: temp file, fsync, rename, fsync the directory. */
  async writeSnapshotFile(meta: Pick<SnapshotMeta, 'index' | 'term'>, data: Uint8Array): Promise<void> {
    const path = this.fileOf(meta);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    const dir = await open(this.snapshotDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.pruneSnapshotFiles();
  }

  /** The metadata of the newest snapshot recorded (loaded, received or taken), null before the first. */
  latestSnapshotMeta(): SnapshotMeta | null {
    return this.snapshotMeta;
  }

  /** The snapshot file's bytes, read from the file when needed (see SnapshotFileBytes). */
  openSnapshotBytes(meta: Pick<SnapshotMeta, 'index' | 'term'>): SnapshotFileBytes {
    return SnapshotFileBytes.open(this.fileOf(meta));
  }

  /**
   * Opens the newest snapshot's file for reading, for a download. The open handle keeps the bytes
   * readable even if a newer snapshot prunes the file meanwhile. Null before the first snapshot.
   */
  async openLatestSnapshot(): Promise<{ meta: SnapshotMeta; file: FileHandle; bytes: number; writtenAtMs: number } | null> {
    // A snapshot taken between reading the metadata and opening may prune the file once; the
    // second attempt sees the newer metadata.
    for (let attempt = 0; ; attempt++) {
      const meta = this.snapshotMeta;
      if (meta === null) return null;
      let file: FileHandle;
      try {
        file = await open(this.fileOf(meta), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0 || meta === this.snapshotMeta) throw err;
        continue;
      }
      try {
        const stat = await file.stat();
        return { meta, file, bytes: stat.size, writtenAtMs: stat.mtimeMs };
      } catch (err) {
        await file.close();
        throw err;
      }
    }
  }

  /**
   * Keeps the newest complete files. A `.tmp` file is left alone: another snapshot (one taken while
   * one from the leader is written, or the other way round) may be writing it now; leftovers from
   * an earlier process are removed at open.
   */
  private async pruneSnapshotFiles(): Promise<void> {
    const files = (await readdir(this.snapshotDir)).filter((f) => f.startsWith('snap-')).sort();
    const complete = files.filter((x) => x.endsWith('.bin'));
    for (const f of complete.slice(0, Math.max(0, complete.length - snapshotFilesKept))) await rm(join(this.snapshotDir, f), { force: true });
  }
}
