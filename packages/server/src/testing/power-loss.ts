import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { StoreDatabase } from '@vigil/store';
import type { Logger } from '../node/logger.js';

/**
 * Power loss for real processes, test-only. A kill -9 keeps what the kernel holds in its page
 * cache, so a member that skipped an fsync would pass every crash test; a power cut keeps only
 * what was synced. With `VIGIL_POWER_LOSS=1`, a member makes every restart a power cut:
 *
 * - Each LevelDB write without `sync` first appends to a journal how to undo it (the values its
 *   keys held before), and is written only once that append has completed. A kill -9 therefore
 *   leaves in the journal every change not yet synced.
 * - A synced write empties the journal: LevelDB's write-ahead log is sequential, so the sync made
 *   everything written before it durable. Writes go to LevelDB one at a time, in the order they
 *   are made, so "before" is exact.
 * - At start-up, before the store or the Raft log reads anything, the member undoes what the
 *   journal holds, newest first: the state that a power cut at the moment of the kill would have
 *   left (the harshest one LevelDB allows, which may also keep a prefix of the unsynced writes).
 *
 * The store and the Raft log share one LevelDB (one write-ahead log), so both are journaled.
 * Snapshot files are written and fsynced outside LevelDB and are not covered (docs/testing.md).
 */
export const powerLossEnv = 'VIGIL_POWER_LOSS';

/** True when `VIGIL_POWER_LOSS` asks for the power-loss mode ('1' or 'true'). */
export function powerLossFromEnv(env: Readonly<Record<string, string | undefined>>): boolean {
  const text = env[powerLossEnv]?.trim() ?? '';
  if (text === '' || text === '0' || text === 'false') return false;
  if (text === '1' || text === 'true') return true;
  throw new Error(`${powerLossEnv}: expected 1 or 0, not "${text}"`);
}

/** The journal's file, in the data directory (beside the database it undoes). */
export const powerLossJournalFile = 'power-loss-journal';

/** A sublevel as the journal needs it: what the store uses, and `get`. */
export interface JournaledLevel {
  get(key: Buffer): Promise<Buffer | undefined>;
  batch(): { put(key: Buffer, value: Buffer): unknown; del(key: Buffer): unknown; write(options?: { sync?: boolean }): Promise<void> };
  iterator(options: { gte: Buffer; lt: Buffer; highWaterMarkBytes: number }): { nextv(size: number): Promise<[Buffer, Buffer][]>; close(): Promise<void> };
  keyEncoding(): { readonly name: string };
  valueEncoding(): { readonly name: string };
}

type LevelName = 'store';
type Op = { readonly key: Buffer; readonly value: Buffer | null };
/** One undo record: put `value` back under `key` of level `name` (delete it when null). */
type UndoRecord = [name: LevelName, key: Buffer, value: Buffer | null];

const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false });
const lengthBytes = 4;

function encodeRecords(records: readonly UndoRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    const body = packr.pack(r);
    const head = Buffer.allocUnsafe(lengthBytes);
    head.writeUInt32BE(body.length);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}

/** The complete records of a journal; a record cut short by the kill (its batch was never written) ends it. */
export function decodeJournal(bytes: Buffer): UndoRecord[] {
  const records: UndoRecord[] = [];
  let at = 0;
  while (at + lengthBytes <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    if (at + lengthBytes + length > bytes.length) break;
    records.push(packr.unpack(bytes.subarray(at + lengthBytes, at + lengthBytes + length)) as UndoRecord);
    at += lengthBytes + length;
  }
  return records;
}

export class PowerLossJournal {
  /** Writes in the order they were made, one at a time. */
  private tail: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: FileHandle,
    private readonly levels: Readonly<Record<LevelName, JournaledLevel>>,
  ) {}

  /**
   * Undoes what an earlier life left unsynced, then journals from here on. Returns the journal
   * and how many key writes were undone.
   */
  static async open(dataDir: string, levels: Readonly<Record<LevelName, JournaledLevel>>, log: Logger): Promise<{ journal: PowerLossJournal; undone: number }> {
    const path = join(dataDir, powerLossJournalFile);
    const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return Buffer.alloc(0);
      throw err;
    });
    const records = decodeJournal(bytes);
    const batches = { store: levels.store.batch() };
    // Newest first: a key written twice since the last sync gets the value it had before both.
    for (let i = records.length - 1; i >= 0; i--) {
      const [name, key, value] = records[i]!;
      if (name !== 'store') continue; // the Raft log's, from a version that kept it in LevelDB
      if (value === null) batches[name].del(key);
      else batches[name].put(key, value);
    }
    await batches.store.write({ sync: true });
    // Appending (O_APPEND), so that every write lands after a truncation, never at an old offset.
    const file = await open(path, 'a');
    await file.truncate(0);
    log.error({ undone: records.length }, 'POWER-LOSS test mode on: unsynced writes of the previous life undone, every restart is a power cut (testing only)');
    return { journal: new PowerLossJournal(file, levels), undone: records.length };
  }

  /** The store's database, journaled. */
  storeDatabase(): StoreDatabase {
    const level = this.levels.store;
    return {
      keyEncoding: () => level.keyEncoding(),
      valueEncoding: () => level.valueEncoding(),
      iterator: (options) => level.iterator(options),
      batch: () => this.batch('store'),
    };
  }

  close(): Promise<void> {
    return this.tail.then(() => this.file.close());
  }

  private batch(name: LevelName): { put(key: Buffer, value: Buffer): void; del(key: Buffer): void; write(options?: { sync?: boolean }): Promise<void> } {
    const ops: Op[] = [];
    return {
      put: (key, value) => void ops.push({ key, value }),
      del: (key) => void ops.push({ key, value: null }),
      write: (options) => {
        const written = this.tail.then(() => this.write(name, ops, options?.sync === true));
        this.tail = written.catch(() => undefined);
        return written;
      },
    };
  }

  private async write(name: LevelName, ops: readonly Op[], sync: boolean): Promise<void> {
    const level = this.levels[name];
    if (!sync) {
      const undo: UndoRecord[] = [];
      for (const op of ops) undo.push([name, op.key, (await level.get(op.key)) ?? null]);
      await this.file.write(encodeRecords(undo));
    }
    const batch = level.batch();
    for (const op of ops) {
      if (op.value === null) batch.del(op.key);
      else batch.put(op.key, op.value);
    }
    await batch.write({ sync });
    if (sync) await this.file.truncate(0);
  }
}
