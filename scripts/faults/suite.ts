import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  checkAcknowledgedPresent,
  checkEphemerals,
  checkLinearizable,
  checkLocks,
  checkSessionOrder,
  checkWatchStreams,
  describeOp,
  graceMsDefault,
  renderTimeline,
  renderTimelineHtml,
  type EphemeralRecord,
  type WriteEvent,
  type ZnodeOp,
} from '@vigil/check';
import { createPrng } from '@vigil/raft';
import { mountDisk, unmountDisk } from './disk.js';
import { RunLedger } from './ledger.js';
import { Members } from './members.js';
import { FaultNetwork } from './net.js';
import { faultKinds, Nemesis, shuffle, type FaultKind, type FaultRecord } from './nemesis.js';
import { failsOver, registerNumber, Workload } from './workload.js';

/**
 * One fault run: real members in network namespaces, clients recording a history, a seeded
 * schedule of faults, then heal, converge and check. The same code serves `npm run test:faults`
 * (long runs), the short run inside `npm test` and the availability run.
 */

export const knownBugs = ['stale-reads', 'early-ack', 'keep-ephemerals'] as const;
export type KnownBug = (typeof knownBugs)[number];

export interface FaultRunOptions {
  readonly members: 3 | 5;
  readonly timeMs: number;
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  /** Faults last this long (uniform in [min, max]), with a quiet gap of `quietMs` between them. */
  readonly faultMs: readonly [number, number];
  readonly quietMs: readonly [number, number];
  /** Deliberate bugs switched on in every member (the known-bad switch). */
  readonly knownBad?: readonly KnownBug[];
  /** 0..255, this run's subnet and name prefix; default from the seed. */
  readonly run?: number;
  /** Keep the data directories, logs and history here (default: a temporary directory, removed). */
  readonly outDir?: string;
  readonly registerClients?: number;
  readonly log?: (line: string) => void;
}

export interface CheckSummary {
  readonly name: string;
  readonly valid: boolean;
  readonly summary: string;
}

export interface Availability {
  readonly ops: number;
  /**
   * Of the register operations of clients that may move between members (not the pinned
   * readers: `failsOver`), the fraction answered (ok or a definite error) within 2 s.
   */
  readonly within2sFraction: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  /** The longest stretch with no answered register operation. */
  readonly longestGapMs: number;
}

export interface FaultRunReport {
  readonly seed: number;
  readonly members: number;
  readonly durationMs: number;
  readonly faults: readonly FaultRecord[];
  readonly opCounts: Readonly<Record<string, number>>;
  readonly checks: readonly CheckSummary[];
  /** Every check that failed, every crash and a cluster that did not converge. */
  readonly violations: readonly string[];
  readonly availability: Availability;
  readonly outDir: string | undefined;
  /** Each linearizability violation drawn as a self-contained HTML page (saved with `outDir`). */
  readonly timelinesHtml: readonly { readonly key: string; readonly html: string }[];
}

/** After healing, the members must agree again within this long. */
const convergeTimeoutMs = 30_000;
const sessionTimeoutMs = 3_000;
const requestTimeoutMs = 5_000;
/**
 * Member 1's tmpfs: large enough for what a long run writes (a 10-minute availability run writes
 * over 200,000 znodes, more than 64 MiB of log, tree and snapshots), so that only the disk-full
 * fault fills it; tmpfs takes memory only for what is written.
 */
const diskBytes = 1024 * 1024 * 1024;

