import { createPrng, type NodeId, type UnsafeTestFaults } from '@vigil/raft';
import { mix } from './hash.js';
import { SimViolation } from './checker.js';
import { SimCluster, type SimDriverFaults, type SimOptions } from './sim-cluster.js';

/**
 * `mixed`: every kind of fault, at an intensity drawn per seed.
 * `elections`: leader churn, the schedules of the Raft paper's Figure 8 and of a forgotten vote,
 * which the mixed schedule almost never produces: see {@link runElectionChurn}.
 */
export type ChaosProfile = 'mixed' | 'elections';

export interface ChaosOptions {
  /**
   * Drawn from the seed when not given, like the seed's other parameters (one seed in
   * {@link ELECTIONS_ONE_IN} runs `elections`), so that a seed alone replays its run.
   */
  readonly profile?: ChaosProfile;
  /** Length of the fault phase, in ticks. */
  readonly chaosTicks: number;
  /** After healing, a leader and full convergence must follow within this many ticks. */
  readonly healTicksMax: number;
  /** Founding voters; drawn from the seed (3 or 5) when not given. */
  readonly voters?: number;
  /** Highest node id a membership change may add (ids are never reused). */
  readonly nodeIdMax: number;
  readonly faults: UnsafeTestFaults;
  readonly driverFaults: SimDriverFaults;
  /**
   * Issue linearizable reads. Off only where a broken variant must be caught by another check: a
   * read after an early acknowledgement sees the write missing, which would hide whether the
   * durability check alone catches it.
   */
  readonly reads: boolean;
  readonly trace: boolean;
}

export const chaosDefaults: Omit<ChaosOptions, 'voters' | 'profile'> = {
  chaosTicks: 400,
  healTicksMax: 300,
  nodeIdMax: 8,
  faults: {},
  driverFaults: {},
  reads: true,
  trace: false,
};

export interface SeedResult {
  readonly seed: number;
  readonly profile: ChaosProfile;
  readonly ok: boolean;
  readonly violation?: string;
  readonly invariant?: string;
  readonly traceHash: number;
  readonly trace?: readonly string[];
  readonly events: number;
  readonly acked: number;
  readonly reads: number;
  readonly appliedIndex: number;
}

/** The one command that replays a seed. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seed 0x${(seed >>> 0).toString(16)}`;
}

/**
 * One seeded run: a proposal and read workload under a random schedule of crashes and power
 * losses (of one node, at points inside recovery, or of the whole cluster), partitions
 * (isolate, majority/minority split, one-way links, swizzle), message loss, duplication, delay
 * and reordering, clock drift, membership changes and leader transfers (or, in the `elections`
 * profile, leader churn). Then heal everything, require a leader and full convergence within
 * `healTicksMax` ticks, and every acknowledged write still in place.
 */
export function runSeed(seed: number, options: Partial<ChaosOptions> = {}): SeedResult {
  const o = { ...chaosDefaults, ...options };
  const profile = o.profile ?? profileOf(seed);
  const sim = new SimCluster(profile === 'elections' ? electionChurnSimOptions(seed, o) : chaosSimOptions(seed, o));
  try {
    const stopChaos = profile === 'elections' ? runElectionChurn(sim, o) : runChaos(sim, o);
    stopChaos();
    heal(sim);
    checkLiveness(sim, o.healTicksMax);
    return result(sim, seed, profile, null);
  } catch (err) {
    if (err instanceof SimViolation) return result(sim, seed, profile, err);
    // A thrown assertion inside the core is a bug found by this seed, too.
    return result(sim, seed, profile, new SimViolation('core assertion', err instanceof Error ? (err.stack ?? err.message) : String(err), sim.now));
  }
}

/** One seed in this many runs the election churn when the profile is not given. */
export const ELECTIONS_ONE_IN = 10;

