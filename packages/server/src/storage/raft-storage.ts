import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Packr } from 'msgpackr';
import { assert, type Entry, type EntryKind, type HardState, type SnapshotMeta } from '@vigil/raft';
import { SnapshotFileBytes } from './snapshot-file-bytes.js';
import { WriteAheadLog, type ReplayedSegment, type WalRecord } from './wal.js';

/**
 * The port of LevelDB where the Raft log lived before decision 50 (sublevel "raft"): read once, by
 * a member whose data directory still has it, to move it into the log's own files.
 */
export interface LegacyRaftDatabase {
  get(key: Buffer): Promise<Buffer | undefined>;
  iterator(options: { gte: Buffer; lt: Buffer; highWaterMarkBytes: number }): { nextv(size: number): Promise<[Buffer, Buffer][]>; close(): Promise<void> };
  /** Deletes every key in the range. */
  clear(range: { gte: Buffer; lte: Buffer }): Promise<void>;
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

export interface RaftStorageOptions {
  /** The log's segment files (created if missing). */
  readonly walDir: string;
  /** The snapshot files (created if missing). */
  readonly snapshotDir: string;
  /** A LevelDB sublevel that may still hold the log of an older version: moved into `walDir` once. */
  readonly legacy?: LegacyRaftDatabase;
  /** Segment size (default 16 MiB). */
  readonly segmentBytes?: number;
  /**
   * Entries kept below the latest snapshot (the driver's `logTrailingEntries`). Compaction deletes
   * whole segments only, so the files may hold older entries than the last compaction kept: at
   * load they are left out, and a restarted member's log starts where it did before the restart.
   * Unset: every entry the segments hold.
   */
  readonly trailingEntries?: number;
  /** Test-only: see `WalOptions.powerLoss`. */
  readonly powerLoss?: boolean;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });

/** The log's records (wal.ts gives them no meaning). */
const ENTRY = 1;
const HARD_STATE = 2;
/** A snapshot from the leader: it replaces the whole log. */
const SNAPSHOT_INSTALLED = 3;
/** A snapshot this member took (or the newest snapshot, restated in a segment's header): metadata only. */
const SNAPSHOT_RECORDED = 4;

const defaultSegmentBytes = 16 * 1024 * 1024;
const snapshotFilesKept = 2;
const kinds: readonly EntryKind[] = ['normal', 'noop', 'conf'];
const entryHeaderBytes = 17;

function entryRecord(e: Entry): WalRecord {
  const payload = Buffer.allocUnsafe(entryHeaderBytes + e.data.length);
  payload.writeDoubleLE(e.term, 0);
  payload.writeDoubleLE(e.index, 8);
  payload[16] = kinds.indexOf(e.kind);
  payload.set(e.data, entryHeaderBytes);
  return { type: ENTRY, payload };
}

/** The index of the entry whose record payload starts at `start` of `bytes`. */
function entryIndexAt(bytes: Buffer, start: number): number {
  const index = bytes.readDoubleLE(start + 8);
  assert(Number.isSafeInteger(index), 'a log entry record is well formed');
  return index;
}

/** The entry whose record payload is bytes [start, end). */
function decodeEntryAt(bytes: Buffer, start: number, end: number): Entry {
  const term = bytes.readDoubleLE(start);
  const index = bytes.readDoubleLE(start + 8);
  const kind = kinds[bytes[start + 16]!];
  assert(kind !== undefined && end - start >= entryHeaderBytes && Number.isSafeInteger(term) && Number.isSafeInteger(index), 'a log entry record is well formed');
  // A view of the segment's bytes (no copy), as a plain Uint8Array (the core's entries are).
  return { term, index, kind, data: new Uint8Array(bytes.buffer, bytes.byteOffset + start + entryHeaderBytes, end - start - entryHeaderBytes) };
}

function hardStateRecord(hs: HardState): WalRecord {
  const payload = Buffer.allocUnsafe(24);
  payload.writeDoubleLE(hs.term, 0);
  payload.writeDoubleLE(hs.vote, 8);
  payload.writeDoubleLE(hs.commit, 16);
  return { type: HARD_STATE, payload };
}

