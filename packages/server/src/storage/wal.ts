import { constants } from 'node:fs';
import { crc32 } from 'node:zlib';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ServerError } from '../errors.js';

/**
 * An append-only log of typed records in preallocated segment files, written with `O_DSYNC`: what
 * etcd's WAL and ZooKeeper's transaction log are, for the Raft log (decision 50).
 *
 * A segment is a file of `segmentBytes` zeros made ahead of need, written front to back, then
 * sealed for good when a batch does not fit. A record is
 *
 *     u32 LE  payload length
 *     u32 LE  CRC-32 of (type, payload), seeded with the previous record's CRC
 *     u8      type (never 0)
 *     payload
 *
 * and the first record of segment `n` is seeded with the CRC of `n` itself. A record of zeros ends
 * a segment. Chaining the CRCs means that bytes left behind by an earlier life (a torn write
 * followed by records that reached the disk before it) can never pass for a record that follows a
 * newer one. At open, the last segment ends at its first record that is not whole and valid: the
 * unsynced tail of a crash, which is then overwritten with zeros before anything is appended. Any
 * other segment must end in zeros: one that does not is damaged, and the member refuses to start.
 *
 * The log never rewrites a record. Its user (RaftStorage) gives records their meaning, including
 * that a later record may supersede earlier ones; each new segment starts with header records the
 * user supplies (the state that older segments held), so that a prefix of whole segments can be
 * deleted once nothing in it is needed.
 */

export interface WalRecord {
  readonly type: number;
  readonly payload: Uint8Array;
}

/**
 * The records one segment held at open, without an object per record (a log of 100,000 entries
 * is read at every start): record `k` has type `type(k)` and its payload is bytes
 * `[start(k), end(k))` of `bytes`, a copy of the segment's used part.
 */
export class ReplayedSegment {
  /** type, start, end of each record, one after another. */
  readonly #spans: number[];

  constructor(
    readonly seq: number,
    readonly bytes: Buffer,
    spans: number[],
  ) {
    this.#spans = spans;
  }

  get count(): number {
    return this.#spans.length / 3;
  }

  type(k: number): number {
    return this.#spans[3 * k]!;
  }

  start(k: number): number {
    return this.#spans[3 * k + 1]!;
  }

  end(k: number): number {
    return this.#spans[3 * k + 2]!;
  }

  /** Record `k`'s payload: a view, not a copy. */
  payload(k: number): Buffer {
    return this.bytes.subarray(this.start(k), this.end(k));
  }
}

export interface WalOptions {
  readonly dir: string;
  /** The size segments are preallocated to; a batch larger than that gets a segment of its own size. */
  readonly segmentBytes: number;
  /** The records a new segment starts with (the state older segments hold). */
  readonly header: () => readonly WalRecord[];
  /**
   * Test-only (testing/power-loss.ts): remember how far the log is synced, and at open lose
   * everything after it, as a power cut at the moment of the last kill would.
   */
  readonly powerLoss?: boolean;
}

const headerBytes = 9;
/** Segments are written with O_DSYNC: a write that has completed is durable. */
const segmentFlags = constants.O_RDWR | constants.O_DSYNC;
const segmentSuffix = '.wal';
const preparingSuffix = '.wal.tmp';
const syncedPositionFile = 'power-loss-synced';
const zeroChunk = Buffer.alloc(1 << 20);

function segmentName(seq: number): string {
  return `${String(seq).padStart(16, '0')}${segmentSuffix}`;
}

function segmentSeed(seq: number): number {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(seq));
  return crc32(b);
}

/** The CRC of a record whose type byte and payload are `typeAndPayload` (they are adjacent in a record). */
function recordCrc(typeAndPayload: Uint8Array, previous: number): number {
  return crc32(typeAndPayload, previous);
}

/** Where the next record of the log goes. */
interface Tail {
  seq: number;
  offset: number;
  crc: number;
  /** The segment's size on disk (preallocated, or larger for one large batch). */
  size: number;
}