/** The profile a seed runs when none is given: drawn apart from its other parameters, which it leaves as they were. */
export function profileOf(seed: number): ChaosProfile {
  return createPrng(mix(seed, 0x9f0f11e)).nextInt(ELECTIONS_ONE_IN) === 0 ? 'elections' : 'mixed';
}

/**
 * Each seed also draws the core's flow-control knobs: one-entry appends and a single in-flight
 * message expose different interleavings (Figure 8 needs an append that stops short of the new
 * leader's no-op) than large pipelined batches do.
 */
function chaosSimOptions(seed: number, o: ChaosOptions): Partial<SimOptions> & { seed: number } {
  const p = createPrng(mix(seed, 0x5eed));
  const choose = <T>(xs: readonly T[]): T => xs[p.nextInt(xs.length)]!;
  return {
    seed,
    voters: o.voters ?? choose([3, 3, 5]),
    faults: o.faults,
    driverFaults: o.driverFaults,
    trace: o.trace,
    snapshotEveryEntries: choose([8, 32, 128]),
    logTrailingEntries: choose([0, 4, 32]),
    raft: {
      appendBytesMax: choose([1, 256, 4096]),
      inflightMsgsMax: choose([1, 4, 64]),
      inflightBytesMax: choose([512, 64 * 1024]),
      snapshotChunkBytes: choose([8, 64, 1024]),
      snapshotChunksInflightMax: choose([1, 4]),
      // Bounds the backlog a slow configuration can build up, so that healing has a fixed bound.
      uncommittedBytesMax: 8 * 1024,
    },
  };
}

function result(sim: SimCluster, seed: number, profile: ChaosProfile, v: SimViolation | null): SeedResult {
  return {
    seed,
    profile,
    ok: v === null,
    ...(v === null ? {} : { violation: v.message, invariant: v.invariant }),
    traceHash: sim.traceHash,
    ...(sim.options.trace ? { trace: sim.trace } : {}),
    events: sim.events,
    acked: sim.proposalsAcked,
    reads: sim.checker.readsChecked,
    appliedIndex: sim.checker.maxAppliedIndex,
  };
}

function liveMembers(sim: SimCluster): NodeId[] {
  return [...sim.nodes.values()].filter((n) => n.live).map((n) => n.id);
}

function pick<T>(sim: SimCluster, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[sim.prng.nextInt(items.length)];
}

type Later = (delay: number, label: string, fn: () => void) => void;

/** How processes go down in both profiles. */
const outage = {
  /** Percent of crashes that are power losses: only what was synced survives, not the page cache. */
  powerLossPercent: 50,
  /** Percent of restarts whose state machine is behind the log that are cut short by another crash before it re-applies. */
  crashBehindLogPercent: 30,
} as const;

/**
 * Crash `id` (a power loss when `powerLoss` says so, or {@link outage}.powerLossPercent of the
 * time) and restart it after `downUnits`. A node that comes back with its state machine behind
 * its log (its applies were not synced, or it crashed between a write and applying it) is
 * sometimes crashed again at once, before it has re-applied.
 */
function crashAndRestart(sim: SimCluster, later: Later, id: NodeId, downUnits: number, powerLoss?: boolean): void {
  const p = sim.prng;
  sim.crash(id, { powerLoss: powerLoss ?? p.nextInt(100) < outage.powerLossPercent });
  later(downUnits, `restart ${id}`, () => {
    sim.restart(id);
    const n = sim.node(id);
    if (!n.live || n.sm.applied >= n.hardState.commit || p.nextInt(100) >= outage.crashBehindLogPercent) return;
    // At once: its first write takes at least a unit, so it has not re-applied yet.
    later(0, `crash ${id} behind its log`, () => crashAndRestart(sim, later, id, downUnits));
  });
}

