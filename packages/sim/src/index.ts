/**
 * @vigil/sim — a deterministic simulator for the Raft core (tests and sweeps only; never imported
 * by production code).
 *
 * - {@link SimCluster}: N in-process nodes on a virtual clock; a builder vocabulary for scenario
 *   tests (`partition`, `isolate`, `clog`, `crash`, `restart`, `propose`, `read`, `runUntil`).
 *   Each node's disk has a written image (survives `crash(id)`, like kill -9) and a synced one
 *   (all that survives `crash(id, { powerLoss: true })`); `onPersisted` and `onSnapshotTaken`
 *   let a schedule crash a node between a write and what follows it.
 * - {@link runSeed}: one seeded chaos run with every invariant checked after every event, then
 *   healing and a liveness bound. The same seed yields the same trace.
 * - {@link Checker}: the invariants themselves.
 */
export { SimCluster, SimNode, simDefaults, encodeSmSnapshot } from './sim-cluster.js';
export type { SimOptions, SimDriverFaults, NetworkOptions } from './sim-cluster.js';
export { runSeed, replayCommand, chaosDefaults, profileOf, ELECTIONS_ONE_IN } from './chaos.js';
export type { ChaosOptions, ChaosProfile, SeedResult } from './chaos.js';
export { Checker, SimViolation, entryHash } from './checker.js';
export type { AckedWrite } from './checker.js';
export { EventQueue } from './event-queue.js';
