import type { SystemName } from './system.js';
import type { FailoverResult, StepResult, WatchResult, WorkloadName } from './workloads.js';

/** What one system produced in a run; `skipped` says why there is nothing else. */
export interface SystemReport {
  name: SystemName;
  version?: string;
  semantics?: readonly string[];
  skipped?: string;
  failed?: string;
  steps: StepResult[];
  rssAfterWritesKiB?: number[];
  watch?: WatchResult;
  failover?: FailoverResult;
}

export const systemLabel: Record<SystemName, string> = { vigil: 'Vigil', 'vigil-secure': 'Vigil TLS+auth', 'vigil-zk': 'Vigil ZK port', etcd: 'etcd', zookeeper: 'ZooKeeper' };

export const fmt = (n: number | undefined, digits = 2): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
export const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || b === 0 ? '–' : `${(a / b).toFixed(2)}×`;

function find(report: SystemReport | undefined, workload: WorkloadName, concurrency: number): StepResult | undefined {
  return report?.steps.find((s) => s.workload === workload && s.concurrency === concurrency);
}

/** A Markdown table: workload × concurrency rows; ops/s and latency quantiles per system; ratios. */
export function renderTable(reports: readonly SystemReport[], workloads: readonly WorkloadName[], concurrencies: readonly number[]): string {
  const shown = reports.filter((r) => r.steps.length > 0);
  const vigil = shown.find((r) => r.name === 'vigil');
  const others = shown.filter((r) => r.name !== 'vigil');
  const ratioColumns = vigil === undefined ? [] : others;
  const header = [
    'workload', 'N',
    ...shown.flatMap((r) => [`${systemLabel[r.name]} ops/s`, 'p50 ms', 'p99 ms', 'p999 ms']),
    ...ratioColumns.map((r) => `Vigil/${systemLabel[r.name]} ops/s (p99)`),
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const workload of workloads) {
    for (const concurrency of concurrencies) {
      const cells = [workload, String(concurrency)];
      for (const r of shown) {
        const s = find(r, workload, concurrency);
        const errors = s !== undefined && s.errors > 0 ? ` (${s.errors} err)` : '';
        cells.push(`${fmt(s?.opsPerSecond, 0)}${errors}`, fmt(s?.latency.p50Ms), fmt(s?.latency.p99Ms), fmt(s?.latency.p999Ms));
      }
      for (const r of ratioColumns) {
        const v = find(vigil, workload, concurrency);
        const o = find(r, workload, concurrency);
        cells.push(`${ratio(v?.opsPerSecond, o?.opsPerSecond)} (${ratio(v?.latency.p99Ms, o?.latency.p99Ms)})`);
      }
      lines.push(`| ${cells.join(' | ')} |`);
    }
  }
  return lines.join('\n');
}

/** Watch latency, failover and RSS: one row each, a column per system. */
export function renderOthers(reports: readonly SystemReport[]): string {
  const shown = reports.filter((r) => r.skipped === undefined);
  const vigil = shown.find((r) => r.name === 'vigil');
  const others = vigil === undefined ? [] : shown.filter((r) => r.name !== 'vigil');
  const header = ['measure', ...shown.map((r) => systemLabel[r.name]), ...others.map((r) => `Vigil/${systemLabel[r.name]}`)];
  const rss = (r: SystemReport | undefined): number | undefined =>
    r?.rssAfterWritesKiB === undefined ? undefined : r.rssAfterWritesKiB.reduce((a, b) => a + b, 0) / 1024;
  const rows: { name: string; value: (r: SystemReport) => string; num: (r: SystemReport | undefined) => number | undefined }[] = [
    {
      name: 'watch: set issued → event, p50 ms',
      value: (r) => fmt(r.watch?.p50Ms) + (r.watch !== undefined && r.watch.missed > 0 ? ` (${r.watch.missed} missed)` : ''),
      num: (r) => r?.watch?.p50Ms,
    },
    { name: 'watch: set issued → event, p99 ms', value: (r) => fmt(r.watch?.p99Ms), num: (r) => r?.watch?.p99Ms },
    {
      name: 'failover: kill -9 leader → next acked write, median ms',
      value: (r) => (r.failover === undefined ? '–' : `${fmt(r.failover.medianMs, 0)} [${r.failover.allMs.map((v) => v.toFixed(0)).join(', ')}]`),
      num: (r) => r?.failover?.medianMs,
    },
    {
      name: 'restart: killed leader restarted → it serves a linearizable read, median ms',
      value: (r) => (r.failover === undefined ? '–' : `${fmt(r.failover.restart.medianMs, 0)} [${r.failover.restart.allMs.map((v) => v.toFixed(0)).join(', ')}]`),
      num: (r) => r?.failover?.restart.medianMs,
    },
    {
      name: 'RSS after the write workload, MiB (n1 / n2 / n3)',
      value: (r) => (r.rssAfterWritesKiB === undefined ? '–' : r.rssAfterWritesKiB.map((k) => (k / 1024).toFixed(0)).join(' / ')),
      num: rss,
    },
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) {
    lines.push(`| ${[row.name, ...shown.map(row.value), ...others.map((o) => ratio(row.num(vigil), row.num(o)))].join(' | ')} |`);
  }
  return lines.join('\n');
}
