// The recipes of @vigil/client (DESIGN.md §9; manual: docs/recipes.md). They use only the SDK's
// public API (`../index.js`), which lint enforces.

// Holds shared by every recipe that hands them out: token, signal, fence, release.
export type { Lease } from './held-lease.js';
export type { LossReason } from './lease-guard.js';

// Leader election: campaign, resign, observe, proclaim, runAsLeader.
export { LeaderElection } from './leader-election.js';
export type { LeaderElectionOptions, LeaderInfo, Leadership, ElectionEvent } from './leader-election.js';

// Mutual exclusion: a fair, fenced mutex.
export { Lock } from './lock.js';
export type { LockOptions, AcquireOptions, LockLease } from './lock.js';
