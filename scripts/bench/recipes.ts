/**
 * `npm run bench:recipes`: a lock and a leader election on Vigil, etcd and ZooKeeper, each system a
 * three-member cluster of real processes on loopback with fsync on (the clusters of compare.ts),
 * each recipe the system's own or its documented one (recipe-clients.ts), driven through its own
 * client library from this process and, for the kill -9 case, from candidate processes.
 *
 *   npm run bench:recipes -- [--systems vigil,etcd,zookeeper] [--quick] [--runs 3] [--contenders 1,16,128]
 *                            [--warmup 1] [--seconds 3] [--candidates 4] [--rounds 20] [--kills 2] [--timeout 2]
 *
 * `--contenders 0`, `--rounds 0` or `--kills 0` leaves that workload out.
 *
 * Writes a Markdown table to stdout and every raw figure to bench-results/<timestamp>-recipes.json.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchRoot, describeMachine, loadSystem, logTo, machineLine, parseSystems, recipeSystems, pressureBetween, pressureTotals, writeResults } from './harness.js';
import { median } from './latency.js';
import { openRecipeSession, type RecipeSession, recipeSemantics } from './recipe-clients.js';
import { renderPressure, renderRecipeTable, type RecipeReport, type RunResult } from './recipe-report.js';
import { killHandover, lockStep, type LockStepResult, resignHandover, resignWarmupRounds, type StepTiming, waitForQueue } from './recipe-workloads.js';
import type { RecipeSystemName, System } from './system.js';

const { values } = parseArgs({
  options: {
    systems: { type: 'string' },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    contenders: { type: 'string', default: '1,16,128' },
    warmup: { type: 'string' },
    seconds: { type: 'string' },
    candidates: { type: 'string' },
    rounds: { type: 'string' },
    kills: { type: 'string' },
    timeout: { type: 'string', default: '2' },
  },
});
const quick = values.quick;
const { names: systemNames, explicit: explicitSystems } = parseSystems(values.systems, recipeSystems);
const wholeNumber = (name: string, value: string, least: number): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < least) throw new Error(`--${name}: a whole number ≥ ${least}, not ${value}`);
  return n;
};
const positiveInteger = (name: string, value: string): number => wholeNumber(name, value, 1);
const contenderCounts = values.contenders === '0' ? [] : values.contenders.split(',').map((c) => positiveInteger('contenders', c));
const runs = positiveInteger('runs', values.runs ?? (quick ? '1' : '3'));
const timing: StepTiming = {
  warmupMs: Number(values.warmup ?? (quick ? 0.5 : 1)) * 1000,
  measureMs: Number(values.seconds ?? (quick ? 1.5 : 3)) * 1000,
};
const candidates = positiveInteger('candidates', values.candidates ?? '4');
/** 0 skips the phase (as does --contenders 0 the lock). */
const resignRounds = wholeNumber('rounds', values.rounds ?? (quick ? '10' : '20'), 0);
const killsPerRun = wholeNumber('kills', values.kills ?? (quick ? '1' : '2'), 0);
/** Session timeout and lease TTL of the candidates: whole seconds, etcd's granularity. */
const timeoutMs = positiveInteger('timeout', values.timeout) * 1000;
/** Standby candidate processes still behind the leader at the last kill. */
const killStandbys = 1;
/** The lock's contenders keep each system's usual timeout (compare.ts's): no expiry under load. */
const lockTimeoutMs = 10_000;
/** The session that watches the queue's size between measurements is not measured: it keeps the usual timeout. */
const observerTimeoutMs = lockTimeoutMs;
/** How long the queue may take to empty after a lock step. */
const drainDeadlineMs = 10_000;
/** Sessions opened at once while setting up the contenders. */
const connectBatch = 16;

const startedAt = new Date().toISOString();
const root = await BenchRoot.create();
const log = logTo('recipes');

/** The systems this benchmark runs are those of `recipeSystems` (parseSystems checked). */
function recipeSystemOf(system: System): RecipeSystemName {
  if (!(recipeSystems as readonly string[]).includes(system.name)) throw new Error(`${system.name} is not a recipes system`);
  return system.name as RecipeSystemName;
}

async function openSessions(system: System, count: number, sessionTimeoutMs: number): Promise<RecipeSession[]> {
  const sessions: RecipeSession[] = [];
  try {
    for (let i = 0; i < count; i += connectBatch) {
      const batch = Array.from({ length: Math.min(connectBatch, count - i) }, (_, j) =>
        openRecipeSession({ system: recipeSystemOf(system), endpoints: system.endpoints({ preferredMember: (i + j) % 3 }), timeoutMs: sessionTimeoutMs }));
      const settled = await Promise.allSettled(batch);
      for (const s of settled) if (s.status === 'fulfilled') sessions.push(s.value);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    }
    return sessions;
  } catch (err) {
    await closeAll(sessions);
    throw err;
  }
}