export async function runFaults(options: FaultRunOptions): Promise<FaultRunReport> {
  const log = options.log ?? (() => undefined);
  // The schedule and the workload draw from separate streams, so that a seed fixes the faults'
  // order, targets and durations however many operations the clients happened to make.
  const prng = createPrng(options.seed);
  const workloadPrng = createPrng((options.seed ^ 0x5bd1e995) >>> 0);

  const run = options.run ?? options.seed % 200;
  const ledger = new RunLedger(run);
  for (const line of await ledger.reclaim()) log(line);
  const root = options.outDir ?? (await mkdtemp(join(tmpdir(), 'vigil-faults-')));
  if (options.outDir === undefined) ledger.addDir(root);
  await mkdir(root, { recursive: true });
  const diskMount = join(root, 'disk');
  let mounted = false;
  const net = await FaultNetwork.create(run);
  const knownBad = options.knownBad ?? [];
  const members = new Members({
    net,
    root,
    clusterId: `faults-${options.seed}`,
    serverArgs: ['--tick-ms', '50', '--log-level', 'info'],
    env: knownBad.length > 0 ? { VIGIL_KNOWN_BAD: knownBad.join(',') } : {},
    ledger,
  });
  let workload: Workload | undefined;
  const startedMs = performance.now();
  try {
    const voters = Array.from({ length: options.members }, (_, i) => i + 1);
    // Member 1's data lives on a small tmpfs of its own, for the disk-full fault.
    await mkdir(diskMount, { recursive: true });
    ledger.addMount(diskMount);
    await mountDisk(diskMount, diskBytes);
    mounted = true;
    for (const id of voters) await members.define(id, id === 1 ? join(diskMount, 'data') : undefined);
    for (const id of voters) members.start(id, voters);
    const nemesis = new Nemesis(members, net, prng, voters, 1, (now) => workload?.setEndpoints(now.map((id) => members.clientEndpoint(id))));
    await awaitConverged(members, nemesis.voters);
    const endpoints = voters.map((id) => members.clientEndpoint(id));
    await Workload.prepare(endpoints);
    workload = new Workload({
      endpoints,
      prng: workloadPrng,
      registerClients: options.registerClients ?? 8,
      keys: 4,
      sessionTimeoutMs,
      requestTimeoutMs,
      ephemeralOwners: 2,
      lockClients: 3,
      watchers: 2,
    });
    await workload.start();
    log(`workload started: ${endpoints.join(' ')}`);

    const order = shuffle(options.faults, prng);
    const endMs = performance.now() + options.timeMs;
    // Every kind at least once, then on until the time is up.
    for (let n = 0; n < order.length || performance.now() < endMs; n++) {
      await delay(between(options.quietMs, prng));
      const kind = order[n % order.length]!;
      const heal = await nemesis.inject(kind);
      log(`fault ${n + 1}: ${kind} — ${nemesis.log.at(-1)?.detail ?? ''}`);
      await delay(between(options.faultMs, prng));
      await heal();
    }
    await nemesis.healAll();
    log('healed; waiting for the members to agree');
    const phase = (name: string, since: number): void => log(`${name} (${Math.round(performance.now() - since)} ms)`);
    let t = performance.now();
    const converged = await awaitConverged(members, nemesis.voters).then(() => undefined, (err: unknown) => String(err));
    phase(converged === undefined ? 'members agree' : 'members do not agree', t);
    t = performance.now();
    await workload.finish();
    phase('clients stopped', t);
    // A cluster that did not come back cannot answer every final read: that is reported already.
    let present: Set<string> | undefined;
    if (converged === undefined) {
      t = performance.now();
      await workload.readRegisters();
      await workload.awaitEphemeralsGone(3 * sessionTimeoutMs + 10_000);
      present = await workload.listAcknowledged();
      phase('final reads', t);
    } else {
      // A majority may still have a leader: a listing it answers is a linearizable read like any other.
      t = performance.now();
      present = await workload.listAcknowledged().catch(() => undefined);
      phase(present === undefined ? 'no final listing' : 'final listing', t);
    }
    t = performance.now();
    const report = check(workload, present, options, nemesis.log, members, converged, performance.now() - startedMs, options.outDir);
    phase('checked', t);
    if (options.outDir !== undefined) await saveHistory(options.outDir, workload, report);
    return report;
  } finally {
    await workload?.close();
    await members.close();
    if (mounted) await unmountDisk(diskMount);
    await net.close();
    ledger.close();
    if (options.outDir === undefined) await rm(root, { recursive: true, force: true });
  }
}

