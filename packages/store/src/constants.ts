// Every bound of the store in one place (STYLE.md habit 6). The protocol package will carry the
// same client-facing values; until it exists these are the source of truth.

/** Largest znode payload; ZooKeeper's default jute.maxbuffer. */
export const dataBytesMax = 1024 * 1024;
/** Longest absolute path, in UTF-8 bytes. */
export const pathBytesMax = 4096;
/** Sequential suffixes are 10 decimal digits; the counter may not outgrow them. */
export const sequenceDigits = 10;
export const sequenceMax = 9_999_999_999;
/** Operations in one multi. */
export const multiOpsMax = 1024;
/** Paths in one leader-proposed sweep, and session ids in one heartbeat command. */
export const sweepPathsMax = 4096;
export const heartbeatSessionsMax = 65_536;
/** Session timeouts the store accepts; negotiation into a narrower band is the server's job. */
export const sessionTimeoutMsMax = 24 * 60 * 60 * 1000;
/** A TTL node's time to live. */
export const ttlMsMax = 365 * 24 * 60 * 60 * 1000;
/** Entries in one call to apply; the driver batches below this. */
export const applyEntriesMax = 65_536;
/** Default bound of the in-memory watch history (events, not entries). */
export const watchHistoryEventsMax = 100_000;
/** Default bound of the in-memory watch history in bytes: what 100,000 events on paths of 300 characters take. */
export const watchHistoryBytesMax = 64 * 1024 * 1024;
/** Snapshot chunks aim at this size; a chunk holds at least one record, so one node's data may exceed it. */
export const snapshotChunkBytesMax = 1024 * 1024;
/** Children returned by one page of `children()`. */
export const childrenPageMax = 10_000;

/** A session secret is opaque to the store; at most this many bytes (the server uses 16). */
export const sessionSecretBytesMax = 64;

/**
 * Replies a session's reply table keeps for resent writes (exactly-once writes); beyond it the
 * oldest is dropped and the session's floor raised past it, so that write can never be applied
 * again. The SDK keeps at most this many writes in flight per session (@vigil/protocol's
 * `sessionWritesInFlightMax`, which must be equal), so a well-behaved client never loses a reply.
 */
export const sessionRepliesMax = 64;
