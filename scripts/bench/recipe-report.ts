import type { HandoverResult, KillHandoverResult, LockStepResult } from './recipe-workloads.js';
import { fmt, systemLabel } from './report.js';
import type { RecipeSystemName } from './system.js';

/** One run of every workload on one fresh cluster. */
export interface RunResult {
  run: number;
  lock: LockStepResult[];
  resign?: HandoverResult;
  kill?: KillHandoverResult;
  /** Linux PSI over the run: the share of time some task waited for a CPU or for I/O. */
  pressure?: { cpuSomePct: number; ioSomePct: number };
  failed?: string;
}

/** What one system produced: every run, and the medians over runs; `skipped` says why there is nothing. */
export interface RecipeReport {
  name: RecipeSystemName;
  version?: string;
  semantics?: readonly string[];
  skipped?: string;
  failed?: string;
  runs: RunResult[];
  lock: (LockStepResult & { runs: LockStepResult[] })[];
  resign?: HandoverResult;
  kill?: { medianMs: number; grantedTimeoutMs: number; allMs: number[] };
}

interface Row {
  readonly name: string;
  readonly value: (r: RecipeReport) => string;
  readonly num: (r: RecipeReport) => number | undefined;
  /** Whether more is better (throughput) or less (time). */
  readonly higherIsBetter: boolean;
}

/** Vigil's figure over the best other system's, with that system's name. */
function versusBest(row: Row, vigil: RecipeReport | undefined, others: readonly RecipeReport[]): string {
  const v = vigil === undefined ? undefined : row.num(vigil);
  const candidates = others.map((o) => ({ o, n: row.num(o) })).filter((c): c is { o: RecipeReport; n: number } => c.n !== undefined && !Number.isNaN(c.n) && c.n > 0);
  if (v === undefined || Number.isNaN(v) || candidates.length === 0) return '–';
  const best = candidates.reduce((a, b) => ((row.higherIsBetter ? b.n > a.n : b.n < a.n) ? b : a));
  return `${(v / best.n).toFixed(2)}× (${systemLabel[best.o.name]})`;
}

/** One row per measure, a column per system, and Vigil ÷ the best other. */
export function renderRecipeTable(reports: readonly RecipeReport[], contenderCounts: readonly number[], timeoutMs: number): string {
  const shown = reports.filter((r) => r.skipped === undefined);
  const vigil = shown.find((r) => r.name === 'vigil');
  const others = shown.filter((r) => r.name !== 'vigil');
  const lock = (r: RecipeReport, n: number): LockStepResult | undefined => r.lock.find((s) => s.contenders === n);
  const rows: Row[] = [];
  for (const n of contenderCounts) {
    const who = n === 1 ? '1 contender' : `${n} contenders`;
    rows.push({
      name: `lock cycles/s, ${who}`,
      value: (r) => {
        const s = lock(r, n);
        return `${fmt(s?.cyclesPerSecond, 0)}${s !== undefined && s.errors > 0 ? ` (${s.errors} err)` : ''}`;
      },
      num: (r) => lock(r, n)?.cyclesPerSecond,
      higherIsBetter: true,
    });
    rows.push({
      name: `lock cycle p50 / p99 ms, ${who}`,
      value: (r) => `${fmt(lock(r, n)?.cycle.p50Ms, 1)} / ${fmt(lock(r, n)?.cycle.p99Ms, 1)}`,
      num: (r) => lock(r, n)?.cycle.p99Ms,
      higherIsBetter: false,
    });
  }
  rows.push(
    { name: 'resign → next candidate leads, p50 ms', value: (r) => fmt(r.resign?.p50Ms), num: (r) => r.resign?.p50Ms, higherIsBetter: false },
    { name: 'resign → next candidate leads, p99 ms', value: (r) => fmt(r.resign?.p99Ms), num: (r) => r.resign?.p99Ms, higherIsBetter: false },
    {
      name: `kill -9 leader's process → next leads, median ms (× the ${timeoutMs / 1000} s timeout) [each kill]`,
      value: (r) => (r.kill === undefined
        ? '–'
        : `${fmt(r.kill.medianMs, 0)} (${(r.kill.medianMs / r.kill.grantedTimeoutMs).toFixed(2)}×) [${r.kill.allMs.map((v) => v.toFixed(0)).join(', ')}]`),
      num: (r) => r.kill?.medianMs,
      higherIsBetter: false,
    },
  );
  const header = ['measure', ...shown.map((r) => systemLabel[r.name]), ...(vigil === undefined || others.length === 0 ? [] : ['Vigil ÷ best other'])];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    if (shown.every((r) => row.num(r) === undefined)) continue;
    const cells = [row.name, ...shown.map(row.value)];
    if (header.length > shown.length + 1) cells.push(versusBest(row, vigil, others));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** One line per system: how loaded the machine was during each of its runs. */
export function renderPressure(reports: readonly RecipeReport[]): string {
  const lines = reports
    .filter((r) => r.runs.some((run) => run.pressure !== undefined))
    .map((r) => `${systemLabel[r.name]} ${r.runs.map((run) => (run.pressure === undefined ? '–' : `${run.pressure.cpuSomePct.toFixed(0)}% / ${run.pressure.ioSomePct.toFixed(0)}%`)).join(', ')}`);
  return lines.length === 0 ? '' : `Machine load while each run ran (PSI "some" CPU / I/O: the share of time some task waited; this benchmark's own processes count too): ${lines.join('; ')}.`;
}
