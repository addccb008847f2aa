/**
 * How long clients wait after a member comes back: real `vigil server` processes (the built code,
 * `packages/*\/dist`: run `npx tsc -b` first), timed from the fault's end to the first request
 * that succeeds through the member that was hit. Medians over several trials; the numbers go in
 * docs/decisions.md, never into test assertions.
 *
 *   node --import tsx scripts/measure-recovery.ts [--trials 10] [--scenarios restart,pause-follower,…]
 *
 * Scenarios (3 members on loopback unless said otherwise):
 *   restart          SIGKILL a follower, write `--writes` entries, restart it: time from the spawn
 *                    to its first /livez, to its applied index reaching the leader's commit index
 *                    at the restart, and to its first successful linearizable read
 *   pause-follower   SIGSTOP a follower for `--pause-ms`, SIGCONT: time to its first successful
 *                    linearizable read
 *   pause-leader     the same for the leader (the others elect meanwhile)
 *   leader-kill      SIGKILL the leader: time to the first successful write through a survivor
 *   learner          add a fourth member (started with --join just before) as a learner after
 *                    `--writes` entries: time from the add to its applied index reaching the
 *                    leader's commit index; `learner-late` adds it first and starts it 200 ms later
 *   partition        (root, Linux) members in network namespaces; one follower cut off from the
 *                    others by iptables for `--pause-ms`, then healed: time from the heal to its
 *                    first successful linearizable read (uses scripts/faults/net.ts)
 *   partition-leader the same with the leader cut off (the other two elect meanwhile)
 *
 * Every probe launches a request every `probeEveryMs` (at most `probesInFlightMax` at once, each
 * with its own deadline) and reports when the first one succeeded, so a request that waits
 * inside the server counts from the fault's end just as one that is retried.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { fetchJson, ProcessCluster, vigilBin, waitFor, type NodeStatusJson } from './cluster/process-cluster.js';

const probeEveryMs = 10;
const probesInFlightMax = 50;
const probeTimeoutMs = 3_000;
const probeGiveUpMs = 15_000;

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '10' },
    scenarios: { type: 'string', default: 'restart,pause-follower,pause-leader,leader-kill,learner,learner-late' },
    writes: { type: 'string', default: '300' },
    'pause-ms': { type: 'string', default: '3000' },
    'fault-run': { type: 'string', default: '211' },
    /** Keep the partition scenario's member logs (info level) in this directory. */
    'log-dir': { type: 'string' },
  },
});
const trials = Number(values.trials);
const writes = Number(values.writes);
const pauseMs = Number(values['pause-ms']);
const scenarios = values.scenarios.split(',').filter((s) => s.length > 0);

const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** Milliseconds from `startMs` until one launched attempt resolved true. */
async function firstSuccess(what: string, startMs: number, attempt: (signal: AbortSignal) => Promise<boolean>): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let inFlight = 0;
    let done = false;
    const launch = (): void => {
      if (done) return;
      if (performance.now() - startMs > probeGiveUpMs) {
        done = true;
        clearInterval(timer);
        reject(new Error(`no successful ${what} within ${probeGiveUpMs} ms`));
        return;
      }
      if (inFlight >= probesInFlightMax) return;
      inFlight++;
      attempt(AbortSignal.timeout(probeTimeoutMs))
        .catch(() => false)
        .then((ok) => {
          inFlight--;
          if (ok && !done) {
            done = true;
            clearInterval(timer);
            resolve(performance.now() - startMs);
          }
        });
    };
    const timer = setInterval(launch, probeEveryMs);
    launch();
  });
}

async function httpOk(url: string, signal: AbortSignal, init: RequestInit = {}): Promise<boolean> {
  const res = await fetch(url, { ...init, signal });
  await res.arrayBuffer();
  return res.status < 300;
}

