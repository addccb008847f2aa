/**
 * Three RaftDrivers in one process (raft-driver-reads.test.ts, peer-messages.test.ts), each on its
 * own LevelDB in a temporary directory, wired by a router the test controls. The drivers are not
 * started: nothing ticks, so every step happens because the test asked for it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { Logger } from '../src/node/logger.js';
import { createPrng, RawNode, type Message, type NodeId } from '@vigil/raft';
import { Store } from '@vigil/store';
import { RaftDriver, type DriverObserver } from '../src/consensus/raft-driver.js';
import { RaftStorage } from '../src/storage/raft-storage.js';

const buffers = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;

export interface DriverMember {
  readonly raw: RawNode;
  readonly driver: RaftDriver;
  readonly store: Store;
  readonly storage: RaftStorage;
  readonly db: Level<Buffer, Buffer>;
}

export interface DriverClusterOptions {
  readonly ids: readonly NodeId[];
  /** Delivers what a driver sends; `members` holds every member by then. */
  readonly route: (msgs: readonly Message[], members: ReadonlyMap<NodeId, DriverMember>) => void;
  readonly logger: (id: NodeId) => Logger;
  readonly removed?: ReadonlySet<NodeId>;
  readonly onFatal: (err: unknown) => void;
  /** `snapshotEveryEntries` of every driver (default: never, in practice). */
  readonly snapshotEveryEntries?: number;
  readonly observer?: (id: NodeId) => DriverObserver;
  /** Gets one closer per member and one for the directory; the caller runs them newest first. */
  readonly cleanups: (() => Promise<void>)[];
}

/** Bootstraps `ids` as founders of one cluster, one driver each (not started). */
export async function driverCluster(o: DriverClusterOptions): Promise<Map<NodeId, DriverMember>> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-drivers-'));
  o.cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const members = new Map<NodeId, DriverMember>();
  for (const id of o.ids) {
    const db = new Level<Buffer, Buffer>(join(dir, `n${id}`), buffers);
    await db.open();
    const store = await Store.open({ db: db.sublevel<Buffer, Buffer>('store', buffers) });
    const storage = await RaftStorage.open({ walDir: join(dir, `w${id}`), snapshotDir: join(dir, `s${id}`) });
    await storage.load();
    const durable = RawNode.bootstrap([...o.ids]);
    await storage.persist({ hardState: durable.hardState, entries: durable.entries, snapshotMeta: null, sync: true });
    const raw = new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, prng: createPrng(id) }, durable);
    const driver = new RaftDriver({
      raw,
      storage,
      store,
      send: (msgs) => o.route(msgs, members),
      members: new Map(),
      removed: new Set(o.removed ?? []),
      onMembersChanged: () => undefined,
      logger: o.logger(id),
      tickMs: 50,
      electionTicks: 10,
      snapshotEveryEntries: o.snapshotEveryEntries ?? 1_000_000,
      logTrailingEntries: 10,
      snapshotIndex: 0,
      onFatal: o.onFatal,
      ...(o.observer === undefined ? {} : { observer: o.observer(id) }),
    });
    members.set(id, { raw, driver, store, storage, db });
    o.cleanups.push(async () => {
      await driver.close();
      await storage.close();
      await store.close();
      await db.close();
    });
  }
  return members;
}

export function member<M>(members: ReadonlyMap<NodeId, M>, id: NodeId): M {
  const m = members.get(id);
  if (m === undefined) throw new Error(`no member ${id}`);
  return m;
}
