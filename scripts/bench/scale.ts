/**
 * `npm run bench:scale`: Vigil as its tree grows. One three-member cluster (real processes on
 * loopback, fsync on) grows to each size in turn — by default 10,000, 100,000 and 1,000,000 znodes
 * of 100 bytes, 1,000 children to a parent — while `--sessions` SDK sessions stay open and hold
 * `--watches` persistent watches between them (held by worker threads, scale-sessions.js). At
 * each size it measures:
 *
 *   - write and read throughput and p99: `set` and linearizable `get` on 1,000 keys, 128 in flight
 *     over 8 connections, as `npm run bench:cluster` measures them;
 *   - RSS of each member, and what the tree adds per znode (RSS over the empty cluster's, with the
 *     sessions and watches already open, divided by the znodes);
 *   - a snapshot the leader takes on request (`POST /admin/snapshot`): how long, and the file's size;
 *   - leader failover (kill -9 of the leader → the next acknowledged write) and restart to serving
 *     (the killed member respawned → it answers a linearizable read through its own endpoint).
 *
 *   npm run bench:scale -- [--sizes 10000,100000,1000000] [--sessions 10000] [--watches 100000]
 *                          [--seconds 5] [--failovers 3]
 *
 * Writes a Markdown table to stdout and every figure to bench-results/<timestamp>-scale.json.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { BenchRoot, describeMachine, logTo, machineLine, writeResults } from './harness.js';
import { median, nowMs } from './latency.js';
import { VigilSystem } from './systems/vigil.js';
import { isVigilError } from '@vigil/client';
import type { Driver } from './system.js';
import { connectionsMax, failover, prepare, runStep, type StepResult, value } from './workloads.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,100000,1000000' },
    sessions: { type: 'string', default: '10000' },
    watches: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '5' },
    failovers: { type: 'string', default: '3' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const sessionCount = Number(values.sessions);
const watchCount = Number(values.watches);
const measureMs = Number(values.seconds) * 1000;
const failoverRuns = Number(values.failovers);
for (const [name, n] of [['sizes', Math.min(...sizes)], ['sessions', sessionCount], ['watches', watchCount], ['seconds', measureMs], ['failovers', failoverRuns]] as const) {
  if (!Number.isFinite(n) || n < 0) throw new Error(`bad --${name}`);
}
if (sizes.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= sizes[i - 1]!))) throw new Error(`--sizes must be increasing positive integers, not ${values.sizes}`);

const childrenPerParent = 1000;
/** Creates in flight while the tree grows, over `connectionsMax` connections. */
const growInFlight = 512;
const stepConcurrency = 128;
/** Sessions opened at once. */
const openInFlight = 100;
const sessionTimeoutMs = 30_000;
const log = logTo('scale');

const znodePath = (i: number): string => `/scale/p${i % childrenPerParent}/n${i}`;

interface SizeReport {
  znodes: number;
  growSeconds: number;
  createsPerSecond: number;
  /** Creates that failed while the tree grew (each tried again until it took effect). */
  growFailures: number;
  firstGrowFailure?: string;
  set: StepResult;
  getLinearizable: StepResult;
  rssKiB: number[];
  bytesPerZnode: number;
  snapshot: { ms: number; bytes: number; index: number };
  failover?: { medianMs: number; allMs: number[]; restartMedianMs: number; restartAllMs: number[] };
  /** Sessions the cluster expired so far (none should: every client pings throughout). */
  sessionsExpired: number;
  failed?: string;
}

/** A create that fails this many times in all ends the run. */
const growFailuresMax = 1000;

/**
 * Creates znodes `from`..`to − 1`, `growInFlight` at a time. A create that fails (a timeout while
 * the cluster stalls or elects) is counted and tried again; `NODE_EXISTS` on a retry means the
 * failed attempt took effect. Returns creates per second and the failures.
 */
async function grow(drivers: readonly Driver[], from: number, to: number): Promise<{ perSecond: number; failures: number; firstFailure?: string }> {
  const started = nowMs();
  let next = from;
  const retry: number[] = [];
  let failures = 0;
  let firstFailure: string | undefined;
  let lastLog = started;
  await Promise.all(Array.from({ length: growInFlight }, async (_, worker) => {
    const driver = drivers[worker % drivers.length]!;
    for (;;) {
      const i = retry.pop() ?? (next < to ? next++ : -1);
      if (i < 0) return;
      try {
        await driver.create(znodePath(i), value);
      } catch (err) {
        if (isVigilError(err) && err.code === 'NODE_EXISTS') continue;
        failures++;
        firstFailure ??= String(err);
        if (failures > growFailuresMax) throw new Error(`more than ${growFailuresMax} creates failed; the first: ${firstFailure}`);
        retry.push(i);
      }
      if (worker === 0 && nowMs() - lastLog > 10_000) {
        lastLog = nowMs();
        log(`  ${(next - retry.length).toLocaleString('en')} znodes${failures > 0 ? `, ${failures} creates failed and tried again` : ''}`);
      }
    }
  }));
  return { perSecond: (to - from) / ((nowMs() - started) / 1000), failures, ...(firstFailure === undefined ? {} : { firstFailure }) };
}