function check(
  workload: Workload,
  present: Set<string> | undefined,
  options: FaultRunOptions,
  faults: readonly FaultRecord[],
  members: Members,
  converged: string | undefined,
  durationMs: number,
  outDir: string | undefined,
): FaultRunReport {
  const h = workload.history;
  const checks: CheckSummary[] = [];
  const violations: string[] = [];
  const add = (name: string, valid: boolean, summary: string): void => {
    checks.push({ name, valid, summary });
    if (!valid) violations.push(`${name}: ${summary}`);
  };

  const lin = checkLinearizable(h.ops);
  const linSummary = lin.valid
    ? `${h.ops.length} ops on ${lin.keys.length} keys`
    : [...lin.violations.map((v) => renderTimeline(v)), ...lin.unknownKeys.map((k) => `${k}: search bound reached, neither proven nor refuted`)].join('\n');
  add('linearizable', lin.valid, linSummary);
  // Monotonic reads per client and znode: a znode's revision only grows, so one session's answers
  // about it never go back (a client thread on one znode is one "process" for the checker).
  const perKey = [...h.ops, ...h.sequentialReads].map((op) => ({ ...op, process: op.process * 1_000_000 + registerNumber(op.key) }));
  const order = checkSessionOrder(perKey, { scope: 'session' });
  add('session order', order.valid, order.valid ? `${order.opsChecked} answers` : order.violations.slice(0, 5).map((v) => `${describeOp(v.op)} after ${describeOp(v.seen)}`).join('\n'));
  const acked = checkAcknowledgedPresent({ acknowledged: h.acknowledgedCreates, ...(present === undefined ? {} : { finalListing: [...present] }) });
  add('acknowledged present', acked.valid, acked.valid ? `${acked.present} acknowledged creates present${acked.unverified.length > 0 ? `, ${acked.unverified.length} not verified (no final listing)` : ''}` : `missing ${acked.missing.slice(0, 20).map((m) => m.key).join(', ')}`);
  const watches = checkWatchStreams({ writes: watchedWrites(h.ops), watchers: h.watchStreams });
  add('watch streams', watches.valid, watches.valid ? `${watches.eventsChecked} events` : watches.violations.slice(0, 5).map((v) => `${v.watcher} ${v.kind}: ${v.detail}`).join('\n'));
  // Every new leader grants each session one fresh timeout (docs/protocol.md §5), and any fault may
  // elect one: one more timeout of grace per fault under way while the ephemeral should go.
  const ephemeralGraceMs = (e: EphemeralRecord): number => {
    const from = e.ownerGoneMs ?? Infinity;
    let grace = graceMsDefault(e.timeoutMs);
    // A fault that began before the deadline may move it by a timeout, and so bring in the next.
    for (let counted = -1, n = 0; n !== counted; ) {
      counted = n;
      const deadline = from + e.timeoutMs + grace;
      n = faults.filter((f) => f.startMs <= deadline && (f.endMs === 0 || f.endMs >= from)).length;
      grace = graceMsDefault(e.timeoutMs) + n * e.timeoutMs;
    }
    return grace;
  };
  const eph = checkEphemerals({ ephemerals: h.ephemerals, observations: h.ephemeralObservations }, { graceMs: ephemeralGraceMs });
  add('ephemerals', eph.valid, eph.valid ? `${h.ephemerals.length} ephemerals, ${eph.observationsChecked} observations` : eph.violations.slice(0, 5).map((v) => v.detail).join('\n'));
  const locks = checkLocks({ holds: h.holds, fencedWrites: h.fencedWrites });
  add('locks', locks.valid, locks.valid ? `${h.holds.length} holds, ${h.fencedWrites.length} fenced writes, ${locks.fencedOverlaps.length} fenced overlaps` : locks.violations.slice(0, 5).map((v) => v.detail).join('\n'));

  for (const m of members.all.values()) for (const exit of m.unexpectedExits) violations.push(`member ${m.id} ended unexpectedly (${exit}); log ${outDir === undefined ? '(not kept)' : m.logPath}`);
  if (converged !== undefined) violations.push(`no agreement after healing: ${converged}`);
  for (const e of h.clientErrors) violations.push(`client: ${e}`);

  const opCounts: Record<string, number> = {};
  for (const op of [...h.ops, ...h.sequentialReads]) opCounts[`${op.f} ${op.outcome}`] = (opCounts[`${op.f} ${op.outcome}`] ?? 0) + 1;
  return {
    seed: options.seed,
    members: options.members,
    durationMs,
    faults,
    opCounts,
    checks,
    violations,
    availability: availability(h.ops),
    outDir,
    timelinesHtml: lin.violations.map((v) => ({ key: v.key, html: renderTimelineHtml(v) })),
  };
}

