import { LatencyRecorder, type LatencySummary, median, nowMs } from './latency.js';
import { sleep, withDeadline } from './processes.js';
import { createPrng } from '@vigil/raft';
import type { Driver, ReadConsistency, System } from './system.js';

/**
 * The workloads, identical for every system: closed-loop steps (N requests always outstanding,
 * spread over min(N, connectionsMax) connections), watch notification latency, and failover.
 */

export const connectionsMax = 8;
export const keyCount = 1000;
export const valueBytes = 100;
export const watchersCount = 100;
/** A request outstanding this long during a step counts as an error. */
export const stepRequestDeadlineMs = 10_000;
/** During failover a write is issued on each connection this often, answered or not... */
export const failoverWriteEveryMs = 10;
/** ...and abandoned (counted as failed) after this long... */
export const failoverWriteDeadlineMs = 5_000;
/** ...with at most this many outstanding over both connections. */
const failoverOutstandingMax = 2_000;
const failoverDeadlineMs = 60_000;
const watchRoundDeadlineMs = 5_000;

export const value = new Uint8Array(Buffer.alloc(valueBytes, 'v'));
export const keyPath = (i: number): string => `/bench/k${i}`;

export type WorkloadName = 'create' | 'set' | 'get-linearizable' | 'get-sequential' | 'mix-90-10' | 'mix-90-10-linearizable';
export const workloadNames: readonly WorkloadName[] = ['create', 'set', 'get-linearizable', 'get-sequential', 'mix-90-10', 'mix-90-10-linearizable'];

export interface StepTiming {
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface StepResult {
  workload: WorkloadName;
  concurrency: number;
  connections: number;
  opsPerSecond: number;
  latency: LatencySummary;
  errors: number;
  firstError?: string;
}

/** Everything a step's operations share; `seq` is unique per operation within the step. */
type Operation = (driver: Driver, seq: number, random: () => number) => Promise<void>;


/** The znodes the workloads expect: /bench, /bench/k0..k999 and one parent per create step. */
export async function prepare(driver: Driver, createParents: readonly string[]): Promise<void> {
  await driver.create('/bench', new Uint8Array(0)).catch(() => undefined);
  for (const parent of createParents) await driver.create(parent, new Uint8Array(0)).catch(() => undefined);
  const batch = 50;
  for (let i = 0; i < keyCount; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, keyCount - i) }, (_, j) => driver.create(keyPath(i + j), value).catch(() => driver.set(keyPath(i + j), value))));
  }
}

export function createParent(concurrency: number, run: number): string {
  return `/bench/c${concurrency}r${run}`;
}

function operation(workload: WorkloadName, concurrency: number, run: number): Operation {
  const key = (random: () => number): string => keyPath(Math.floor(random() * keyCount));
  switch (workload) {
    case 'create': {
      const parent = createParent(concurrency, run);
      return (d, seq) => d.create(`${parent}/n${seq}`, value);
    }
    case 'set':
      return (d, _seq, random) => d.set(key(random), value);
    case 'get-linearizable':
    case 'get-sequential': {
      const consistency: ReadConsistency = workload === 'get-linearizable' ? 'linearizable' : 'sequential';
      return (d, _seq, random) => d.get(key(random), consistency);
    }
    case 'mix-90-10':
    case 'mix-90-10-linearizable': {
      // Sequential reads are the read a ZooKeeper client issues, and etcd's cheap one; the
      // linearizable mix reads as get-linearizable does (ZooKeeper: sync + getData).
      const consistency: ReadConsistency = workload === 'mix-90-10' ? 'sequential' : 'linearizable';
      return (d, _seq, random) => (random() < 0.1 ? d.set(key(random), value) : d.get(key(random), consistency));
    }
  }
}

/**
 * One closed-loop step: `concurrency` workers, each issuing its next request as soon as the last
 * is answered, on connection (worker mod connections). Latency counts requests issued after the
 * warm-up that complete before the end; throughput counts completions inside the measured window.
 */
