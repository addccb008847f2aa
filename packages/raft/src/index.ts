/**
 * @vigil/raft — the Raft consensus core as a pure, synchronous state machine.
 *
 * No I/O, no clock, no ambient randomness: time enters as `tick()`, randomness from an injected
 * {@link Prng}, and everything the node must do leaves as a {@link Ready}. The driver loop is:
 *
 * ```ts
 * const node = new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, prng }, durableState);
 * onTimer(tickMs, () => node.tick());             // time, from the driver
 * onMessage((m) => { const why = node.step(m); if (why !== null) log(why); }); // peers: a message no correct peer sends is dropped, with the reason
 * node.propose(bytes);                              // leader only; throws RaftError otherwise
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   send(rd.earlyMessages);                         // a leader's appends may overlap its own write
 *   persist(rd.snapshot, rd.entries, rd.hardState);  // synced when rd.mustSync
 *   send(rd.messages);
 *   apply(rd.snapshot, rd.committedEntries); serve(rd.readStates);
 *   node.advance(rd);
 * }
 * ```
 */
export { RawNode, raftDefaults } from './raw-node.js';
export type { RaftConfig, UnsafeTestFaults } from './raw-node.js';
export { RaftError, assert } from './errors.js';
export type { RaftErrorCode } from './errors.js';
export { createPrng } from './prng.js';
export type { Prng } from './prng.js';
export { encodeConfChange, decodeConfChange } from './conf-change.js';
export { entryBytes } from './raft-log.js';
export { NONE } from './types.js';
export type {
  AppendRequest,
  AppendResponse,
  ConfChange,
  ConfState,
  DurableState,
  Entry,
  EntryKind,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  MessageType,
  NodeId,
  ProgressState,
  ProgressStatus,
  ReadIndexRequest,
  ReadIndexResponse,
  ReadState,
  Ready,
  ReceivedSnapshot,
  Role,
  Snapshot,
  SnapshotBytes,
  SnapshotChunk,
  SnapshotChunkResponse,
  SnapshotMeta,
  Status,
  TimeoutNow,
  VoteRequest,
  VoteResponse,
} from './types.js';
