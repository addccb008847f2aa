export { buildAdminApp, adminBodyBytesMax, httpBodyBytesMax, snapshotDownloadsMax, snapshotDownloadIdleMs } from './admin-app.js';
export type { AdminAppOptions, HttpErrorBody, HttpErrorCode } from './admin-app.js';
export type { AdminNodePort, MemberStatus, NodeStatus, SnapshotDownload } from './admin-node-port.js';
export { createMetrics, fsyncSecondsBuckets, applySecondsBuckets, readIndexSecondsBuckets } from './metrics.js';
export type { Metrics, ProposalOutcome, SnapshotKind } from './metrics.js';