export async function runStep(options: {
  drivers: readonly Driver[];
  workload: WorkloadName;
  concurrency: number;
  run: number;
  timing: StepTiming;
}): Promise<StepResult> {
  const { workload, concurrency, timing } = options;
  const connections = Math.min(concurrency, connectionsMax, options.drivers.length);
  const op = operation(workload, concurrency, options.run);
  const recorder = new LatencyRecorder();
  const started = nowMs();
  const measureFrom = started + timing.warmupMs;
  const measureTo = measureFrom + timing.measureMs;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  await Promise.all(Array.from({ length: concurrency }, async (_, worker) => {
    const driver = options.drivers[worker % connections]!;
    // Seeded, so every system sees the same key sequence.
    const seeded = createPrng(1 + worker + 7919 * concurrency);
    const random = (): number => seeded.nextFloat();
    while (nowMs() < measureTo) {
      const issued = nowMs();
      try {
        await withDeadline(op(driver, seq++, random), stepRequestDeadlineMs, workload);
        const done = nowMs();
        if (issued >= measureFrom && done <= measureTo) recorder.record(done - issued);
        if (done >= measureFrom && done <= measureTo) completed++;
      } catch (err) {
        if (issued >= measureFrom) errors++;
        firstError ??= String(err);
        await sleep(10);
      }
    }
  }));
  return {
    workload,
    concurrency,
    connections,
    opsPerSecond: completed / (timing.measureMs / 1000),
    latency: recorder.summary(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/** The median of each figure over repeated runs of one step. */
export function medianStep(runs: readonly StepResult[]): StepResult & { runs: StepResult[] } {
  const first = runs[0]!;
  return {
    workload: first.workload,
    concurrency: first.concurrency,
    connections: first.connections,
    opsPerSecond: median(runs.map((r) => r.opsPerSecond)),
    latency: {
      count: runs.reduce((n, r) => n + r.latency.count, 0),
      p50Ms: median(runs.map((r) => r.latency.p50Ms)),
      p99Ms: median(runs.map((r) => r.latency.p99Ms)),
      p999Ms: median(runs.map((r) => r.latency.p999Ms)),
      maxMs: Math.max(...runs.map((r) => r.latency.maxMs)),
    },
    errors: runs.reduce((n, r) => n + r.errors, 0),
    runs: [...runs],
  };
}

export interface WatchResult {
  watchers: number;
  rounds: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  missed: number;
}

/**
 * `watchersCount` connections each watch /bench/watched; a writer on its own connection sets it.
 * Latency runs from just before the set is issued to each watcher's event. Two unmeasured rounds
 * first make sure every watch is registered on the server.
 */
export async function watchLatency(system: System, rounds: number): Promise<WatchResult> {
  const path = '/bench/watched';
  const writer = await system.connect({ preferredMember: 0 });
  const watchers: Driver[] = [];
  const unsubscribes: (() => void)[] = [];
  try {
    await writer.create(path, value).catch(() => undefined);
    for (let i = 0; i < watchersCount; i++) watchers.push(await system.connect({ preferredMember: i % 3 }));
    const recorder = new LatencyRecorder();
    let issuedAt = 0;
    let arrived = 0;
    let onAllArrived: (() => void) | null = null;
    let measuring = false;
    for (const w of watchers) {
      unsubscribes.push(await w.watch(path, () => {
        if (measuring) recorder.record(nowMs() - issuedAt);
        if (++arrived === watchersCount) onAllArrived?.();
      }));
    }
    let missed = 0;
    const warmupRounds = 2;
    for (let round = 0; round < warmupRounds + rounds; round++) {
      await Promise.all(watchers.map((w) => w.settled()));
      await sleep(20);
      measuring = round >= warmupRounds;
      arrived = 0;
      const all = new Promise<void>((resolve) => (onAllArrived = resolve));
      issuedAt = nowMs();
      await writer.set(path, value);
      try {
        await withDeadline(all, watchRoundDeadlineMs, 'watch events');
      } catch {
        if (measuring) missed += watchersCount - arrived;
      }
      onAllArrived = null;
    }
    const s = recorder.summary();
    return { watchers: watchersCount, rounds, p50Ms: s.p50Ms, p99Ms: s.p99Ms, maxMs: s.maxMs, missed };
  } finally {
    for (const u of unsubscribes) u();
    await Promise.all([writer, ...watchers].map((d) => d.close().catch(() => undefined)));
  }
}

export interface FailoverResult {
  medianMs: number;
  allMs: number[];
  /** Each run's killed leader restarted: its spawn → its first linearizable read served (`System.restartKilled`). */
  restart: { medianMs: number; allMs: number[] };
}

/**
 * On each of two connections a write (set of one key) is issued every `failoverWriteEveryMs`
 * without waiting for the previous ones, so that the figure's resolution is that period rather
 * than a request deadline; the leader is killed with SIGKILL; the figure is the time from the kill
 * to the acknowledgement of the first write issued after it. The killed member is restarted (timed
 * until it serves a linearizable read through its own endpoint) and the cluster settles between runs.
 */
export async function failover(system: System, runs: number): Promise<FailoverResult> {
  const drivers = [await system.connect({ preferredMember: 0 }), await system.connect({ preferredMember: 1 })];
  const allMs: number[] = [];
  const restartMs: number[] = [];
  try {
    for (let run = 0; run < runs; run++) {
      let killedAt = Number.POSITIVE_INFINITY;
      let acknowledgedAt = 0;
      let acknowledged = 0;
      let outstanding = 0;
      const inFlight = new Set<Promise<void>>();
      const issue = (driver: Driver, key: string): void => {
        if (outstanding >= failoverOutstandingMax) return;
        outstanding++;
        const issued = nowMs();
        const write = withDeadline(driver.set(key, value), failoverWriteDeadlineMs, 'failover write').then(
          () => {
            acknowledged++;
            if (issued > killedAt && acknowledgedAt === 0) acknowledgedAt = nowMs();
          },
          () => undefined,
        ).finally(() => {
          outstanding--;
          inFlight.delete(write);
        });
        inFlight.add(write);
      };
      const ticker = setInterval(() => drivers.forEach((d, i) => issue(d, keyPath(i))), failoverWriteEveryMs);
      try {
        const steadyDeadline = nowMs() + failoverDeadlineMs;
        while (acknowledged < 20 && nowMs() < steadyDeadline) await sleep(20);
        if (acknowledged < 20) throw new Error(`${system.name}: writes do not succeed before the failover`);
        killedAt = await system.killLeader();
        const deadline = killedAt + failoverDeadlineMs;
        while (acknowledgedAt === 0 && nowMs() < deadline) await sleep(2);
        if (acknowledgedAt === 0) throw new Error(`${system.name}: no write acknowledged within ${failoverDeadlineMs} ms of the leader's kill`);
        allMs.push(acknowledgedAt - killedAt);
      } finally {
        clearInterval(ticker);
        await Promise.all(inFlight);
      }
      restartMs.push(await system.restartKilled());
    }
  } finally {
    await Promise.all(drivers.map((d) => d.close().catch(() => undefined)));
  }
  return { medianMs: median(allMs), allMs, restart: { medianMs: median(restartMs), allMs: restartMs } };
}