async function closeAll(sessions: readonly RecipeSession[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
}

function medianLock(results: readonly LockStepResult[]): LockStepResult & { runs: LockStepResult[] } {
  const first = results[0]!;
  const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
  return {
    contenders: first.contenders,
    cyclesPerSecond: median(results.map((r) => r.cyclesPerSecond)),
    cycle: {
      count: results.reduce((n, r) => n + r.cycle.count, 0),
      p50Ms: median(results.map((r) => r.cycle.p50Ms)),
      p99Ms: median(results.map((r) => r.cycle.p99Ms)),
      p999Ms: median(results.map((r) => r.cycle.p999Ms)),
      maxMs: Math.max(...results.map((r) => r.cycle.maxMs)),
    },
    errors: results.reduce((n, r) => n + r.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    runs: [...results],
  };
}

async function lockPhase(system: System, result: RunResult): Promise<void> {
  const sessions = await openSessions(system, Math.max(...contenderCounts) + 1, lockTimeoutMs);
  const observer = sessions.pop()!;
  try {
    for (const contenders of contenderCounts) {
      const path = `/bench-recipes/lock-n${contenders}`;
      const step = await lockStep({ sessions, contenders, path, timing });
      result.lock.push(step);
      log(`${system.name} run ${result.run + 1} lock, ${contenders} contenders: ${step.cyclesPerSecond.toFixed(0)} cycles/s, cycle p50 ${step.cycle.p50Ms.toFixed(1)} ms, p99 ${step.cycle.p99Ms.toFixed(1)} ms${step.errors > 0 ? `, ${step.errors} errors (${step.firstError})` : ''}`);
      // Waiters that gave up at the end leave the queue before the next step begins (each step has
      // its own lock: a node stranded by a lost reply only costs the next step some CPU).
      await waitForQueue(observer, path, 0, drainDeadlineMs).catch((err: unknown) => log(`note: ${String(err)}`));
    }
  } finally {
    await closeAll([...sessions, observer]);
  }
}

async function resignPhase(system: System, result: RunResult): Promise<void> {
  const sessions = await openSessions(system, candidates, timeoutMs);
  const [observer] = await openSessions(system, 1, observerTimeoutMs).catch(async (err: unknown) => {
    await closeAll(sessions);
    throw err;
  });
  try {
    result.resign = await resignHandover({ sessions, observer: observer!, path: '/bench-recipes/resign', rounds: resignRounds });
    log(`${system.name} run ${result.run + 1} resign → next leads: p50 ${result.resign.p50Ms.toFixed(1)} ms, p99 ${result.resign.p99Ms.toFixed(1)} ms`);
  } finally {
    await closeAll([...sessions, observer!]);
  }
}

async function killPhase(system: System, result: RunResult, logDir: string): Promise<void> {
  const [observer] = await openSessions(system, 1, observerTimeoutMs);
  try {
    result.kill = await killHandover({
      session: { system: recipeSystemOf(system), timeoutMs },
      endpoints: (member) => system.endpoints({ preferredMember: member }),
      observer: observer!,
      path: '/bench-recipes/kill',
      standbys: killStandbys,
      kills: killsPerRun,
      logDir,
    });
    log(`${system.name} run ${result.run + 1} kill -9 leader → next leads: [${result.kill.allMs.map((v) => v.toFixed(0)).join(', ')}] ms (granted ${result.kill.grantedTimeoutMs} ms)`);
  } finally {
    await observer?.close().catch(() => undefined);
  }
}

/** One run of every workload on a fresh cluster of `system`, stopped and removed afterwards. */
async function runOnce(system: System, run: number): Promise<RunResult> {
  const result: RunResult = { run, lock: [] };
  const dir = join(root.path, `${system.name}-r${run}`);
  log(`${system.name} run ${run + 1}: starting three members under ${dir}`);
  root.track(system);
  const pressureFrom = await pressureTotals();
  try {
    await system.start(dir, { sessionTimeoutMinMs: timeoutMs });
    const logDir = join(dir, 'candidates');
    await mkdir(logDir, { recursive: true });
    // A failed phase is reported beside the figures of the others.
    const failures: string[] = [];
    const phases: (readonly [string, () => Promise<void>])[] = [
      ...(contenderCounts.length > 0 ? [['lock', () => lockPhase(system, result)] as const] : []),
      ...(resignRounds > 0 ? [['resign', () => resignPhase(system, result)] as const] : []),
      ...(killsPerRun > 0 ? [['kill', () => killPhase(system, result, logDir)] as const] : []),
    ];
    for (const [name, phase] of phases) {
      try {
        await phase();
      } catch (err) {
        failures.push(`${name}: ${String(err)}`);
        console.error(`${system.name} run ${run + 1} ${name} failed:`, err);
      }
    }
    if (failures.length > 0) result.failed = failures.join('; ');
  } catch (err) {
    result.failed = String(err);
    console.error(`${system.name} run ${run + 1} failed:`, err);
  } finally {
    const pressure = pressureBetween(pressureFrom, await pressureTotals());
    if (pressure !== undefined) result.pressure = pressure;
    await system.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
  return result;
}

/** The medians over runs of each figure, beside every run's own. */
function summarize(report: RecipeReport): void {
  const runs = report.runs;
  report.lock = contenderCounts
    .map((n) => runs.flatMap((r) => r.lock.filter((s) => s.contenders === n)))
    .filter((results) => results.length > 0)
    .map(medianLock);
  const resigns = runs.flatMap((r) => (r.resign === undefined ? [] : [r.resign]));
  if (resigns.length > 0) {
    report.resign = {
      p50Ms: median(resigns.map((r) => r.p50Ms)),
      p99Ms: median(resigns.map((r) => r.p99Ms)),
      maxMs: Math.max(...resigns.map((r) => r.maxMs)),
      allMs: resigns.flatMap((r) => r.allMs),
    };
  }
  const kills = runs.flatMap((r) => (r.kill === undefined ? [] : [r.kill]));
  if (kills.length > 0) {
    const granted = [...new Set(kills.map((k) => k.grantedTimeoutMs))];
    report.kill = {
      medianMs: median(kills.map((k) => k.medianMs)),
      grantedTimeoutMs: granted.length === 1 ? granted[0]! : Number.NaN,
      allMs: kills.flatMap((k) => k.allMs),
    };
  }
  const failures = runs.flatMap((r) => (r.failed === undefined ? [] : [`run ${r.run + 1}: ${r.failed}`]));
  if (failures.length > 0) report.failed = failures.join('; ');
}

const reports: RecipeReport[] = systemNames.map((name) => ({ name, lock: [], runs: [] }));
let exitCode = 0;
try {
  // Run by run, each system on a fresh cluster, the order turning each run: noise from whatever
  // else the machine does falls on every system, and the median over runs keeps it out.
  for (let run = 0; run < runs; run++) {
    for (let k = 0; k < reports.length; k++) {
      const report = reports[(run + k) % reports.length]!;
      if (report.skipped !== undefined) continue;
      const system = await loadSystem(report.name);
      if (typeof system === 'string') {
        console.error(`note: skipping ${report.name}: ${system}`);
        report.skipped = system;
        if (explicitSystems) exitCode = 1;
        continue;
      }
      report.version ??= await system.version();
      report.semantics ??= recipeSemantics[report.name];
      report.runs.push(await runOnce(system, run));
    }
  }
  for (const report of reports) {
    report.runs.sort((a, b) => a.run - b.run);
    summarize(report);
    if (report.failed !== undefined) exitCode = 1;
  }

  const machine = await describeMachine(root.path);
  const settings = { runs, contenderCounts, timing, lockTimeoutMs, candidates, resignRounds, killsPerRun, killStandbys, timeoutMs };
  console.log(`\n## Recipes: Vigil beside etcd and ZooKeeper (${new Date().toISOString()})\n`);
  console.log(machineLine(machine));
  console.log(`The ${machine.cpus} cores are shared by the three members and the clients (one process, plus ${killsPerRun + killStandbys} candidate processes in the kill case).`);
  console.log(`Each run starts a fresh cluster of each system in turn (the order turning every run), runs every workload on it and removes it; figures are medians over ${runs} run(s).`);
  console.log(`Lock: N contenders on one lock, each its own session (timeout / lease TTL ${lockTimeoutMs / 1000} s), all in this process; a cycle = acquire (the wait included) + release, held for no time; ${timing.warmupMs / 1000} s warm-up + ${timing.measureMs / 1000} s measured, median of ${runs} run(s).`);
  console.log(`Resign: ${candidates} candidates (a leader and ${candidates - 1} standbys), each its own session; the leader resigns, the time runs until the next candidate's campaign resolves; ${resignRounds} rounds per run (after ${resignWarmupRounds} unmeasured), p50/p99 per run, median of ${runs} run(s).`);
  console.log(`Kill: ${killsPerRun + killStandbys} candidates, each in its own process (node --import tsx) with its own session; kill -9 of the leader's process → another candidate's campaign resolves; ${killsPerRun} kill(s) per run, one after the other, median per run, median of ${runs} run(s); session timeout / lease TTL ${timeoutMs / 1000} s for all three.`);
  console.log(`Last column: Vigil's figure over the best other system's (named): for cycles/s above 1× is better, for times below 1× is better (for the p50 / p99 rows, of the p99).\n`);
  console.log(renderRecipeTable(reports, contenderCounts, timeoutMs));
  console.log('\n–: no figure (for a cycle time: no cycle both began and ended inside the measured window).');
  const pressure = renderPressure(reports);
  if (pressure !== '') console.log(`\n${pressure}`);
  for (const r of reports) {
    if (r.skipped !== undefined) console.log(`\n${r.name}: skipped (${r.skipped})`);
    else console.log(`\n${r.name} ${r.version ?? ''}:\n${(r.semantics ?? []).map((s) => `- ${s}`).join('\n')}${r.failed === undefined ? '' : `\n- FAILED: ${r.failed}`}`);
  }
  const file = await writeResults('-recipes', { bench: 'recipes', startedAt, finishedAt: new Date().toISOString(), machine, settings, systems: reports });
  console.log(`\nraw figures: ${file}`);
} finally {
  await root.cleanUp();
}
process.exit(exitCode);