/** Session state changes the workers reported since the run began (`expired` is a session lost). */
const sessionStates: Record<string, number> = {};

/** Worker threads that hold the sessions (scale-sessions.js): they resume on their own event loops. */
const sessionWorkers = 2;

/**
 * Opens the sessions, and the watches spread evenly over them, in `sessionWorkers` worker
 * threads; resolves once every watch is armed, with a function that closes them all.
 */
async function openSessions(endpoints: readonly string[]): Promise<() => Promise<void>> {
  const shares = Array.from({ length: sessionWorkers }, () => [] as { first: number; watches: string[] }[]);
  for (let s = 0; s < sessionCount; s++) {
    const watches: string[] = [];
    for (let z = s; z < watchCount; z += sessionCount) watches.push(znodePath(z));
    (shares[s % sessionWorkers] as { first: number; watches: string[] }[]).push({ first: s % endpoints.length, watches });
  }
  const workers = shares.map((sessions) => new Worker(new URL('./scale-sessions.js', import.meta.url), { workerData: { endpoints, sessions, sessionTimeoutMs, openInFlight: openInFlight / sessionWorkers } }));
  // A worker reports every 10 s its sessions' state changes and its own event loop's worst delay.
  for (const [i, w] of workers.entries()) {
    w.on('message', (m: { states?: Record<string, number>; loopDelayMaxMs?: number }) => {
      if (m.states === undefined) return;
      for (const [state, n] of Object.entries(m.states)) sessionStates[state] = (sessionStates[state] ?? 0) + n;
      const changes = Object.entries(m.states).map(([state, n]) => `${n} ${state}`).join(', ');
      if (changes !== '' || (m.loopDelayMaxMs ?? 0) > 500) log(`  sessions (worker ${i}): ${changes || 'no state changes'}; its event loop ran up to ${m.loopDelayMaxMs} ms late`);
    });
  }
  const said = (w: Worker, what: 'opened' | 'closed'): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>): void => {
        if (!(what in m)) return;
        w.off('message', onMessage);
        resolve(m);
      };
      w.on('message', onMessage);
      w.once('error', reject);
    });
  await Promise.all(workers.map((w) => said(w, 'opened')));
  return async () => {
    await Promise.all(workers.map(async (w) => {
      const closed = said(w, 'closed');
      w.postMessage('close');
      await closed;
      await w.terminate();
    }));
  };
}

async function snapshot(system: VigilSystem): Promise<{ ms: number; bytes: number; index: number }> {
  const cluster = system.members();
  const leader = cluster.node(await cluster.leader());
  const started = nowMs();
  const response = await fetch(`http://127.0.0.1:${leader.clientPort}/admin/snapshot`, { method: 'POST' });
  if (!response.ok) throw new Error(`POST /admin/snapshot: ${response.status} ${await response.text()}`);
  const { index } = (await response.json()) as { index: number };
  const ms = nowMs() - started;
  const dir = join(leader.dataDir, 'snapshots');
  let bytes = 0;
  let newest = 0;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) continue;
    const s = await stat(join(dir, name));
    if (s.mtimeMs > newest) {
      newest = s.mtimeMs;
      bytes = s.size;
    }
  }
  return { ms, bytes, index };
}