/** The watch events the register writes made (a recursive watch hears no childrenChanged). */
function watchedWrites(ops: readonly ZnodeOp[]): WriteEvent[] {
  const kinds = { create: 'created', set: 'dataChanged', delete: 'deleted' } as const;
  const events: WriteEvent[] = [];
  for (const op of ops) {
    if (op.f === 'get' || (op.outcome !== 'ok' && op.outcome !== 'info')) continue;
    // A delete's revision is not recorded: it explains one event, like a write of unknown outcome.
    const known = op.outcome === 'ok' && op.revision !== undefined;
    events.push({ path: op.key, kind: kinds[op.f], outcome: known ? 'ok' : 'info', ...(known ? { revision: op.revision } : {}) });
  }
  return events;
}

export function availability(history: readonly ZnodeOp[]): Availability {
  // The workload's clients only: the final reads (process -1) come after the clients have stopped,
  // and the pause before them is the runner's, not the cluster's. Pinned readers are left out: a
  // client bound to one member is unavailable whenever that member is cut off, whatever the cluster does.
  const ops = history.filter((op) => op.process >= 0 && failsOver(op.process));
  const answered = ops.filter((op) => op.outcome === 'ok' || op.outcome === 'error').sort((a, b) => a.completeMs - b.completeMs);
  const latencies = answered.map((op) => op.completeMs - op.invokeMs).sort((a, b) => a - b);
  const within = answered.filter((op) => op.completeMs - op.invokeMs <= 2_000).length;
  let gap = 0;
  for (let i = 1; i < answered.length; i++) gap = Math.max(gap, answered[i]!.completeMs - answered[i - 1]!.completeMs);
  const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return { ops: ops.length, within2sFraction: ops.length === 0 ? 0 : within / ops.length, latencyP50Ms: q(0.5), latencyP99Ms: q(0.99), longestGapMs: gap };
}

async function saveHistory(outDir: string, workload: Workload, report: FaultRunReport): Promise<void> {
  await writeFile(join(outDir, 'history.json'), JSON.stringify(workload.history));
  const { timelinesHtml, ...rest } = report;
  await writeFile(join(outDir, 'report.json'), JSON.stringify(rest, null, 2));
  for (const [i, t] of timelinesHtml.entries()) await writeFile(join(outDir, `violation-${i + 1}.html`), t.html);
}

/** One leader that every voter follows, each having applied what the leader has committed. */
async function awaitConverged(members: Members, voters: readonly number[]): Promise<void> {
  const deadline = performance.now() + convergeTimeoutMs;
  let last = '';
  while (performance.now() < deadline) {
    const statuses = await Promise.all(voters.map((id) => members.status(id)));
    const leader = statuses.find((s) => s?.role === 'leader');
    if (leader !== undefined && statuses.every((s) => s !== undefined && s.leaderId === leader.id && s.term === leader.term && s.appliedIndex >= leader.commitIndex)) return;
    last = statuses.map((s, i) => (s === undefined ? `${voters[i]}: no answer` : `${s.id}: ${s.role} term ${s.term} applied ${s.appliedIndex}/${s.commitIndex}`)).join('; ');
    await delay(100);
  }
  throw new Error(`members did not agree within ${convergeTimeoutMs} ms (${last})`);
}

function between(range: readonly [number, number], prng: { nextInt(n: number): number }): number {
  return range[0] + prng.nextInt(range[1] - range[0] + 1);
}

export { faultKinds };