/** Runs the fault phase; returns a switch that cancels every fault still scheduled. */
function runChaos(sim: SimCluster, o: ChaosOptions): () => void {
  let over = false;
  const later = (delay: number, label: string, fn: () => void): void => sim.at(delay, label, () => { if (!over) fn(); });
  const tick = sim.options.tickUnits;
  const end = sim.now + o.chaosTicks * tick;
  const p = sim.prng;
  // Each seed draws its own fault intensity, so the sweep covers calm and violent runs alike.
  const faultEveryTicks = 5 + p.nextInt(30);
  const proposeEveryUnits = 10 + p.nextInt(80);
  const readEveryUnits = 20 + p.nextInt(150);
  sim.network = {
    delayMin: 1 + p.nextInt(3),
    delayMax: 5 + p.nextInt(40),
    lossRate: p.nextInt(3) === 0 ? 0 : p.nextFloat() * 0.1,
    dupRate: p.nextFloat() * 0.05,
    longDelayRate: p.nextFloat() * 0.05,
    longDelayMax: tick * (1 + p.nextInt(20)),
  };
  let nextId = sim.options.voters + 1;
  const downUnits = (): number => (1 + p.nextInt(40)) * tick;

  // A crash point inside recovery, armed by the fault schedule and struck by the next node to
  // reach it: right after a snapshot from a leader is persisted (before or after the state
  // machine installs it), between taking a snapshot and compacting the log, or between writing
  // a Ready and applying its committed entries (the state machine is then behind the log).
  let armed: { readonly point: 'install' | 'snapshot' | 'apply'; readonly afterInstall: boolean } | null = null;
  const strike = (id: NodeId): void => {
    armed = null;
    crashAndRestart(sim, later, id, downUnits());
  };
  sim.onPersisted = (id, ready) => {
    if (armed?.point === 'install' && ready.snapshot !== null) {
      if (armed.afterInstall) {
        armed = null;
        later(0, `crash ${id} after installing a snapshot`, () => crashAndRestart(sim, later, id, downUnits()));
      } else strike(id);
    } else if (armed?.point === 'apply' && ready.committedEntries.length > 0) strike(id);
  };
  sim.onSnapshotTaken = (id) => {
    if (armed?.point === 'snapshot') strike(id);
  };
  const crashFault = (): void => {
    const roll = p.nextInt(100);
    if (roll < 10) {
      // A power cut: every member at once, back at about the same time.
      const back = downUnits();
      for (const id of liveMembers(sim)) crashAndRestart(sim, later, id, back + p.nextInt(tick), true);
    } else if (roll < 40) {
      armed = { point: pick(sim, ['install', 'snapshot', 'apply'] as const)!, afterInstall: p.nextInt(2) === 0 };
    } else {
      const victim = pick(sim, liveMembers(sim));
      if (victim !== undefined) crashAndRestart(sim, later, victim, downUnits());
    }
  };

  const client = (): void => {
    const live = liveMembers(sim);
    const target = pick(sim, live);
    if (target !== undefined) {
      const leader = sim.node(target).raw?.summary().leader ?? 0;
      const to = leader !== 0 && sim.node(leader).live ? leader : target;
      sim.propose(to, 8 + p.nextInt(64));
    }
    if (sim.now < end) sim.at(1 + p.nextInt(proposeEveryUnits), 'client', client);
  };
  const reader = (): void => {
    const target = pick(sim, liveMembers(sim));
    if (target !== undefined) sim.read(target);
    if (sim.now < end) sim.at(1 + p.nextInt(readEveryUnits), 'reader', reader);
  };

  const fault = (): void => {
    const all = [...sim.nodes.keys()].filter((id) => !sim.node(id).retired);
    const live = liveMembers(sim);
    const roll = p.nextInt(100);
    if (roll < 18) {
      crashFault();
    } else if (roll < 30) {
      const victim = pick(sim, all);
      if (victim !== undefined) {
        sim.isolate(victim);
        later((3 + p.nextInt(60)) * tick, 'heal', () => sim.heal());
      }
    } else if (roll < 40) {
      const shuffled = shuffle(sim, all);
      const minority = shuffled.slice(0, Math.floor(all.length / 2));
      sim.partition(minority, shuffled.slice(minority.length));
      later((3 + p.nextInt(60)) * tick, 'heal', () => sim.heal());
    } else if (roll < 48) {
      const a = pick(sim, all);
      const b = pick(sim, all);
      if (a !== undefined && b !== undefined && a !== b) {
        sim.clog(a, b);
        later((3 + p.nextInt(60)) * tick, `unclog ${a}>${b}`, () => sim.unclog(a, b));
      }
    } else if (roll < 54) {
      swizzle(sim, all, later);
    } else if (roll < 64) {
      const leader = sim.leader();
      const to = pick(sim, all.filter((x) => x !== leader));
      if (leader !== undefined && to !== undefined) sim.transferLeadership(leader, to);
    } else if (roll < 76) {
      membershipChange(sim, o, () => nextId, () => nextId++);
    } else if (roll < 84) {
      sim.network = { ...sim.network, lossRate: p.nextInt(2) === 0 ? 0 : p.nextFloat() * 0.2 };
    } else {
      const target = pick(sim, live);
      if (target !== undefined) sim.campaign(target);
    }
    if (sim.now < end) later((1 + p.nextInt(faultEveryTicks)) * tick, 'fault', fault);
  };

  sim.at(1, 'client', client);
  if (o.reads) sim.at(1, 'reader', reader);
  later(p.nextInt(faultEveryTicks) * tick, 'fault', fault);
  sim.runUntilTime(end);
  return () => {
    over = true;
    sim.onPersisted = null;
    sim.onSnapshotTaken = null;
  };
}