export class WriteAheadLog {
  /** The file of the segment being written. */
  private file: FileHandle | null = null;
  private fileSeq = -1;
  /** Segments on disk, oldest first (the last one is being written). */
  private readonly segments: number[];
  /** Where the next record goes: moved at once by `append`, so that records land in call order. */
  private tail: Tail;
  /** The I/O of appends, one at a time in call order. */
  private chain: Promise<void> = Promise.resolve();
  /** The next segment's file, being made ahead of need. */
  private preparing: { seq: number; done: Promise<void> } | null = null;
  private failure: unknown = undefined;

  private constructor(
    private readonly o: WalOptions,
    segments: number[],
    tail: Tail,
  ) {
    this.segments = segments;
    this.tail = tail;
  }

  /** Opens (creating if needed) the log in `o.dir` and returns it with every record it holds, segment by segment in order. */
  static async open(o: WalOptions): Promise<{ wal: WriteAheadLog; segments: ReplayedSegment[] }> {
    await mkdir(o.dir, { recursive: true });
    const names = await readdir(o.dir);
    for (const n of names) if (n.endsWith(preparingSuffix)) await rm(join(o.dir, n), { force: true });
    let segments = names
      .filter((n) => n.endsWith(segmentSuffix))
      .map((n) => Number(n.slice(0, -segmentSuffix.length)))
      .sort((a, b) => a - b);
    if (o.powerLoss === true) segments = await loseUnsynced(o.dir, segments);
    const replayed: ReplayedSegment[] = [];
    let tail: Tail | null = null;
    // One buffer read into for every segment (readSegment copies out what a segment holds): a
    // restart does not allocate and collect a segment's preallocated size per segment.
    let scratch = Buffer.alloc(0);
    for (let k = 0; k < segments.length; k++) {
      const seq = segments[k]!;
      const path = join(o.dir, segmentName(seq));
      const size = (await stat(path)).size;
      if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, o.segmentBytes));
      const bytes = scratch.subarray(0, await readInto(path, scratch, size));
      const { end, crc, clean, records } = readSegment(seq, bytes);
      replayed.push(records);
      const last = k === segments.length - 1;
      if (!clean && !last) {
        throw new ServerError('DATA_DIR_INVALID', `the Raft log segment ${segmentName(seq)} in ${o.dir} is damaged at byte ${end} (a record that is not whole and valid, before the last segment); restore the member from a backup or remove its data directory to rejoin as a new member`);
      }
      if (last) {
        tail = { seq, offset: end, crc, size: bytes.length };
        // What the last life left: its unsynced tail made zeros (a torn write), and the records
        // read here made durable before this life acts on them (a kill -9 leaves them in the page
        // cache only) and before a later segment can be synced after them.
        await zeroFrom(join(o.dir, segmentName(seq)), clean ? bytes.length : end, bytes.length);
      }
    }
    const wal = new WriteAheadLog(o, segments, tail ?? { seq: 0, offset: 0, crc: segmentSeed(0), size: 0 });
    if (tail !== null) wal.prepareAhead(Promise.resolve(), tail.seq + 1);
    else {
      // A new log: its first segment, with the header, before anything else.
      await wal.cut();
      await wal.chain;
    }
    return { wal, segments: replayed };
  }

  /**
   * Appends records in one write, after every earlier append, and resolves once they are durable
   * (the segment is open with `O_DSYNC`: one system call writes and syncs). Records land in call
   * order whatever their I/O does.
   */
  append(records: readonly WalRecord[]): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(new Error('the Raft log failed earlier', { cause: this.failure }));
    let bytes = 0;
    for (const r of records) bytes += headerBytes + r.payload.length;
    if (this.tail.offset + bytes > this.tail.size) this.cut(bytes);
    const buffer = this.encode(records, bytes);
    const { seq, offset } = { seq: this.tail.seq, offset: this.tail.offset };
    this.tail.offset += bytes;
    return this.enqueue(async () => {
      const file = await this.fileOf(seq);
      await file.write(buffer, 0, buffer.length, offset);
      await this.synced(seq, offset + buffer.length);
    });
  }

  /** The segment the next record goes to. */
  get currentSegment(): number {
    return this.tail.seq;
  }

  /**
   * Deletes the oldest segments while `unneeded(seq)` says so, never the one being written; stops
   * at the first that is needed (only a prefix of the log can go). Returns how many went.
   */
  deleteSegments(unneeded: (seq: number) => boolean): Promise<number> {
    let n = 0;
    while (n < this.segments.length - 1 && this.segments[n]! !== this.tail.seq && unneeded(this.segments[n]!)) n++;
    const gone = this.segments.splice(0, n);
    if (gone.length === 0) return Promise.resolve(0);
    return this.enqueue(async () => {
      for (const seq of gone) await rm(join(this.o.dir, segmentName(seq)), { force: true });
      return undefined;
    }).then(() => gone.length);
  }

  /** Waits for every append, then closes the segment file. */
  async close(): Promise<void> {
    await this.chain.catch(() => undefined);
    await this.preparing?.done.catch(() => undefined);
    await this.file?.close();
    this.file = null;
  }

  // ---------------------------------------------------------------------------------------------

  /**
   * Starts a new segment for what follows (`atLeast` bytes of it, besides the header): the one
   * being written is sealed (every write to it is already durable), the next one's file is made ready (zeros, synced,
   * renamed into place, directory synced), and its header records go first.
   */
  private cut(atLeast = 0): void {
    const seq = this.segments.length === 0 ? this.tail.seq : this.tail.seq + 1;
    const header = this.o.header();
    let headerSize = 0;
    for (const r of header) headerSize += headerBytes + r.payload.length;
    const size = Math.max(this.o.segmentBytes, headerSize + atLeast);
    const prepared = this.prepared(seq, size);
    this.tail = { seq, offset: 0, crc: segmentSeed(seq), size };
    this.segments.push(seq);
    const buffer = this.encode(header, headerSize);
    this.tail.offset = headerSize;
    void this.enqueue(async () => {
      await prepared;
      await rename(join(this.o.dir, `${segmentName(seq)}.tmp`), join(this.o.dir, segmentName(seq)));
      await syncDir(this.o.dir);
      const file = await this.fileOf(seq);
      await file.write(buffer, 0, buffer.length, 0);
      await this.synced(seq, buffer.length);
    }).catch(() => undefined); // the failure is kept and reported by the next append
  }

  /**
   * The file of segment `seq` (zeros, synced, under its temporary name): the one made ahead if it
   * is that one, else made now. Either way the segment after it is started at once, so that a
   * segment is usually ready before it is needed.
   */
  private prepared(seq: number, size: number): Promise<void> {
    const ahead = this.preparing;
    const made =
      ahead !== null && ahead.seq === seq && size <= this.o.segmentBytes
        ? ahead.done.catch(() => makeSegmentFile(this.o.dir, seq, size))
        : (ahead?.done ?? Promise.resolve()).catch(() => undefined).then(() => makeSegmentFile(this.o.dir, seq, size));
    this.prepareAhead(made, seq + 1);
    return made;
  }

  private prepareAhead(after: Promise<void>, seq: number): void {
    const done = after.catch(() => undefined).then(() => makeSegmentFile(this.o.dir, seq, this.o.segmentBytes));
    done.catch(() => undefined); // if it failed, the cut that needs it makes it again
    this.preparing = { seq, done };
  }

  private async fileOf(seq: number): Promise<FileHandle> {
    if (this.fileSeq === seq && this.file !== null) return this.file;
    await this.file?.close();
    this.file = null;
    this.file = await open(join(this.o.dir, segmentName(seq)), segmentFlags);
    this.fileSeq = seq;
    return this.file;
  }

  /** A write to the segment has completed: durable, and with it everything before it, if the segment syncs its writes. */
  private async synced(seq: number, end: number): Promise<void> {
    if (this.o.powerLoss !== true || (segmentFlags & constants.O_DSYNC) === 0) return;
    // Renamed into place, so that a kill mid-write leaves the previous position whole.
    const path = join(this.o.dir, syncedPositionFile);
    await writeFile(`${path}.next`, `${seq} ${end}\n`);
    await rename(`${path}.next`, path);
  }

  private encode(records: readonly WalRecord[], bytes: number): Buffer {
    const buffer = Buffer.allocUnsafe(bytes);
    let at = 0;
    let crc = this.tail.crc;
    for (const r of records) {
      const end = at + headerBytes + r.payload.length;
      buffer.writeUInt32LE(r.payload.length, at);
      buffer[at + 8] = r.type;
      buffer.set(r.payload, at + headerBytes);
      crc = recordCrc(buffer.subarray(at + 8, end), crc);
      buffer.writeUInt32LE(crc, at + 4);
      at = end;
    }
    this.tail.crc = crc;
    return buffer;
  }

  private enqueue<T>(io: () => Promise<T>): Promise<T> {
    const done = this.chain.then(() => {
      if (this.failure !== undefined) throw new Error('the Raft log failed earlier', { cause: this.failure });
      return io();
    });
    this.chain = done.then(
      () => undefined,
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    return done;
  }
}

