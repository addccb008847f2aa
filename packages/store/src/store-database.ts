/**
 * The narrow port the store needs from LevelDB: a `Level` instance or a sublevel of one satisfies
 * it. The store owns every key of the database it is given (see keys.ts), so a server sharing one
 * LevelDB with the Raft log passes `db.sublevel('store', …)`.
 */
export interface StoreDatabase {
  batch(
    operations: StoreBatchOperation[],
    options: { keyEncoding: 'buffer'; valueEncoding: 'buffer'; sync?: boolean },
  ): Promise<void>;
  iterator(options: {
    gte: Buffer;
    lt: Buffer;
    keyEncoding: 'buffer';
    valueEncoding: 'buffer';
  }): StoreIterator;
}

export type StoreBatchOperation =
  | { type: 'put'; key: Buffer; value: Buffer }
  | { type: 'del'; key: Buffer };

export interface StoreIterator {
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  close(): Promise<void>;
}