/**
 * Entry-by-entry replication and elections without pre-vote or check-quorum: a cut-off leader
 * keeps its term and its uncommitted tail, and a new leader's no-op trails the old entries it
 * sends one at a time, so logs of different terms interleave as in the Raft paper's figures.
 */
function electionChurnSimOptions(seed: number, o: ChaosOptions): Partial<SimOptions> & { seed: number } {
  return {
    seed,
    voters: o.voters ?? 5,
    faults: o.faults,
    driverFaults: o.driverFaults,
    trace: o.trace,
    raft: { appendBytesMax: 1, inflightMsgsMax: 1, preVote: false, checkQuorum: false, uncommittedBytesMax: 8 * 1024 },
  };
}

/** The knobs of the election churn, tuned so that each bug it targets is caught in most seeds. */
const churn = {
  /** Percent of new leaders cut off (isolated, or crashed) within `cutWithinUnits` of their election. */
  cutLeaderPercent: 80,
  cutWithinUnits: 100,
  /** Of those, the percent crashed rather than isolated; either lasts up to `downUnitsMax`. */
  crashPercent: 30,
  downUnitsMax: 1000,
  /** Percent of granted votes after which the voter is crashed, and restarted within `voterDownUnitsMax`. */
  crashAfterVotePercent: 30,
  voterDownUnitsMax: 50,
  /** A forced campaign or a leader transfer (to a random voter, `transferPercent` of the time) at most this far apart. */
  campaignEveryUnits: 100,
  transferPercent: 50,
  proposeEveryUnits: 40,
} as const;

/**
 * Leader churn: most new leaders are cut off or crashed soon after their election, nodes
 * campaign or are handed leadership every few units, and a node that has just granted a vote is
 * sometimes crashed and restarted at once. This is what three bugs need and the mixed schedule
 * almost never gives them: counting replicas of an earlier term's entry (Figure 8: a leader with
 * an old tail replicates it, then is cut off before its no-op spreads, and a node with a later
 * term's entry there wins), forgetting a vote across a restart, and granting a transfer a second
 * vote in a term. Messages are never lost here; no membership changes and no reads.
 */