function decodeHardState(payload: Uint8Array): HardState {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return { term: view.getFloat64(0, true), vote: view.getFloat64(8, true), commit: view.getFloat64(16, true) };
}

/**
 * The durable Raft log, hard state and snapshot metadata, in a write-ahead log of their own
 * (wal.ts: preallocated segment files, `fdatasync`; decision 50). Snapshot data lives in files
 * next to it (written, fsynced and renamed before the metadata that names them). One `persist`
 * call is one write of the log (synced if asked): the group commit of everything the core
 * produced since the previous one.
 *
 * The log is only appended to. A later record supersedes: an entry at an index already in the log
 * replaces it and everything after it, a snapshot received from the leader replaces the whole log,
 * the latest hard state and snapshot metadata are the ones that count. Compaction deletes whole
 * segments whose entries are all before the compaction point; every segment starts with the hard
 * state and snapshot metadata of the moment it was started, so no later segment needs an earlier one.
 */
export class RaftStorage {
  private firstIndex = 1;
  private lastIndex = 0;
  /** The metadata of the newest snapshot recorded (loaded, received or taken). */
  private snapshotMeta: SnapshotMeta | null = null;
  private hardState: HardState | null = null;
  /** A hard state written with `sync: false` and not yet in the log (see `persist`). */
  private deferredHardState: HardState | null = null;
  /** The highest entry index appended in each segment that holds entries. */
  private readonly lastEntryOf = new Map<number, number>();
  private wal: WriteAheadLog | null = null;
  private image: RaftImage | null = null;

  private constructor(
    private readonly o: RaftStorageOptions,
    private readonly snapshotDir: string,
  ) {}

  static async open(o: RaftStorageOptions): Promise<RaftStorage> {
    await mkdir(o.snapshotDir, { recursive: true });
    // A snapshot file still being written when the last process ended: never renamed, never used.
    for (const f of await readdir(o.snapshotDir)) if (f.startsWith('snap-') && f.endsWith('.tmp')) await rm(join(o.snapshotDir, f), { force: true });
    const storage = new RaftStorage(o, o.snapshotDir);
    if (o.legacy !== undefined) await moveLegacyLog(o, o.legacy);
    const { wal, segments } = await WriteAheadLog.open({
      dir: o.walDir,
      segmentBytes: o.segmentBytes ?? defaultSegmentBytes,
      header: () => storage.headerRecords(),
      ...(o.powerLoss === true ? { powerLoss: true } : {}),
    });
    storage.wal = wal;
    storage.image = storage.replay(segments);
    return storage;
  }

  /** What the log holds: the state a restarted node starts from. */
  async load(): Promise<RaftImage> {
    const image = this.image;
    assert(image !== null, 'load is called once, after open');
    this.image = null;
    return Promise.resolve(image);
  }

