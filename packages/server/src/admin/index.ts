export { buildAdminApp, adminBodyBytesMax, httpBodyBytesMax } from './admin-app.js';
export type { AdminAppOptions, HttpErrorBody, HttpErrorCode } from './admin-app.js';
export type { AdminNodePort, MemberStatus, NodeStatus } from './admin-node-port.js';
export { createMetrics, fsyncSecondsBuckets, applySecondsBuckets, readIndexSecondsBuckets } from './metrics.js';
export type { Metrics, ProposalOutcome, SnapshotKind } from './metrics.js';
