/**
 * Throughput of the Raft core alone: a 3-node cluster in one thread, messages delivered in
 * memory, persistence a no-op, batching on. Measures propose → commit → applied on the leader
 * for 100-byte payloads. Prints the median of several runs, as a table and as JSON.
 *
 *   npm run bench:raft [-- --entries 1000000 --batch 1024 --runs 5]
 */
import { parseArgs } from 'node:util';
import { createPrng, RawNode, type Message, type NodeId } from '@vigil/raft';

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '1000000' },
    batch: { type: 'string', default: '1024' },
    runs: { type: 'string', default: '5' },
    bytes: { type: 'string', default: '100' },
  },
});
const entriesTotal = Number(values.entries);
const batch = Number(values.batch);
const runs = Number(values.runs);
const payloadBytes = Number(values.bytes);

function runOnce(): number {
  const ids: NodeId[] = [1, 2, 3];
  const nodes = new Map<NodeId, RawNode>();
  for (const id of ids) {
    nodes.set(id, new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, prng: createPrng(id), inflightMsgsMax: 256, uncommittedBytesMax: 1 << 30 }, RawNode.bootstrap(ids)));
  }
  let inbox: Message[] = [];
  let applied = 0;
  const pump = (): void => {
    for (;;) {
      let progressed = false;
      for (const [id, n] of nodes) {
        while (n.hasReady()) {
          const rd = n.ready();
          for (const m of rd.earlyMessages) inbox.push(m);
          for (const m of rd.messages) inbox.push(m);
          if (id === 1) applied = rd.committedEntries.length > 0 ? rd.committedEntries[rd.committedEntries.length - 1]!.index : applied;
          n.advance(rd);
          progressed = true;
        }
      }
      if (inbox.length > 0) {
        const msgs = inbox;
        inbox = [];
        for (const m of msgs) nodes.get(m.to)!.step(m);
        progressed = true;
      }
      if (!progressed) return;
    }
  };
  pump();
  nodes.get(1)!.campaign();
  pump();
  const leader = nodes.get(1)!;
  if (leader.status().role !== 'leader') throw new Error('node 1 did not win the election');
  const payload = new Uint8Array(payloadBytes);
  const start = process.hrtime.bigint();
  let target = 0;
  for (let proposed = 0; proposed < entriesTotal; proposed += batch) {
    for (let i = 0; i < batch; i++) target = leader.propose(payload).index;
    pump();
  }
  if (applied < target) throw new Error(`only ${applied} of ${target} applied`);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return entriesTotal / seconds;
}

const results: number[] = [];
runOnce(); // warm-up
for (let r = 0; r < runs; r++) results.push(runOnce());
results.sort((a, b) => a - b);
const median = results[Math.floor(results.length / 2)]!;
console.log('| workload | entries/s (median of %d) | min | max |', runs);
console.log('|---|---|---|---|');
console.log(`| raft core, 3 nodes in-process, ${payloadBytes}-byte entries, batches of ${batch} | ${median.toFixed(0)} | ${results[0]!.toFixed(0)} | ${results[results.length - 1]!.toFixed(0)} |`);
console.log(JSON.stringify({ bench: 'raft-core', payloadBytes, batch, runs, entriesPerSecondMedian: Math.round(median), all: results.map(Math.round) }));
