/**
 * The simulator's command line.
 *
 *   npm run sim -- --seed 0x1f            replay one seed (prints its trace on failure, or with --trace)
 *   npm run sim -- --seeds 100000         sweep seeds 1..N in parallel worker threads, print a summary
 *   npm run sim -- --seeds 1000 --from 5000 --workers 2 --chaos-ticks 400
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { replayCommand, runSeed } from '@vigil/sim';

interface Job {
  from: number;
  count: number;
  stride: number;
  offset: number;
  chaosTicks: number;
}

function parseSeed(text: string): number {
  const n = text.startsWith('0x') ? Number.parseInt(text.slice(2), 16) : Number.parseInt(text, 10);
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`bad seed: ${text}`);
  return n;
}

{
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      seeds: { type: 'string' },
      from: { type: 'string', default: '1' },
      workers: { type: 'string' },
      'chaos-ticks': { type: 'string', default: '400' },
      trace: { type: 'boolean', default: false },
    },
  });
  const chaosTicks = Number.parseInt(values['chaos-ticks'], 10);
  if (values.seed !== undefined) {
    const seed = parseSeed(values.seed);
    const r = runSeed(seed, { chaosTicks, trace: true });
    if (values.trace || !r.ok) for (const line of r.trace ?? []) console.log(line);
    console.log(`seed 0x${seed.toString(16)}: ${r.ok ? 'ok' : `FAILED ${r.violation}`} (${r.events} events, ${r.acked} writes acknowledged, ${r.reads} reads checked, trace hash ${r.traceHash.toString(16)})`);
    process.exitCode = r.ok ? 0 : 1;
  } else {
    const count = Number.parseInt(values.seeds ?? '1000', 10);
    const from = parseSeed(values.from);
    const workers = Math.max(1, Number.parseInt(values.workers ?? String(availableParallelism()), 10));
    const started = process.hrtime.bigint();
    let progress = 0;
    const results = await Promise.all(
      Array.from({ length: workers }, (_, offset) =>
        new Promise<{ done: number; events: number; acked: number; reads: number; failures: { seed: number; violation: string }[] }>((resolve, reject) => {
          const w = new Worker(new URL('./sim-worker.js', import.meta.url), { workerData: { from, count, stride: workers, offset, chaosTicks } satisfies Job });
          w.on('message', (m: { progress?: number; done?: number }) => {
            if (m.progress !== undefined) {
              progress += m.progress;
              if (progress % 10_000 === 0) console.log(`  ${progress} seeds...`);
            } else resolve(m as never);
          });
          w.on('error', reject);
        }),
      ),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const failures = results.flatMap((r) => r.failures).sort((a, b) => a.seed - b.seed);
    const sum = (k: 'done' | 'events' | 'acked' | 'reads'): number => results.reduce((s, r) => s + r[k], 0);
    for (const f of failures.slice(0, 20)) console.log(`FAIL seed 0x${f.seed.toString(16)}: ${f.violation}\n  replay: ${replayCommand(f.seed)}`);
    console.log(
      `sim: ${sum('done')} seeds from ${from} in ${seconds.toFixed(1)} s (${(sum('done') / seconds).toFixed(0)} seeds/s, ${workers} workers): ` +
        `${failures.length} failed; ${sum('events')} events, ${sum('acked')} writes acknowledged, ${sum('reads')} reads checked`,
    );
    process.exitCode = failures.length === 0 ? 0 : 1;
  }
}