/**
 * Reads segment `seq`'s records; where they end, the CRC there, and whether only zeros follow.
 * The records are views of a copy of the segment's used bytes, so that the preallocated rest of
 * the file is not kept in memory for as long as an entry is.
 */
function readSegment(seq: number, bytes: Buffer): { end: number; crc: number; clean: boolean; records: ReplayedSegment } {
  let at = 0;
  let crc = segmentSeed(seq);
  const spans: number[] = [];
  let clean = true;
  while (at + headerBytes <= bytes.length) {
    const length = bytes.readUInt32LE(at);
    const stored = bytes.readUInt32LE(at + 4);
    const type = bytes[at + 8]!;
    if (length === 0 && stored === 0 && type === 0) break;
    const end = at + headerBytes + length;
    if (type === 0 || end > bytes.length) {
      clean = false;
      break;
    }
    const next = recordCrc(bytes.subarray(at + 8, end), crc);
    if (next !== stored) {
      clean = false;
      break;
    }
    spans.push(type, at + headerBytes, end);
    crc = next;
    at = end;
  }
  for (let i = at; clean && i < bytes.length; i += zeroChunk.length) {
    const n = Math.min(zeroChunk.length, bytes.length - i);
    clean = bytes.compare(zeroChunk, 0, n, i, i + n) === 0;
  }
  return { end: at, crc, clean, records: new ReplayedSegment(seq, Buffer.from(bytes.subarray(0, at)), spans) };
}

