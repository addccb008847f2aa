// Apply throughput of @vigil/store: creates, sets, deletes and multi-of-10, with 1, 64 and 1,024
// entries per apply call (= per LevelDB write batch). Medians over several fresh stores.
//   npm run bench:store [-- --runs 5 --json bench-results/store.json]
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { openStore, type Command, type Entry, type Store } from '../packages/store/src/index.js';

type Workload = 'create' | 'set' | 'delete' | 'multi10';
const workloads: readonly Workload[] = ['create', 'set', 'delete', 'multi10'];
const batchSizes = [1, 64, 1024] as const;

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? (args[at + 1] as string) : fallback;
};
const runs = Number(option('runs', '5'));
const jsonPath = option('json', 'bench-results/store.json');
const data = new Uint8Array(32).fill(7);

/** Simple ops per measured run: fewer for batch 1, where each op is its own LevelDB write. */
const opsFor = (batch: number): number => (batch === 1 ? 20_000 : 102_400);

function commandsFor(workload: Workload, ops: number): { setup: Command[]; measured: Command[] } {
  const name = (i: number): string => `/bench/k${i.toString(36)}`;
  const setup: Command[] = [{ type: 'create', path: '/bench', data, mode: 'persistent' }];
  const measured: Command[] = [];
  if (workload === 'set' || workload === 'delete') {
    for (let i = 0; i < ops; i++) setup.push({ type: 'create', path: name(i), data, mode: 'persistent' });
  }
  if (workload === 'multi10') {
    for (let i = 0; i < ops; i += 10) {
      measured.push({
        type: 'multi',
        ops: Array.from({ length: 10 }, (_, j) => ({ type: 'create' as const, path: name(i + j), data, mode: 'persistent' as const })),
      });
    }
    return { setup, measured };
  }
  for (let i = 0; i < ops; i++) {
    if (workload === 'create') measured.push({ type: 'create', path: name(i), data, mode: 'persistent' });
    else if (workload === 'set') measured.push({ type: 'set', path: name(i), data });
    else measured.push({ type: 'delete', path: name(i) });
  }
  return { setup, measured };
}

async function feed(store: Store, commands: readonly Command[], batch: number): Promise<number> {
  let failures = 0;
  for (let at = 0; at < commands.length; at += batch) {
    const base = store.appliedIndex;
    const entries: Entry[] = commands.slice(at, at + batch).map((command, i) => ({ index: base + i + 1, timeMs: base + i + 1, command }));
    for (const applied of await store.apply(entries)) if (!applied.result.ok) failures++;
  }
  return failures;
}

async function measure(workload: Workload, batch: number): Promise<number> {
  const ops = opsFor(batch);
  const { setup, measured } = commandsFor(workload, ops);
  const dir = await mkdtemp(join(tmpdir(), 'vigil-bench-store-'));
  const store = await openStore({ path: dir, watchHistoryEventsMax: 10_000 });
  try {
    await feed(store, setup, 1024);
    const started = performance.now();
    const failures = await feed(store, measured, batch);
    const elapsedMs = performance.now() - started;
    if (failures > 0) throw new Error(`${workload}: ${failures} commands failed`);
    return (ops / elapsedMs) * 1000;
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

const results: { workload: Workload; entriesPerBatch: number; opsPerSecondMedian: number; runs: number[] }[] = [];
for (const workload of workloads) {
  for (const batch of batchSizes) {
    const samples: number[] = [];
    for (let r = 0; r < runs; r++) samples.push(await measure(workload, batch));
    results.push({ workload, entriesPerBatch: batch, opsPerSecondMedian: Math.round(median(samples)), runs: samples.map(Math.round) });
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');
const lines = [
  `@vigil/store apply throughput, simple ops/s (median of ${runs} runs; multi10 counts its 10 ops), node ${process.version}`,
  '',
  `| workload | ${batchSizes.map((b) => `batch ${b}`).join(' | ')} |`,
  `|---|${batchSizes.map(() => '---:').join('|')}|`,
  ...workloads.map((w) => `| ${w} | ${batchSizes.map((b) => fmt(results.find((r) => r.workload === w && r.entriesPerBatch === b)?.opsPerSecondMedian ?? 0)).join(' | ')} |`),
];
process.stdout.write(`${lines.join('\n')}\n`);
await mkdir(dirname(jsonPath), { recursive: true });
await writeFile(jsonPath, `${JSON.stringify({ node: process.version, runs, results }, null, 2)}\n`);
process.stdout.write(`\nJSON: ${jsonPath}\n`);