const startedAt = new Date().toISOString();
const root = await BenchRoot.create();
const system = new VigilSystem();
root.track(system);
const reports: SizeReport[] = [];
let closeSessions: () => Promise<void> = async () => undefined;
const drivers: Driver[] = [];
let exitCode = 0;
let emptyRssKiB: number[] = [];
try {
  log(`starting three members under ${root.path}`);
  await system.start(join(root.path, 'vigil'));
  for (let i = 0; i < connectionsMax; i++) drivers.push(await system.connect({ preferredMember: i % 3 }));
  await prepare(drivers[0]!, []);
  await drivers[0]!.create('/scale', new Uint8Array(0));
  for (let p = 0; p < childrenPerParent; p += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => drivers[k % drivers.length]!.create(`/scale/p${p + k}`, new Uint8Array(0))));
  const opened = nowMs();
  closeSessions = await openSessions(system.endpoints({ preferredMember: 0 }));
  log(`${sessionCount.toLocaleString('en')} sessions with ${watchCount.toLocaleString('en')} watches open in ${((nowMs() - opened) / 1000).toFixed(1)} s`);
  emptyRssKiB = await system.rssKiB();

  let have = 0;
  for (const size of sizes) {
    log(`growing the tree to ${size.toLocaleString('en')} znodes`);
    const growStarted = nowMs();
    const grown = await grow(drivers, have, size);
    const createsPerSecond = grown.perSecond;
    const growSeconds = (nowMs() - growStarted) / 1000;
    have = size;
    const rssKiB = await system.rssKiB();
    const bytesPerZnode = (median(rssKiB) - median(emptyRssKiB)) * 1024 / size;
    const timing = { warmupMs: 1000, measureMs };
    const set = await runStep({ drivers, workload: 'set', concurrency: stepConcurrency, run: 0, timing });
    const getLinearizable = await runStep({ drivers, workload: 'get-linearizable', concurrency: stepConcurrency, run: 0, timing });
    const snap = await snapshot(system);
    const report: SizeReport = { znodes: size, growSeconds, createsPerSecond, growFailures: grown.failures, ...(grown.firstFailure === undefined ? {} : { firstGrowFailure: grown.firstFailure }), set, getLinearizable, rssKiB, bytesPerZnode, snapshot: snap, sessionsExpired: sessionStates['expired'] ?? 0 };
    log(`${size.toLocaleString('en')} znodes: grew at ${createsPerSecond.toFixed(0)} creates/s (${grown.failures} failed and tried again${grown.firstFailure === undefined ? '' : `; the first: ${grown.firstFailure}`}); set ${set.opsPerSecond.toFixed(0)}/s p99 ${set.latency.p99Ms.toFixed(1)} ms; get ${getLinearizable.opsPerSecond.toFixed(0)}/s p99 ${getLinearizable.latency.p99Ms.toFixed(1)} ms; RSS ${rssKiB.map((k) => (k / 1024).toFixed(0)).join('/')} MiB (${bytesPerZnode.toFixed(0)} B/znode); snapshot ${snap.ms.toFixed(0)} ms, ${(snap.bytes / 2 ** 20).toFixed(1)} MiB`);
    if (failoverRuns > 0) {
      try {
        const f = await failover(system, failoverRuns);
        report.failover = { medianMs: f.medianMs, allMs: f.allMs, restartMedianMs: f.restart.medianMs, restartAllMs: f.restart.allMs };
        log(`  failover median ${f.medianMs.toFixed(0)} ms of [${f.allMs.map((v) => v.toFixed(0)).join(', ')}]; restart to serving median ${f.restart.medianMs.toFixed(0)} ms of [${f.restart.allMs.map((v) => v.toFixed(0)).join(', ')}]`);
      } catch (err) {
        report.failed = `failover: ${String(err)}`;
        exitCode = 1;
        console.error(report.failed);
      }
    }
    report.sessionsExpired = sessionStates['expired'] ?? 0;
    reports.push(report);
  }
} catch (err) {
  console.error('bench:scale failed:', err);
  exitCode = 1;
} finally {
  await Promise.all([...drivers.map((d) => d.close()), closeSessions()].map((p) => p.catch(() => undefined)));
}

const machine = await describeMachine(root.path);
const mib = (kib: number): string => (kib / 1024).toFixed(0);
console.log(`\n## Vigil at scale (${new Date().toISOString()})\n`);
console.log(machineLine(machine));
console.log(`${sessionCount.toLocaleString('en')} sessions and ${watchCount.toLocaleString('en')} persistent watches open throughout; 100-byte znodes, ${childrenPerParent} to a parent. set and linearizable get: ${stepConcurrency} in flight over ${connectionsMax} connections, 1 s warm-up + ${measureMs / 1000} s measured, on 1,000 keys. Empty cluster with the sessions open: RSS ${emptyRssKiB.map(mib).join(' / ')} MiB.\n`);
console.log('| znodes | grow creates/s (failed) | set ops/s | set p99 ms | get-lin ops/s | get-lin p99 ms | RSS per member MiB | bytes per znode | snapshot ms | snapshot MiB | failover median ms | restart to serving median ms | sessions expired |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of reports) {
  console.log(`| ${r.znodes.toLocaleString('en')} | ${r.createsPerSecond.toFixed(0)} (${r.growFailures}) | ${r.set.opsPerSecond.toFixed(0)} | ${r.set.latency.p99Ms.toFixed(1)} | ${r.getLinearizable.opsPerSecond.toFixed(0)} | ${r.getLinearizable.latency.p99Ms.toFixed(1)} | ${r.rssKiB.map(mib).join(' / ')} | ${r.bytesPerZnode.toFixed(0)} | ${r.snapshot.ms.toFixed(0)} | ${(r.snapshot.bytes / 2 ** 20).toFixed(1)} | ${r.failover?.medianMs.toFixed(0) ?? '—'} | ${r.failover?.restartMedianMs.toFixed(0) ?? '—'} | ${r.sessionsExpired} |`);
}
const file = await writeResults('-scale', { bench: 'scale', startedAt, finishedAt: new Date().toISOString(), machine, settings: { sizes, sessions: sessionCount, watches: watchCount, measureMs, failoverRuns, stepConcurrency, childrenPerParent }, emptyRssKiB, sizes: reports });
console.log(`\nraw figures: ${file}`);
await root.cleanUp();
process.exit(exitCode);
