/**
 * The narrow port the store needs from LevelDB: a `Level` instance or a sublevel of one satisfies
 * it. The store owns every key of the database it is given (see keys.ts), so a server sharing one
 * LevelDB with the Raft log passes
 * `db.sublevel('store', { keyEncoding: 'buffer', valueEncoding: 'buffer' })`.
 *
 * Both default encodings must be 'buffer' (checked on open): per-operation encoding options cost
 * abstract-level more than half of the apply throughput, so batches carry none.
 */
export interface StoreDatabase {
  keyEncoding(): { readonly name: string };
  valueEncoding(): { readonly name: string };
  /** A chained batch: about twice as fast as the array form in abstract-level. */
  batch(): StoreChainedBatch;
  iterator(options: {
    gte: Buffer;
    lt: Buffer;
    keyEncoding: 'buffer';
    valueEncoding: 'buffer';
    /** How many bytes one `nextv` may read ahead (classic-level's option; its default, 16 KiB, is ~140 znodes). */
    highWaterMarkBytes: number;
  }): StoreIterator;
}

export interface StoreChainedBatch {
  put(key: Buffer, value: Buffer): unknown;
  del(key: Buffer): unknown;
  /** `sync`: durable when it resolves (LevelDB syncs its write-ahead log), and with it every earlier write. */
  write(options?: { sync?: boolean }): Promise<void>;
}

export type StoreBatchOperation =
  | { type: 'put'; key: Buffer; value: Buffer }
  | { type: 'del'; key: Buffer };

export interface StoreIterator {
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  close(): Promise<void>;
}
