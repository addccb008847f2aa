// The recipes of @vigil/client (docs/design.md; manual: docs/recipes.md). They use only the SDK's
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

// Shared and exclusive access: a fair read-write lock whose writers are never starved by readers.
export { ReadWriteLock } from './read-write-lock.js';
export type { ReadWriteLockOptions, ReadWriteLockSide } from './read-write-lock.js';

// Bounded concurrency: a fair counting semaphore, its permit count kept in its directory.
export { Semaphore } from './semaphore.js';
export type { SemaphoreOptions } from './semaphore.js';

// Rendezvous: a barrier that holds everyone while it stands, and a double barrier for a group of n.
export { Barrier, DoubleBarrier } from './barrier.js';
export type { BarrierWaitOptions, DoubleBarrierOptions } from './barrier.js';

// Shared numbers: an integer counter updated by compare-and-set, each write counted exactly once.
export { Counter } from './counter.js';

// A gapless local mirror of a subtree, kept by one persistent recursive watch.
export { TreeCache } from './tree-cache.js';
export type { TreeCacheOptions, TreeNode, TreeChange, TreeCacheEvent, ReloadReason } from './tree-cache.js';

// Service discovery: ephemeral instances, re-registered after an expiry; discover and watch.
export { ServiceRegistry } from './service-registry.js';
export type { InstanceSpec, ServiceInstance, Registration, RegistrationEvent } from './service-registry.js';