  /**
   * The state the records add up to. Two passes: the first follows which record holds each entry
   * of the final log (a later entry at an index replaces it and every entry after it, an installed
   * snapshot replaces the whole log) reading only indexes; the second decodes the entries that
   * are kept, so that entries replaced or left out below the latest snapshot cost no object.
   */
  private replay(segments: readonly ReplayedSegment[]): RaftImage {
    // The record of each entry of the log as it stands, entry `first + i` at i: segment, record.
    const where: number[] = [];
    let first = 0;
    for (let s = 0; s < segments.length; s++) {
      const segment = segments[s]!;
      for (let k = 0; k < segment.count; k++) {
        switch (segment.type(k)) {
          case ENTRY: {
            const index = entryIndexAt(segment.bytes, segment.start(k));
            const last = where.length === 0 ? index - 1 : first + where.length / 2 - 1;
            assert(index <= last + 1, `the durable log is contiguous at ${index} (segment ${segment.seq})`);
            if (where.length === 0 || index < first) {
              where.length = 0;
              first = index;
            } else if (index <= last) where.length = 2 * (index - first);
            where.push(s, k);
            this.lastEntryOf.set(segment.seq, index);
            break;
          }
          case HARD_STATE:
            this.hardState = decodeHardState(segment.payload(k));
            break;
          case SNAPSHOT_INSTALLED:
            this.snapshotMeta = packr.unpack(segment.payload(k)) as SnapshotMeta;
            where.length = 0;
            break;
          case SNAPSHOT_RECORDED: {
            const meta = packr.unpack(segment.payload(k)) as SnapshotMeta;
            if (this.snapshotMeta === null || meta.index >= this.snapshotMeta.index) this.snapshotMeta = meta;
            break;
          }
          default:
            assert(false, `a Raft log record of a known type (${segment.type(k)}, segment ${segment.seq})`);
        }
      }
    }
    const keepFrom = this.snapshotMeta === null || this.o.trailingEntries === undefined ? 0 : this.snapshotMeta.index - this.o.trailingEntries;
    const entries: Entry[] = [];
    for (let i = Math.max(0, keepFrom - first); i < where.length / 2; i++) {
      const segment = segments[where[2 * i]!]!;
      const k = where[2 * i + 1]!;
      entries.push(decodeEntryAt(segment.bytes, segment.start(k), segment.end(k)));
    }
    this.firstIndex = entries[0]?.index ?? (this.snapshotMeta?.index ?? 0) + 1;
    this.lastIndex = entries[entries.length - 1]?.index ?? this.firstIndex - 1;
    return { hardState: this.hardState, snapshotMeta: this.snapshotMeta, entries };
  }

  /** What a new segment starts with: the state that no earlier segment is needed for. */
  private headerRecords(): WalRecord[] {
    const records: WalRecord[] = [];
    if (this.snapshotMeta !== null) records.push({ type: SNAPSHOT_RECORDED, payload: packr.pack(this.snapshotMeta) });
    if (this.hardState !== null) records.push(hardStateRecord(this.hardState));
    return records;
  }

  private get log(): WriteAheadLog {
    assert(this.wal !== null, 'the Raft log is open');
    return this.wal;
  }

  /**
   * One write: snapshot metadata (replacing the whole log), entries (replacing any suffix), hard
   * state. Every write is durable when it resolves, except a hard state alone with `sync: false`
   * (the core asks for no sync when only the commit index moved): that one waits in memory and goes
   * first in the next write, so that it costs no sync of its own. A commit index lost with it is
   * safe: a restart learns the commit index again (from the leader, and at least the store's
   * applied index).
   */
  persist(input: PersistInput): Promise<void> {
    if (!input.sync && input.entries.length === 0 && input.snapshotMeta === null) {
      if (input.hardState !== null) this.hardState = this.deferredHardState = input.hardState;
      return Promise.resolve();
    }
    const records: WalRecord[] = [];
    if (this.deferredHardState !== null) records.push(hardStateRecord(this.deferredHardState));
    this.deferredHardState = null;
    if (input.snapshotMeta !== null) records.push({ type: SNAPSHOT_INSTALLED, payload: packr.pack(input.snapshotMeta) });
    for (const e of input.entries) records.push(entryRecord(e));
    if (input.hardState !== null) records.push(hardStateRecord(input.hardState));
    const written = this.log.append(records);
    // Recorded at once, as the records' place in the log is: a later call sees them (and a later
    // saveSnapshotMeta must see a snapshot received before it).
    if (input.snapshotMeta !== null) {
      this.snapshotMeta = input.snapshotMeta;
      this.firstIndex = input.snapshotMeta.index + 1;
      this.lastIndex = input.snapshotMeta.index;
    }
    if (input.entries.length > 0) {
      const first = input.entries[0]!.index;
      if (this.lastIndex < this.firstIndex || first < this.firstIndex) this.firstIndex = first;
      this.lastIndex = input.entries[input.entries.length - 1]!.index;
      this.lastEntryOf.set(this.log.currentSegment, this.lastIndex);
    }
    if (input.hardState !== null) this.hardState = input.hardState;
    return written;
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
    await this.log.append([{ type: SNAPSHOT_RECORDED, payload: packr.pack(meta) }]);
    return true;
  }