function linearizableRead(baseUrl: string): (signal: AbortSignal) => Promise<boolean> {
  return (signal) => httpOk(`${baseUrl}/v1/znodes/probe?consistency=linearizable`, signal);
}

function write(baseUrl: string, path: string): (signal: AbortSignal) => Promise<boolean> {
  return (signal) =>
    httpOk(`${baseUrl}/v1/znodes${path}`, signal, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: b64(path) }) });
}

async function statusOf(baseUrl: string): Promise<NodeStatusJson | undefined> {
  try {
    const r = await fetchJson<NodeStatusJson>(`${baseUrl}/status`, { timeoutMs: 1_000 });
    return r.status === 200 ? r.body : undefined;
  } catch {
    return undefined;
  }
}

/** `count` creates through `baseUrl` from 8 concurrent loops. */
async function writeMany(baseUrl: string, prefix: string, count: number): Promise<void> {
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      await fetchJson(`${baseUrl}/v1/znodes${prefix}/${n}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: b64('x'.repeat(100)), createParents: true }),
        timeoutMs: 5_000,
      }).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: 8 }, loop));
}

type Sample = Record<string, number>;

function summarize(name: string, samples: Sample[]): void {
  if (samples.length === 0) {
    console.log(`${name}: no samples`);
    return;
  }
  const keys = Object.keys(samples[0]!);
  for (const key of keys) {
    const xs = samples.map((s) => s[key]!).sort((a, b) => a - b);
    const at = (q: number): number => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
    const median = xs.length % 2 === 1 ? xs[(xs.length - 1) / 2]! : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
    console.log(`${name.padEnd(15)} ${key.padEnd(22)} n=${xs.length} median ${median.toFixed(0).padStart(5)} ms  p90 ${at(0.9).toFixed(0).padStart(5)}  min ${xs[0]!.toFixed(0).padStart(5)}  max ${xs.at(-1)!.toFixed(0).padStart(5)}`);
  }
}

async function caughtUpWith(c: ProcessCluster, id: number): Promise<void> {
  const leader = await c.leader();
  const target = (await c.status(leader)).commitIndex;
  await waitFor(`node ${id} to apply ${target}`, async () => ((await statusOf(c.url(id, ''))) !== undefined && (await c.status(id)).appliedIndex >= target ? true : undefined), 30_000, 20);
}

async function withCluster(run: (c: ProcessCluster) => Promise<void>): Promise<void> {
  const c = await ProcessCluster.start({ logLevel: 'warn' });
  try {
    await c.leader();
    await fetchJson(c.url(await c.leader(), '/v1/znodes/probe'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: b64('p') }) });
    await run(c);
  } finally {
    await c.close();
  }
}

async function restart(c: ProcessCluster, trial: number): Promise<Sample> {
  const leader = await c.leader();
  const victim = [1, 2, 3].find((id) => id !== leader)!;
  await c.kill(victim);
  await writeMany(c.url(leader, ''), `/restart-${trial}`, writes);
  const target = (await c.status(await c.leader(c.live()))).commitIndex;
  const base = c.url(victim, '');
  const started = performance.now();
  c.spawn(victim);
  const serving = firstSuccess('livez', started, (signal) => httpOk(`${base}/livez`, signal));
  const caughtUp = firstSuccess('catch-up', started, async (signal) => {
    const r = await fetch(`${base}/status`, { signal });
    return r.status === 200 && ((await r.json()) as NodeStatusJson).appliedIndex >= target;
  });
  const read = firstSuccess('linearizable read', started, linearizableRead(base));
  const sample = { serving: await serving, caughtUp: await caughtUp, firstRead: await read };
  // The process's own start (node, modules, LevelDB) is not recovery: also count from its serving.
  Object.assign(sample, { caughtUpAfterServing: sample.caughtUp - sample.serving, firstReadAfterServing: sample.firstRead - sample.serving });
  await caughtUpWith(c, victim);
  return sample;
}

async function pause(c: ProcessCluster, which: 'leader' | 'follower'): Promise<Sample> {
  const leader = await c.leader();
  const victim = which === 'leader' ? leader : [1, 2, 3].find((id) => id !== leader)!;
  await c.pause(victim);
  await new Promise((r) => setTimeout(r, pauseMs));
  const started = performance.now();
  await c.resume(victim);
  const firstRead = await firstSuccess('linearizable read', started, linearizableRead(c.url(victim, '')));
  await c.leader();
  await caughtUpWith(c, victim);
  return { firstRead };
}

async function leaderKill(c: ProcessCluster, trial: number): Promise<Sample> {
  const leader = await c.leader();
  const survivors = [1, 2, 3].filter((id) => id !== leader);
  const started = performance.now();
  await c.kill(leader);
  let turn = 0;
  const firstWrite = await firstSuccess('write', started, (signal) => write(c.url(survivors[turn++ % 2]!, ''), '/probe')(signal));
  void trial;
  c.spawn(leader);
  await c.leader();
  await caughtUpWith(c, leader);
  return { firstWrite };
}

let nextLearnerId = 4;
async function learner(c: ProcessCluster, trial: number, late: boolean): Promise<Sample> {
  const leader = await c.leader();
  await writeMany(c.url(leader, ''), `/learner-${trial}`, writes);
  const id = nextLearnerId++;
  const node = await c.define(id);
  const peers = c.peersArg([1, 2, 3, id]);
  if (!late) {
    c.spawn(id, { join: true, peers });
    await waitFor(`member ${id} to listen`, async () => ((await statusOf(c.url(id, ''))) !== undefined ? true : undefined), 15_000, 10);
  }
  const target = (await c.status(leader)).commitIndex + 1;
  const started = performance.now();
  const add = await fetchJson<{ index: number }>(c.url(leader, '/admin/members'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id, peerAddress: `127.0.0.1:${node.peerPort}`, clientAddress: `127.0.0.1:${node.clientPort}` }),
  });
  if (add.status !== 200) throw new Error(`adding ${id}: ${add.status}`);
  let serving: Promise<number> | undefined;
  if (late) {
    await new Promise((r) => setTimeout(r, 200));
    c.spawn(id, { join: true, peers });
    serving = firstSuccess('livez', started, (signal) => httpOk(`${c.url(id, '')}/livez`, signal));
  }
  const caughtUp = await firstSuccess('learner catch-up', started, async (signal) => {
    const r = await fetch(`${c.url(id, '')}/status`, { signal });
    return r.status === 200 && ((await r.json()) as NodeStatusJson).appliedIndex >= target;
  });
  const servedAt = serving === undefined ? undefined : await serving;
  const removed = await fetchJson(c.url(await c.leader([1, 2, 3]), `/admin/members/${id}`), { method: 'DELETE', timeoutMs: 10_000 });
  if (removed.status !== 200) throw new Error(`removing ${id}: ${removed.status}`);
  await c.kill(id);
  c.nodes.delete(id);
  return servedAt === undefined ? { caughtUp } : { caughtUp: caughtUp - 200, caughtUpAfterServing: caughtUp - servedAt };
}

/** Members in network namespaces (scripts/faults/net.ts), one member cut off and healed. */
async function partitionTrials(which: 'follower' | 'leader'): Promise<Sample[]> {
  const { FaultNetwork } = await import('./faults/net.js');
  // A fresh run number per network: a deleted namespace's veths may linger for a while.
  const net = await FaultNetwork.create(Number(values['fault-run']) + (which === 'leader' ? 1 : 0));
  const root = await mkdtemp(join(tmpdir(), 'vigil-measure-'));
  const procs = new Map<number, ChildProcess>();
  const samples: Sample[] = [];
  try {
    const hosts = [];
    for (const id of [1, 2, 3]) hosts.push(await net.addHost(id));
    const peers = hosts.map((h) => `${h.id}=${h.ip}:7100`).join(',');
    for (const h of hosts) {
      const dataDir = join(root, `n${h.id}`);
      await mkdir(dataDir, { recursive: true });
      const logDir = values['log-dir'];
      const proc = spawn('ip', ['netns', 'exec', h.namespace, process.execPath, vigilBin, 'server', '--id', String(h.id), '--cluster-id', 'measure', '--data-dir', dataDir,
        '--client-listen', `${h.ip}:7000`, '--peer-listen', `${h.ip}:7100`, '--peers', peers, '--log-level', logDir === undefined ? 'warn' : 'info'],
        { stdio: ['ignore', logDir === undefined ? 'ignore' : 'pipe', 'ignore'] });
      if (logDir !== undefined) {
        await mkdir(logDir, { recursive: true });
        proc.stdout!.pipe(createWriteStream(join(logDir, `n${h.id}.log`), { flags: 'a' }));
      }
      procs.set(h.id, proc);
    }
    const url = (id: number): string => `http://${net.host(id).ip}:7000`;
    const leaderOf = async (): Promise<number> =>
      waitFor('a leader', async () => {
        const all = await Promise.all([1, 2, 3].map((id) => statusOf(url(id))));
        const leaders = all.filter((s) => s?.role === 'leader');
        return leaders.length === 1 && all.every((s) => s?.leaderId === leaders[0]!.id) ? leaders[0]!.id : undefined;
      });
    await fetchJson(`${url(await leaderOf())}/v1/znodes/probe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: b64('p') }) });
    for (let t = 0; t < trials; t++) {
      const leader = await leaderOf();
      const victim = which === 'leader' ? leader : [1, 2, 3].find((id) => id !== leader)!;
      await net.cut([victim], [1, 2, 3].filter((id) => id !== victim));
      await new Promise((r) => setTimeout(r, pauseMs));
      const started = performance.now();
      await net.heal();
      const healedAt = new Date().toISOString();
      const firstRead = await firstSuccess('linearizable read', started, linearizableRead(url(victim)));
      samples.push({ firstRead });
      console.log(`partition-${which} trial ${t + 1}: member ${victim} (leader ${leader}) healed at ${healedAt}: first read after ${Math.round(firstRead)} ms`);
      await leaderOf();
    }
  } finally {
    for (const proc of procs.values()) {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = once(proc, 'exit');
        proc.kill('SIGKILL');
        await exited;
      }
    }
    await net.close();
    await rm(root, { recursive: true, force: true });
  }
  return samples;
}

const results = new Map<string, Sample[]>();
const record = (name: string, s: Sample): void => {
  const list = results.get(name) ?? [];
  list.push(s);
  results.set(name, list);
  console.log(`${name} trial ${list.length}: ${JSON.stringify(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Math.round(v)])))}`);
};

const loopback = scenarios.filter((s) => !s.startsWith('partition'));
if (loopback.length > 0) {
  await withCluster(async (c) => {
    for (let t = 0; t < trials; t++) {
      for (const s of loopback) {
        if (s === 'restart') record(s, await restart(c, t));
        else if (s === 'pause-follower') record(s, await pause(c, 'follower'));
        else if (s === 'pause-leader') record(s, await pause(c, 'leader'));
        else if (s === 'leader-kill') record(s, await leaderKill(c, t));
        else if (s === 'learner') record(s, await learner(c, t, false));
        else if (s === 'learner-late') record(s, await learner(c, t, true));
        else throw new Error(`unknown scenario ${s}`);
      }
    }
  });
}
if (scenarios.includes('partition')) results.set('partition', await partitionTrials('follower'));
if (scenarios.includes('partition-leader')) results.set('partition-leader', await partitionTrials('leader'));

console.log(`\n${trials} trials, pause/partition ${pauseMs} ms, ${writes} writes before restart/learner`);
for (const [name, samples] of results) summarize(name, samples);
