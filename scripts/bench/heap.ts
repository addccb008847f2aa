/**
 * `npm run bench:heap`: where a member's memory goes, per znode. Starts a three-member cluster of
 * real processes on loopback, creates `--znodes` persistent znodes of `--bytes` bytes through the
 * SDK connected to a follower, then takes a V8 heap snapshot of that follower (`--heapsnapshot-signal`, which collects
 * garbage first, so the snapshot holds only what is live) and reports, per member, RSS and heap,
 * and for the follower the live heap by kind of object, per znode; and the members' CPU time per
 * create (user and system, all three together: less sensitive to a busy machine than the rate).
 *
 *   npm run bench:heap -- [--znodes 140000] [--bytes 100] [--in-flight 256] [--cpu-only]
 *
 * `--cpu-only` stops after the creates (no heap snapshot), for comparing CPU per create.
 *
 * Memory figures do not depend much on how busy the machine is; the creation rate printed does.
 */
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../../packages/client/src/index.js';
import { ProcessCluster } from '../cluster/process-cluster.js';

const { values } = parseArgs({
  options: {
    znodes: { type: 'string', default: '140000' },
    bytes: { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '256' },
    'cpu-only': { type: 'boolean', default: false },
  },
});
const count = (name: string, text: string, least: number): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < least) throw new Error(`--${name}: a whole number ≥ ${least}, not ${text}`);
  return n;
};
const znodes = count('znodes', values.znodes, 1);
const value = new Uint8Array(count('bytes', values.bytes, 0));
const inFlight = count('in-flight', values['in-flight'], 1);

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

/** Resident set of a process, from /proc. */
async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/** CPU time a process has used, user and system, in seconds (/proc/PID/stat counts clock ticks of 1/100 s on Linux). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface HeapSnapshotFile {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Self sizes in a heap snapshot, summed by kind: objects and native blocks by name, the rest by type. */
function heapByKind(snap: HeapSnapshotFile): Map<string, { count: number; bytes: number }> {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + typeAt] as number] as string;
    const size = snap.nodes[i + sizeAt] as number;
    let kind = type === 'object' || type === 'native' ? (snap.strings[snap.nodes[i + nameAt] as number] as string) : type;
    // A large native block is a buffer of its own (a snapshot image, a frame): name it by size.
    if (kind === 'system / JSArrayBufferData' && size >= 1 << 20) kind = `one buffer of ${mib(size)} MiB`;
    const entry = out.get(kind) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    out.set(kind, entry);
  }
  return out;
}

const diagnostics = join(process.cwd(), 'bench-results', `heap-${Date.now()}`);
await mkdir(diagnostics, { recursive: true });
const cluster = await ProcessCluster.start({ size: 3, nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${diagnostics}`] });
try {
  const leader = await cluster.leader();
  // The client talks to a follower, which forwards its writes (as most of a cluster's clients
  // do); that follower's heap is the one examined.
  const follower = [...cluster.nodes.keys()].find((id) => id !== leader) as number;
  const client = await connect({ endpoints: [`127.0.0.1:${cluster.node(follower).clientPort}`] });
  await client.create('/heap', new Uint8Array(0), { mode: 'persistent' });
  const pids = [...cluster.nodes.values()].map((n) => n.proc?.pid ?? -1);
  const cpuBefore = await Promise.all(pids.map(cpuSeconds));
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < znodes) await client.create(`/heap/n${next++}`, value, { mode: 'persistent' });
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuAfter = await Promise.all(pids.map(cpuSeconds));
  await client.close();
  const cpuUs = (cpuAfter.reduce((a, b) => a + b, 0) - cpuBefore.reduce((a, b) => a + b, 0)) * 1e6 / znodes;
  console.log(`${znodes} znodes of ${value.byteLength} bytes created in ${seconds.toFixed(1)} s (${(znodes / seconds).toFixed(0)}/s, ${inFlight} in flight); CPU of the three members ${cpuUs.toFixed(0)} µs per create`);
  for (const node of cluster.nodes.values()) {
    const status = await cluster.status(node.id);
    console.log(`member ${node.id} (${node.id === leader ? 'leader' : 'follower'}): RSS ${mib(await rssBytes(node.proc?.pid ?? -1))} MiB, log entries in memory ${status.lastLogIndex - status.firstLogIndex + 1}`);
  }

  if (!values['cpu-only']) await heapReport(cluster, follower);
} finally {
  await cluster.close();
  await rm(diagnostics, { recursive: true, force: true });
}

async function heapReport(cluster: ProcessCluster, follower: number): Promise<void> {
  process.kill(cluster.node(follower).proc?.pid ?? -1, 'SIGUSR2');
  // The member writes the file under a temporary name and renames it when complete.
  let file: string | undefined;
  for (const deadline = Date.now() + 120_000; file === undefined && Date.now() < deadline; ) {
    file = (await readdir(diagnostics)).find((f) => f.endsWith('.heapsnapshot'));
    if (file === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (file === undefined) throw new Error(`member ${follower} wrote no heap snapshot within 2 minutes`);
  // Still being written: wait until its size stops changing and it parses.
  let snap: HeapSnapshotFile | undefined;
  for (const deadline = Date.now() + 120_000; snap === undefined && Date.now() < deadline; ) {
    try {
      snap = JSON.parse(await readFile(join(diagnostics, file), 'utf8')) as HeapSnapshotFile;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  if (snap === undefined) throw new Error(`member ${follower}'s heap snapshot did not become readable within 2 minutes`);
  const kinds = [...heapByKind(snap)].sort((a, b) => b[1].bytes - a[1].bytes);
  const total = kinds.reduce((sum, [, k]) => sum + k.bytes, 0);
  const large = kinds.filter(([name]) => name.startsWith('one buffer')).reduce((sum, [, k]) => sum + k.bytes, 0);
  console.log(`\nfollower ${follower}, live heap after a full collection: ${mib(total)} MiB, ${((total - large) / znodes).toFixed(0)} bytes per znode besides buffers of 1 MiB or more (${mib(large)} MiB)`);
  console.log('\n| kind | count | MiB | bytes per znode |\n|---|---|---|---|');
  for (const [name, k] of kinds.slice(0, 14)) console.log(`| ${name} | ${k.count} | ${mib(k.bytes)} | ${(k.bytes / znodes).toFixed(0)} |`);
}
