/**
 * `npm run bench:compare`: the same workloads against Vigil, etcd and ZooKeeper, each a
 * three-member cluster of real processes on loopback with data in a temporary directory and fsync
 * on, driven in this one process through each system's own client library.
 *
 *   npm run bench:compare -- [--systems vigil,etcd,zookeeper] [--quick] [--concurrency 1,16,128,512]
 *                            [--seconds 5] [--warmup 1] [--runs 3] [--failovers 5] [--watch-rounds 20]
 *
 * Writes a Markdown table to stdout and every raw figure to bench-results/<timestamp>.json.
 * etcd and ZooKeeper come from Debian (scripts/bench/install-peers.sh); missing ones are skipped.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchRoot, describeMachine, loadSystem, logTo, machineLine, parseSystems, writeResults } from './harness.js';
import { renderOthers, renderTable, type SystemReport } from './report.js';
import type { Driver, System } from './system.js';
import { connectionsMax, createParent, failover, medianStep, prepare, runStep, type StepResult, type StepTiming, watchLatency, watchersCount, type WorkloadName, workloadNames } from './workloads.js';

const { values } = parseArgs({
  options: {
    systems: { type: 'string' },
    quick: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '1,16,128,512' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    runs: { type: 'string' },
    failovers: { type: 'string' },
    'watch-rounds': { type: 'string' },
    workloads: { type: 'string' },
  },
});
const quick = values.quick;
const { names: systemNames, explicit: explicitSystems } = parseSystems(values.systems);
const concurrencies = values.concurrency.split(',').map(Number);
if (concurrencies.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`bad --concurrency ${values.concurrency}`);
const workloads = (values.workloads?.split(',') ?? workloadNames) as WorkloadName[];
for (const w of workloads) if (!workloadNames.includes(w)) throw new Error(`unknown workload '${w}' (known: ${workloadNames.join(', ')})`);
const timing: StepTiming = {
  warmupMs: Number(values.warmup ?? (quick ? 0.5 : 1)) * 1000,
  measureMs: Number(values.seconds ?? (quick ? 1.5 : 5)) * 1000,
};
const runs = Number(values.runs ?? (quick ? 1 : 3));
const failoverRuns = Number(values.failovers ?? (quick ? 3 : 5));
const watchRounds = Number(values['watch-rounds'] ?? (quick ? 5 : 20));

const startedAt = new Date().toISOString();
const root = await BenchRoot.create();
const log = logTo('bench');

async function benchSystem(system: System): Promise<SystemReport> {
  const report: SystemReport = { name: system.name, version: await system.version(), semantics: system.semantics, steps: [] };
  const dir = join(root.path, system.name);
  log(`${system.name} ${report.version}: starting three members under ${dir}`);
  root.track(system);
  await system.start(dir);
  const drivers: Driver[] = [];
  try {
    for (let i = 0; i < connectionsMax; i++) drivers.push(await system.connect({ preferredMember: i % 3 }));
    const parents = concurrencies.flatMap((n) => Array.from({ length: runs }, (_, run) => createParent(n, run)));
    await prepare(drivers[0]!, parents);
    for (const workload of workloads) {
      for (const concurrency of concurrencies) {
        const results: StepResult[] = [];
        for (let run = 0; run < runs; run++) results.push(await runStep({ drivers, workload, concurrency, run, timing }));
        const step = medianStep(results);
        report.steps.push(step);
        log(`${system.name} ${workload} N=${concurrency}: ${step.opsPerSecond.toFixed(0)} ops/s, p50 ${step.latency.p50Ms.toFixed(2)} ms, p99 ${step.latency.p99Ms.toFixed(2)} ms${step.errors > 0 ? `, ${step.errors} errors (${results.find((r) => r.firstError !== undefined)?.firstError})` : ''}`);
      }
      if (workload === 'set' || (workload === 'create' && !workloads.includes('set'))) report.rssAfterWritesKiB = await system.rssKiB();
    }
    report.rssAfterWritesKiB ??= await system.rssKiB();
  } finally {
    await Promise.all(drivers.map((d) => d.close().catch(() => undefined)));
  }
  // A failed watch or failover phase is reported beside the figures already measured.
  const failures: string[] = [];
  if (watchRounds > 0) {
    try {
      report.watch = await watchLatency(system, watchRounds);
      log(`${system.name} watch: p50 ${report.watch.p50Ms.toFixed(2)} ms, p99 ${report.watch.p99Ms.toFixed(2)} ms, ${report.watch.missed} missed`);
    } catch (err) {
      failures.push(`watch: ${String(err)}`);
    }
  }
  if (failoverRuns > 0) {
    try {
      report.failover = await failover(system, failoverRuns);
      log(`${system.name} failover: median ${report.failover.medianMs.toFixed(0)} ms of [${report.failover.allMs.map((v) => v.toFixed(0)).join(', ')}]; restart to serving: median ${report.failover.restart.medianMs.toFixed(0)} ms of [${report.failover.restart.allMs.map((v) => v.toFixed(0)).join(', ')}]`);
    } catch (err) {
      failures.push(`failover: ${String(err)}`);
    }
  }
  if (failures.length > 0) {
    report.failed = failures.join('; ');
    console.error(`${system.name} failed: ${report.failed}`);
  }
  return report;
}

const reports: SystemReport[] = [];
let exitCode = 0;
try {
  for (const name of systemNames) {
    const system = await loadSystem(name);
    if (typeof system === 'string') {
      console.error(`note: skipping ${name}: ${system}`);
      reports.push({ name, skipped: system, steps: [] });
      if (explicitSystems) exitCode = 1;
      continue;
    }
    try {
      const report = await benchSystem(system);
      reports.push(report);
      if (report.failed !== undefined) exitCode = 1;
    } catch (err) {
      console.error(`${name} failed:`, err);
      reports.push({ name, failed: String(err), steps: [] });
      exitCode = 1;
    } finally {
      await system.stop().catch(() => undefined);
    }
  }

  const machine = await describeMachine(root.path);
  const settings = { timing, runs, concurrencies, workloads, connectionsMax, watchers: watchersCount, watchRounds, failoverRuns, valueBytes: 100, keys: 1000 };
  console.log(`\n## Vigil beside etcd and ZooKeeper (${new Date().toISOString()})\n`);
  console.log(machineLine(machine));
  console.log(`The ${machine.cpus} cores are shared by the three members and this load generator, which drives every system from the same process.`);
  console.log(`Closed loop: N outstanding requests over min(N, ${connectionsMax}) connections; ${timing.warmupMs / 1000} s warm-up + ${timing.measureMs / 1000} s measured per step, median of ${runs}; 100-byte values over 1000 keys.`);
  console.log(`Ratio columns: Vigil's ops/s over the other's (above 1× is better), and in brackets Vigil's p99 over the other's (below 1× is better).\n`);
  console.log(renderTable(reports, workloads, concurrencies));
  console.log('');
  console.log(renderOthers(reports));
  for (const r of reports) {
    if (r.skipped !== undefined) console.log(`\n${r.name}: skipped (${r.skipped})`);
    else if (r.steps.length === 0) console.log(`\n${r.name}: FAILED (${r.failed})`);
    else console.log(`\n${r.name} ${r.version}:\n${r.semantics!.map((s) => `- ${s}`).join('\n')}${r.failed === undefined ? '' : `\n- FAILED: ${r.failed}`}`);
  }
  const file = await writeResults('', { bench: 'compare', startedAt, finishedAt: new Date().toISOString(), machine, settings, systems: reports });
  console.log(`\nraw figures: ${file}`);
} finally {
  await root.cleanUp();
}
process.exit(exitCode);
