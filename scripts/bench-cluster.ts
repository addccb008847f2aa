/**
 * A local three-node cluster of real `vigil server` processes (data in a temporary directory,
 * fsync on), driven over the JSON znode HTTP API:
 *
 * - committed writes/s and latency (p50/p99) with 100-byte values at 1 and 256 concurrent writers;
 * - fsync latency (p50/p99) from the leader's `vigil_fsync_seconds` histogram;
 * - failover: kill -9 of the leader → next acknowledged write (median of 5);
 * - RSS of the three processes after the write workload.
 *
 *   npm run bench:cluster [-- --seconds 5 --runs 5]
 *
 * The WebSocket protocol and the SDK will replace HTTP as the driver (issue 5); HTTP/JSON costs
 * more per request, so these figures are a floor for the node, not its ceiling.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { ProcessCluster, waitFor } from './cluster/process-cluster.js';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, runs: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const failoverRuns = Number(values.runs);
const value = Buffer.alloc(100, 'v').toString('base64');

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function write(port: number, path: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/znodes${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data: value, createParents: true }),
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status === 201;
}

async function writeLoad(cluster: ProcessCluster, concurrency: number, durationMs: number, prefix: string): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; errors: number }> {
  const leader = await cluster.leader();
  const port = cluster.node(leader).clientPort;
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const end = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        const ok = await write(port, `${prefix}/${next++}`).catch(() => false);
        if (ok) latencies.push(performance.now() - started);
        else errors++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { perSecond: latencies.length / (durationMs / 1000), p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), errors };
}

/** Quantiles from a Prometheus histogram: the upper bound of the bucket holding the quantile. */
async function histogramQuantiles(port: number, name: string, qs: number[]): Promise<number[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const buckets: { le: number; count: number }[] = [];
  for (const line of text.split('\n')) {
    const m = line.match(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)`));
    if (m) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) });
  }
  const total = buckets.at(-1)?.count ?? 0;
  return qs.map((q) => buckets.find((b) => b.count >= q * total)?.le ?? Number.NaN);
}

async function failover(cluster: ProcessCluster): Promise<number> {
  const old = await cluster.leader();
  let acknowledgedAfterKill = 0;
  let killedAt = Number.POSITIVE_INFINITY;
  let stop = false;
  let n = 0;
  // Writers keep trying every node they believe alive, as a client library would.
  const writers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      for (const id of cluster.live()) {
        if (stop) break;
        const started = performance.now();
        const ok = await write(cluster.node(id).clientPort, `/failover/${n++}`).catch(() => false);
        if (ok && started > killedAt && acknowledgedAfterKill === 0) acknowledgedAfterKill = performance.now();
        if (ok) break;
      }
    }
  });
  await new Promise((r) => setTimeout(r, 300));
  killedAt = performance.now();
  await cluster.kill(old);
  await waitFor('a write after the failover', () => (acknowledgedAfterKill > 0 ? true : undefined), 20_000, 5);
  stop = true;
  await Promise.all(writers);
  const ms = acknowledgedAfterKill - killedAt;
  cluster.spawn(old);
  await cluster.leader([1, 2, 3]);
  return ms;
}

function rssKiB(pid: number): number {
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)]).toString().trim());
}

const cluster = await ProcessCluster.start({ logLevel: 'warn' });
try {
  await cluster.leader();
  await writeLoad(cluster, 16, 1000, '/warmup');
  const results: Record<string, unknown> = {};
  const rows: string[] = [];
  for (const concurrency of [1, 256]) {
    const r = await writeLoad(cluster, concurrency, seconds * 1000, `/bench-c${concurrency}`);
    results[`writes_c${concurrency}`] = r;
    rows.push(`| committed writes, 100 B, ${concurrency} writer(s) | ${r.perSecond.toFixed(0)} /s | p50 ${r.p50Ms.toFixed(2)} ms | p99 ${r.p99Ms.toFixed(2)} ms |`);
  }
  const leader = await cluster.leader();
  const [f50, f99] = await histogramQuantiles(cluster.node(leader).clientPort, 'vigil_fsync_seconds', [0.5, 0.99]);
  results['fsync'] = { p50Ms: f50! * 1000, p99Ms: f99! * 1000 };
  rows.push(`| fsync (leader's synced log writes, histogram bucket bound) | | p50 ≤ ${(f50! * 1000).toFixed(2)} ms | p99 ≤ ${(f99! * 1000).toFixed(2)} ms |`);
  const rss = [...cluster.nodes.values()].map((n) => rssKiB(n.proc!.pid!));
  results['rssKiB'] = rss;
  rows.push(`| RSS after the write workload | ${rss.map((k) => `${(k / 1024).toFixed(0)} MiB`).join(' / ')} | | |`);
  const failovers: number[] = [];
  for (let i = 0; i < failoverRuns; i++) failovers.push(await failover(cluster));
  const sorted = [...failovers].sort((a, b) => a - b);
  results['failoverMs'] = { median: quantile(sorted, 0.5), all: failovers };
  rows.push(`| failover: kill -9 leader → next acknowledged write (median of ${failoverRuns}) | ${quantile(sorted, 0.5).toFixed(0)} ms | min ${sorted[0]!.toFixed(0)} ms | max ${sorted.at(-1)!.toFixed(0)} ms |`);
  console.log('| workload | result | | |\n|---|---|---|---|');
  for (const r of rows) console.log(r);
  console.log(JSON.stringify({ bench: 'cluster-http', ...results }));
} finally {
  await cluster.close();
}
