import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** `vigil_proposals_total{outcome}`: what became of a client proposal. */
export type ProposalOutcome = 'committed' | 'dropped' | 'rejected' | 'timeout';
/** `vigil_snapshots_total{kind}`. */
export type SnapshotKind = 'created' | 'received' | 'sent';

/** Typed handles on the node's metrics; the node updates them, `/metrics` reads the registry. */
export interface Metrics {
  readonly registry: Registry;
  readonly proposalsTotal: Counter<'outcome'>;
  readonly commitsTotal: Counter;
  readonly appliedEntriesTotal: Counter;
  readonly applySeconds: Histogram;
  readonly fsyncSeconds: Histogram;
  readonly electionsTotal: Counter;
  readonly leaderChangesTotal: Counter;
  readonly isLeader: Gauge;
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly snapshotsTotal: Counter<'kind'>;
  readonly peerSendQueueMessages: Gauge<'peer'>;
  readonly peerDroppedMessagesTotal: Counter<'peer'>;
  readonly clientSessions: Gauge;
  readonly clientConnections: Gauge;
  readonly readIndexSeconds: Histogram;
}

/** 100 µs … 1 s: an fsync on an SSD takes well under a millisecond, a sick disk a second. */
export const fsyncSecondsBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** 10 µs … 1 s: one apply batch. */
export const applySecondsBuckets = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** 100 µs … 5 s: a ReadIndex round (one heartbeat round trip, or waiting out an election). */
export const readIndexSecondsBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Registers Vigil's metrics (all named `vigil_*`) and the default process metrics (`process_*`,
 * `nodejs_*`, left under their standard names so stock dashboards work) on one registry.
 */
export function createMetrics(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}): Metrics {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    proposalsTotal: new Counter({ name: 'vigil_proposals_total', help: 'Client proposals by outcome (committed, dropped, rejected, timeout).', labelNames: ['outcome'], registers }),
    commitsTotal: new Counter({ name: 'vigil_commits_total', help: 'Log entries this node learned are committed.', registers }),
    appliedEntriesTotal: new Counter({ name: 'vigil_applied_entries_total', help: 'Log entries applied to the state machine.', registers }),
    applySeconds: new Histogram({ name: 'vigil_apply_seconds', help: 'Time to apply one batch of committed entries.', buckets: applySecondsBuckets, registers }),
    fsyncSeconds: new Histogram({ name: 'vigil_fsync_seconds', help: 'Time to persist one synced batch of log entries and hard state.', buckets: fsyncSecondsBuckets, registers }),
    electionsTotal: new Counter({ name: 'vigil_elections_total', help: 'Elections this node started (became candidate).', registers }),
    leaderChangesTotal: new Counter({ name: 'vigil_leader_changes_total', help: 'Times this node saw a new leader.', registers }),
    isLeader: new Gauge({ name: 'vigil_is_leader', help: '1 while this node is the leader, else 0.', registers }),
    term: new Gauge({ name: 'vigil_term', help: 'Current Raft term.', registers }),
    commitIndex: new Gauge({ name: 'vigil_commit_index', help: 'Highest log index known to be committed.', registers }),
    appliedIndex: new Gauge({ name: 'vigil_applied_index', help: 'Highest log index applied to the state machine.', registers }),
    snapshotsTotal: new Counter({ name: 'vigil_snapshots_total', help: 'Snapshots by kind (created, received, sent).', labelNames: ['kind'], registers }),
    peerSendQueueMessages: new Gauge({ name: 'vigil_peer_send_queue_messages', help: 'Messages queued for sending to a peer.', labelNames: ['peer'], registers }),
    peerDroppedMessagesTotal: new Counter({ name: 'vigil_peer_dropped_messages_total', help: 'Messages to a peer dropped because its queue was full or it was unreachable.', labelNames: ['peer'], registers }),
    clientSessions: new Gauge({ name: 'vigil_client_sessions', help: 'Client sessions attached to this node.', registers }),
    clientConnections: new Gauge({ name: 'vigil_client_connections', help: 'Open client WebSocket connections.', registers }),
    readIndexSeconds: new Histogram({ name: 'vigil_read_index_seconds', help: 'Time for a linearizable read to obtain its read index.', buckets: readIndexSecondsBuckets, registers }),
  };
}