/** Reads the first `size` bytes of the file at `path` into `into`; how many there were. */
async function readInto(path: string, into: Buffer, size: number): Promise<number> {
  const file = await open(path, 'r');
  try {
    let done = 0;
    while (done < size) {
      const { bytesRead } = await file.read(into, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  } finally {
    await file.close();
  }
}

/** A segment file of `size` zeros under its temporary name, synced. */
async function makeSegmentFile(dir: string, seq: number, size: number): Promise<void> {
  const file = await open(join(dir, `${segmentName(seq)}.tmp`), 'w');
  try {
    for (let at = 0; at < size; at += zeroChunk.length) await file.write(zeroChunk, 0, Math.min(zeroChunk.length, size - at), at);
    await file.datasync();
  } finally {
    await file.close();
  }
}

async function zeroFrom(path: string, from: number, size: number): Promise<void> {
  const file = await open(path, 'r+');
  try {
    for (let at = from; at < size; at += zeroChunk.length) await file.write(zeroChunk, 0, Math.min(zeroChunk.length, size - at), at);
    await file.datasync();
  } finally {
    await file.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Power-loss mode: what a power cut at the last kill keeps. Everything after the last synced
 * position is lost (zeros, as the segment was preallocated), and with it any later segment; with
 * no position recorded, nothing was synced.
 */
async function loseUnsynced(dir: string, segments: number[]): Promise<number[]> {
  const { seq, end } = await syncedPosition(dir);
  const kept: number[] = [];
  for (const s of segments) {
    if (s > seq) await rm(join(dir, segmentName(s)), { force: true });
    else kept.push(s);
  }
  if (kept.includes(seq)) {
    const path = join(dir, segmentName(seq));
    await zeroFrom(path, end, (await stat(path)).size);
  }
  return kept;
}

/** The last synced position `synced` recorded; before any, one before every segment. */
async function syncedPosition(dir: string): Promise<{ seq: number; end: number }> {
  let text: string;
  try {
    text = await readFile(join(dir, syncedPositionFile), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { seq: -1, end: 0 };
  }
  const [seq, end] = text.trim().split(' ').map(Number);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(end)) throw new Error(`power-loss mode: ${syncedPositionFile} holds ${JSON.stringify(text)}, not a position`);
  return { seq: seq!, end: end! };
}