  /** The newest snapshot this node holds (its file is durable), or null before the first. */
  latestSnapshot(): SnapshotMeta | null {
    return this.snapshotMeta;
  }

  /**
   * Entries before `index` are no longer needed (the entry at `index` stays: it carries the
   * compaction term). Deletes the oldest segments whose entries all come before it; a segment
   * holding any later entry stays whole, so the log may keep some entries before `index`.
   */
  async compactBefore(index: number): Promise<void> {
    if (index <= this.firstIndex) return;
    const gone: number[] = [];
    await this.log.deleteSegments((seq) => {
      const unneeded = (this.lastEntryOf.get(seq) ?? 0) < index;
      if (unneeded) gone.push(seq);
      return unneeded;
    });
    for (const seq of gone) this.lastEntryOf.delete(seq);
    this.firstIndex = Math.max(this.firstIndex, Math.min(index, this.lastIndex + 1));
  }

  /** Writes a hard state still waiting (see `persist`), waits for the log's writes and closes its file. */
  async close(): Promise<void> {
    if (this.deferredHardState !== null) await this.log.append([hardStateRecord(this.deferredHardState)]).catch(() => undefined);
    this.deferredHardState = null;
    await this.wal?.close();
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

// -- the log of an older version ------------------------------------------------------------------

const LEGACY_HARD_STATE = Buffer.from('h');
const LEGACY_SNAPSHOT_META = Buffer.from('s');
const LEGACY_ENTRY_PREFIX = 0x65; // 'e', then the index as u64 BE

/**
 * A data directory of a version before decision 50 keeps its log in LevelDB. It is copied into a
 * new log beside (`<walDir>.moving`), synced, renamed into place (the moment it counts), and only
 * then deleted from LevelDB; a crash at any point leaves one whole copy to start from.
 */
async function moveLegacyLog(o: RaftStorageOptions, legacy: LegacyRaftDatabase): Promise<void> {
  const exists = await stat(o.walDir).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  const everything = { gte: Buffer.from([0]), lte: Buffer.from([0xff]) };
  if (exists) {
    await legacy.clear(everything); // moved earlier; the process ended before this deletion
    return;
  }
  const hs = await legacy.get(LEGACY_HARD_STATE);
  if (hs === undefined) return; // a new member, or one of this version
  const meta = await legacy.get(LEGACY_SNAPSHOT_META);
  const entries: Entry[] = [];
  const it = legacy.iterator({ gte: Buffer.from([LEGACY_ENTRY_PREFIX]), lt: Buffer.from([LEGACY_ENTRY_PREFIX + 1]), highWaterMarkBytes: 4 * 1024 * 1024 });
  try {
    for (let page = await it.nextv(8_192); page.length > 0; page = await it.nextv(8_192)) {
      for (const [k, v] of page) {
        const [term, kind, data] = packr.unpack(v) as [number, number, Uint8Array];
        entries.push({ term, index: Number(k.readBigUInt64BE(1)), kind: kinds[kind]!, data: new Uint8Array(data) });
      }
    }
  } finally {
    await it.close();
  }
  const moving = `${o.walDir}.moving`;
  await rm(moving, { recursive: true, force: true });
  const into = await RaftStorage.open({ walDir: moving, snapshotDir: o.snapshotDir, segmentBytes: o.segmentBytes ?? defaultSegmentBytes });
  if (meta !== undefined) assert(await into.saveSnapshotMeta(packr.unpack(meta) as SnapshotMeta), 'a new log records a snapshot');
  await into.persist({ hardState: packr.unpack(hs) as HardState, entries, snapshotMeta: null, sync: true });
  await into.close();
  await rename(moving, o.walDir);
  const parent = await open(dirname(o.walDir), 'r');
  try {
    await parent.sync();
  } finally {
    await parent.close();
  }
  await legacy.clear(everything);
}
