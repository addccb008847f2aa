// What the tests of ZooKeeper's recipes (Kazoo's and Curator's, run as helper processes) share:
// the fixture each describe sets up, and the checks of a lock's and an election's run.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { waitFor } from './cluster.js';
import { JsonLineProcess, type Report } from './json-line-process.js';
import { type Client, closeClient, getData, openClient, sync } from './zookeeper-node-client.js';
import { killLeaderAndRestart, startTarget, type ZooKeeperTarget, type ZooKeeperTargetName } from './zookeeper-target.js';

// ---- the fixture: the target, an observer session on it, and the helper processes ----

export interface RecipeFixture {
  /** The server under test (set from the describe's beforeAll on). */
  readonly target: ZooKeeperTarget;
  /** A node-zookeeper-client session on it, for the test's own reads and writes. */
  readonly observer: Client;
  /** Starts a helper process; it is killed after the test if it is still running. */
  start(command: string, args: readonly string[], options: { cwd: string; deadlineMs: number }): JsonLineProcess;
}

/** Registers the fixture's hooks in the calling describe. */
export function recipeFixture(name: ZooKeeperTargetName): RecipeFixture {
  let target: ZooKeeperTarget | undefined;
  let observer: Client | undefined;
  const started: JsonLineProcess[] = [];
  beforeAll(async () => {
    target = await startTarget(name);
    observer = await openClient(target.connectString);
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      p.kill();
      await p.exited;
    }
  });
  afterAll(async () => {
    if (observer !== undefined) await closeClient(observer);
    await target?.stop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`the ${what} is not set up (beforeAll failed?)`);
    return value;
  };
  return {
    get target() {
      return ready(target, 'target');
    },
    get observer() {
      return ready(observer, 'observer');
    },
    start(command, args, options) {
      const p = JsonLineProcess.start(command, args, options);
      started.push(p);
      return p;
    },
  };
}

// ---- a lock: every holder moved a state znode from "free" to its own value and back by
// compare-and-set inside the lock, reporting the versions of its enter and leave ----

/** Vigil only (killLeaderAndRestart): once a quarter of the `rounds` are done, the Raft leader is killed and restarted. */
export async function killLeaderMidContention(target: ZooKeeperTarget, observer: Client, statePath: string, rounds: number): Promise<void> {
  if (target.cluster === null) return;
  await waitFor('a quarter of the rounds', async () => ((await getData(observer, statePath).catch(() => null))?.stat.version ?? 0) >= rounds / 2 ? true : undefined, 30_000, 20);
  await killLeaderAndRestart(target);
}

/**
 * No violation or error reported; the rounds' [enter, leave] version intervals are disjoint and
 * consecutive (1-2, 3-4, …: no two holders interleaved their compare-and-sets); the state ends free
 * at version 2 × rounds.
 */
export async function expectExclusiveRounds(reports: readonly Report[], observer: Client, statePath: string, rounds: number): Promise<void> {
  expect(reports.filter((r) => 'violation' in r || 'error' in r)).toEqual([]);
  const intervals = reports.filter((r) => typeof r['enter'] === 'number').map((r) => ({ enter: r['enter'] as number, leave: r['leave'] as number }));
  expect(intervals).toHaveLength(rounds);
  intervals.sort((x, y) => x.enter - y.enter);
  intervals.forEach((r, k) => expect(r).toEqual({ enter: 2 * k + 1, leave: 2 * k + 2 }));
  // The observer's member may not have applied the holders' last writes yet: sync first.
  await sync(observer, statePath);
  expect(await getData(observer, statePath)).toMatchObject({ data: 'free', stat: { version: 2 * rounds } });
}

// ---- an election: the leader holds an ephemeral marker znode with its id ----

/** The marker at `path` names `leader` (the id in its `elected` report); the observer syncs first, as the marker was written through another session. */
export async function expectMarkerOf(observer: Client, path: string, leader: JsonLineProcess): Promise<void> {
  await sync(observer, path);
  expect((await getData(observer, path)).data).toBe(leader.reports.find((r) => r['elected'])!['candidate']);
}

/** The candidates that reported `elected`, in the order given. */
export function electedOf(candidates: readonly JsonLineProcess[]): JsonLineProcess[] {
  return candidates.filter((c) => c.has((r) => r['elected'] === true));
}

/** The one candidate elected after those in `before` (none: the first leader); exactly one. */
export async function nextLeader(candidates: readonly JsonLineProcess[], before: readonly JsonLineProcess[] = []): Promise<JsonLineProcess> {
  const now = await waitFor(`leader ${before.length + 1}`, () => {
    const elected = electedOf(candidates);
    return elected.length > before.length ? elected.filter((c) => !before.includes(c)) : undefined;
  }, 30_000, 20);
  expect(now).toHaveLength(1);
  return now[0]!;
}

/**
 * The end of an election's run, the same for every recipe: the leader closes its session, which
 * ends its candidacy at once, and another leads; that one's process is killed, its session lives
 * until the server expires it, and the last candidate leads (its marker at `markerPath`) and
 * quits. No candidate reported a violation (two leaders) or an error.
 */
export async function expectSuccession(candidates: readonly JsonLineProcess[], first: JsonLineProcess, observer: Client, markerPath: string): Promise<void> {
  first.send('quit');
  expect(await first.status()).toBe(0);
  const second = await nextLeader(candidates, [first]);
  second.kill();
  await second.exited;
  const third = await nextLeader(candidates, [first, second]);
  expect(candidates.flatMap((c) => c.reports).filter((r) => 'violation' in r || 'error' in r)).toEqual([]);
  await expectMarkerOf(observer, markerPath, third);
  third.send('quit');
  expect(await third.status()).toBe(0);
}