function runElectionChurn(sim: SimCluster, o: ChaosOptions): () => void {
  let over = false;
  const later = (delay: number, label: string, fn: () => void): void => sim.at(delay, label, () => { if (!over) fn(); });
  const end = sim.now + o.chaosTicks * sim.options.tickUnits;
  const p = sim.prng;
  sim.network = { delayMin: 1, delayMax: 5 + p.nextInt(40), lossRate: 0, dupRate: 0, longDelayRate: 0, longDelayMax: 0 };

  const cutOff = (id: NodeId): void => {
    if (p.nextInt(100) < churn.crashPercent) {
      crashAndRestart(sim, later, id, 1 + p.nextInt(churn.downUnitsMax));
    } else {
      sim.isolate(id);
      later(1 + p.nextInt(churn.downUnitsMax), 'heal', () => sim.heal());
    }
  };
  sim.onLeaderElected = (id) => {
    if (p.nextInt(100) < churn.cutLeaderPercent) later(p.nextInt(churn.cutWithinUnits), `cut off new leader ${id}`, () => cutOff(id));
  };
  sim.onVoteGranted = (voter) => {
    if (p.nextInt(100) >= churn.crashAfterVotePercent) return;
    later(1, `crash ${voter} after voting`, () => crashAndRestart(sim, later, voter, 1 + p.nextInt(churn.voterDownUnitsMax)));
  };
  const client = (): void => {
    const target = pick(sim, liveMembers(sim));
    if (target !== undefined) {
      const leader = sim.node(target).raw?.summary().leader ?? 0;
      sim.propose(leader !== 0 && sim.node(leader).live ? leader : target, 8);
    }
    if (sim.now < end) sim.at(1 + p.nextInt(churn.proposeEveryUnits), 'client', client);
  };
  const elections = (): void => {
    const target = pick(sim, liveMembers(sim));
    const leader = sim.leader();
    if (target !== undefined) {
      if (leader !== undefined && leader !== target && p.nextInt(100) < churn.transferPercent) sim.transferLeadership(leader, target);
      else sim.campaign(target);
    }
    if (sim.now < end) later(1 + p.nextInt(churn.campaignEveryUnits), 'elections', elections);
  };
  sim.at(1, 'client', client);
  later(sim.options.tickUnits, 'elections', elections);
  sim.runUntilTime(end);
  return () => {
    over = true;
    sim.onLeaderElected = null;
    sim.onVoteGranted = null;
  };
}

/** FoundationDB's swizzle: clog links one at a time, then unclog them in random order. */
function swizzle(sim: SimCluster, all: NodeId[], later: (delay: number, label: string, fn: () => void) => void): void {
  const tick = sim.options.tickUnits;
  const links: [NodeId, NodeId][] = [];
  for (const a of all) for (const b of all) if (a !== b) links.push([a, b]);
  const chosen = shuffle(sim, links).slice(0, 1 + sim.prng.nextInt(links.length));
  let t = 0;
  for (const [a, b] of chosen) {
    t += 1 + sim.prng.nextInt(tick * 2);
    later(t, `swizzle clog ${a}>${b}`, () => sim.clog(a, b));
  }
  for (const [a, b] of shuffle(sim, chosen)) {
    t += 1 + sim.prng.nextInt(tick * 4);
    later(t, `swizzle unclog ${a}>${b}`, () => sim.unclog(a, b));
  }
}

function membershipChange(sim: SimCluster, o: ChaosOptions, nextId: () => number, takeId: () => number): void {
  const leader = sim.leader();
  if (leader === undefined) return;
  const conf = sim.node(leader).raw!.status().conf;
  const p = sim.prng;
  const roll = p.nextInt(3);
  if (roll === 0 && nextId() <= o.nodeIdMax) {
    const id = takeId();
    const r = sim.proposeConfChange(leader, { type: 'addLearner', node: id });
    if (!('error' in r)) sim.startNode(id);
  } else if (roll === 1 && conf.learners.length > 0) {
    sim.proposeConfChange(leader, { type: 'promoteLearner', node: pick(sim, conf.learners)! });
  } else if (roll === 2) {
    // Keep at least three voters so that the cluster can survive the other faults.
    const removable = conf.voters.length > 3 ? conf.voters : conf.learners;
    const victim = pick(sim, removable);
    if (victim !== undefined) sim.proposeConfChange(leader, { type: 'removeNode', node: victim });
  }
}

