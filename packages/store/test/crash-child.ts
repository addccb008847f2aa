// Applies the workload to a LevelDB store until killed, printing the applied index after each
// batch. Run by crash.test.ts as a separate process so that SIGKILL can land mid-batch.
import { openStore } from '../src/index.js';
import { workloadBatchSize, workloadEntry } from './workload.js';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: crash-child <dir>');
const store = await openStore({ path });
for (let batchNo = 0; ; batchNo++) {
  const first = store.appliedIndex + 1;
  const size = workloadBatchSize(batchNo);
  const entries = Array.from({ length: size }, (_, i) => workloadEntry(first + i));
  // Several applies in flight at once, so the kill can find more than one batch queued.
  void store.apply(entries.slice(0, size >> 1));
  await store.apply(entries.slice(size >> 1));
  process.stdout.write(`${store.appliedIndex}\n`);
}
