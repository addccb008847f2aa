import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { createRootLogger } from '../src/node/logger.js';
import { decodeJournal, powerLossFromEnv, powerLossJournalFile, PowerLossJournal } from '../src/testing/power-loss.js';

const buffers = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const b = (s: string): Buffer => Buffer.from(s);
const log = createRootLogger({ level: 'silent', nodeId: 1 });

/**
 * The power-loss journal: what a member wrote without sync is undone at its next start, what a
 * synced write covered stays. A "life" here ends by closing LevelDB without syncing, which, like a
 * kill -9, keeps every write in the database: only the journal can take them back.
 */
describe('PowerLossJournal', () => {
  let dir: string;
  let db: Level<Buffer, Buffer>;
  let journal: PowerLossJournal;

  /** Start a life: open the database and undo what the previous life left unsynced. */
  async function life(): Promise<number> {
    db = new Level<Buffer, Buffer>(join(dir, 'db'), buffers);
    await db.open();
    const opened = await PowerLossJournal.open(dir, { store: db.sublevel('store', buffers) }, log);
    journal = opened.journal;
    return opened.undone;
  }

  async function end(): Promise<void> {
    await journal.close();
    await db.close();
  }

  async function read(key: string): Promise<string | undefined> {
    return (await db.sublevel<Buffer, Buffer>('store', buffers).get(b(key)))?.toString();
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-power-loss-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('unsynced writes after the last sync are undone, newest first; synced ones and those before them stay', async () => {
    expect(await life()).toBe(0);
    const store = async (pairs: [string, string | null][], sync = false): Promise<void> => {
      const batch = journal.storeDatabase().batch();
      for (const [k, v] of pairs) if (v === null) batch.del(b(k)); else batch.put(b(k), b(v));
      await batch.write({ sync });
    };
    await store([['a', 'a1'], ['gone', 'g1']]);
    await store([['i', 'i1']], true); // covers a1 and g1 too
    await store([['a', 'a2'], ['new', 'n1']]);
    await store([['a', 'a3'], ['gone', null]]);
    await store([['i', 'i2']]);
    // Before the power cut, everything is readable (reads see unsynced writes).
    expect([await read('a'), await read('gone'), await read('i')]).toEqual(['a3', undefined, 'i2']);
    await end();

    expect(await life()).toBe(5);
    expect(await read('a')).toBe('a1');
    expect(await read('gone')).toBe('g1');
    expect(await read('new')).toBeUndefined();
    expect(await read('i')).toBe('i1');
    await end();
    // The undo was synced and the journal emptied: a second start changes nothing.
    expect(await life()).toBe(0);
    expect(await read('a')).toBe('a1');
    await end();
  });

  test('a record cut short by the kill is ignored (its batch was never written)', async () => {
    await life();
    const batch = journal.storeDatabase().batch();
    batch.put(b('k'), b('v1'));
    await batch.write();
    await end();
    await appendFile(join(dir, powerLossJournalFile), Buffer.from([0, 0, 0, 200, 1, 2, 3]));
    expect(decodeJournal(await readFile(join(dir, powerLossJournalFile)))).toHaveLength(1);
    expect(await life()).toBe(1);
    expect(await read('k')).toBeUndefined();
    await end();
  });

  test('VIGIL_POWER_LOSS is 1 or 0; anything else is an error, not ignored', () => {
    expect(powerLossFromEnv({})).toBe(false);
    expect(powerLossFromEnv({ VIGIL_POWER_LOSS: '1' })).toBe(true);
    expect(powerLossFromEnv({ VIGIL_POWER_LOSS: '0' })).toBe(false);
    expect(() => powerLossFromEnv({ VIGIL_POWER_LOSS: 'yes' })).toThrow(/VIGIL_POWER_LOSS/);
  });
});