function shuffle<T>(sim: SimCluster, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = sim.prng.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** End the chaos: reconnect everything, restart every member, stop losing messages. */
function heal(sim: SimCluster): void {
  sim.heal();
  sim.network = { ...sim.network, lossRate: 0, dupRate: 0, longDelayRate: 0 };
  for (const n of sim.nodes.values()) if (!n.live) sim.restart(n.id);
}

function checkLiveness(sim: SimCluster, healTicksMax: number): void {
  const deadline = sim.now + healTicksMax * sim.options.tickUnits;
  // Stop processes whose removal is committed, as an operator would, so they cannot disrupt.
  const retireRemoved = (): void => {
    for (const id of sim.removed) if (!sim.node(id).retired) sim.retire(id);
  };
  const converged = (): boolean => {
    retireRemoved();
    const leader = sim.leader();
    if (leader === undefined) return false;
    const ls = sim.node(leader).raw!.status();
    // A commit of the leader's own term, so everything before it is committed too. (That this
    // includes every acknowledged write is checked at the end, as durability rather than liveness.)
    if (sim.node(leader).raw!.termAt(ls.commit) !== ls.term) return false;
    for (const id of [...ls.conf.voters, ...ls.conf.learners]) {
      const n = sim.nodes.get(id);
      if (n?.raw == null) return false;
      if (n.sm.applied !== ls.commit) return false;
    }
    return true;
  };
  if (!sim.runUntil(converged, healTicksMax)) {
    const leader = sim.leader();
    sim.checker.fail('liveness', `no converged leader ${healTicksMax} ticks after healing (leader: ${leader ?? 'none'}, ${describeNodes(sim)})`);
  }
  // A fresh write must be accepted (a client retries while a leader transfer finishes), commit,
  // and reach every member, within the same bound.
  let written = 0;
  let writtenTerm = 0;
  const ticksLeft = (): number => Math.max(1, Math.ceil((deadline - sim.now) / sim.options.tickUnits));
  const accepted = sim.runUntil(() => {
    const leader = sim.leader();
    if (leader === undefined) return false;
    const r = sim.propose(leader);
    if ('error' in r) return false;
    written = r.index;
    writtenTerm = sim.node(leader).raw!.summary().term;
    return true;
  }, ticksLeft());
  if (!accepted) sim.checker.fail('liveness', `no leader accepted a write within ${healTicksMax} ticks of healing (${describeNodes(sim)})`);
  const everyMemberHasIt = (): boolean => {
    if (!converged()) return false;
    if (sim.acknowledged.has(written)) return true;
    // Leadership moved (a transfer that was under way) and took the write with it: retry, as a client would.
    const leader = sim.leader()!;
    const term = sim.node(leader).raw!.summary().term;
    if (term !== writtenTerm) {
      const r = sim.propose(leader);
      if (!('error' in r)) {
        written = r.index;
        writtenTerm = term;
      }
    }
    return false;
  };
  if (!sim.runUntil(everyMemberHasIt, ticksLeft())) {
    sim.checker.fail('liveness', `a write after healing was not acknowledged and applied by every member within ${healTicksMax} ticks (${describeNodes(sim)})`);
  }
  // Every member has applied past every earlier write: none acknowledged may be missing.
  sim.checker.checkAckedDurable();
}

function describeNodes(sim: SimCluster): string {
  return [...sim.nodes.values()]
    .map((n) => {
      if (n.raw === null) return `${n.id}:${n.retired ? 'retired' : 'down'}`;
      const s = n.raw.status();
      return `${n.id}:${s.role}@${s.term} c=${s.commit} a=${n.sm.applied} last=${s.lastIndex} voters=${s.conf.voters.join(',')} learners=${s.conf.learners.join(',')}`;
    })
    .join(' ');
}
