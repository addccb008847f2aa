// Worker thread of `npm run sim -- --seeds N`: runs every stride-th seed against the built
// @vigil/sim (plain JavaScript, so that workers need no TypeScript loader).
import { parentPort, workerData } from 'node:worker_threads';
import { runSeed } from '@vigil/sim';

const job = workerData;
const failures = [];
let events = 0;
let acked = 0;
let reads = 0;
let done = 0;
for (let i = job.offset; i < job.count; i += job.stride) {
  const r = runSeed(job.from + i, { chaosTicks: job.chaosTicks });
  events += r.events;
  acked += r.acked;
  reads += r.reads;
  done++;
  if (!r.ok) failures.push({ seed: r.seed, violation: r.violation });
  if (done % 500 === 0) parentPort.postMessage({ progress: 500 });
}
parentPort.postMessage({ done, events, acked, reads, failures });
