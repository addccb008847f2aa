// Every bound of the client protocol in one place (STYLE.md habit 6). docs/protocol.md's limits
// table is generated from `limits` below and a test holds the two together.
//
// Deliberate duplicates of @vigil/store's constants: `dataBytesMax`, `pathBytesMax`,
// `multiOpsMax`, `childrenPageMax`, `ttlMsMax` and the create modes. The protocol must not
// import the store (docs/design.md: protocol ← client must not pull in LevelDB), so the server
// asserts at start-up that both packages agree.

/** The version number in `hello` and `welcome`; bumped on any incompatible change. */
export const protocolVersion = 1;

/** The WebSocket subprotocol (Sec-WebSocket-Protocol) a client offers and the server selects. */
export const webSocketSubprotocol = 'vigil.v1';

/** The HTTP path of the WebSocket upgrade on the client port (admin HTTP shares the port). */
export const webSocketPath = '/';

/** Largest WebSocket message in either direction, in bytes; checked before decoding. */
export const frameBytesMax = 2 * 1024 * 1024;

/** Largest znode payload (same as @vigil/store's `dataBytesMax`; ZooKeeper's jute.maxbuffer). */
export const dataBytesMax = 1024 * 1024;

/** Longest path, and longest child name in `after`, in UTF-8 bytes (same as @vigil/store). */
export const pathBytesMax = 4096;

/** Operations in one multi (same as @vigil/store). */
export const multiOpsMax = 1024;

/** Children in one page of `children` (same as @vigil/store). */
export const childrenPageMax = 10_000;

/** A TTL node's time to live (same as @vigil/store). */
export const ttlMsMax = 365 * 24 * 60 * 60 * 1000;

/** Request ids are uint32: any language can count them, and a client wraps around. */
export const requestIdMax = 0xffff_ffff;

/** Watch ids are server-assigned uint32, never 0. */
export const watchIdMax = 0xffff_ffff;

/** Requests a connection may have sent but not yet had answered; more get TOO_MANY_REQUESTS. */
export const inFlightRequestsMax = 1024;

/** Bytes of those in-flight request frames together; more get TOO_MANY_REQUESTS. */
export const inFlightRequestBytesMax = 64 * 1024 * 1024;

/**
 * Writes a session may have awaiting an answer, counted by sequence number: a write's `seq` is less
 * than this above its `seqFloor`. The same bound as @vigil/store's `sessionRepliesMax`, the answers
 * the cluster keeps per session for resends (the SDK holds further writes back).
 */
export const sessionWritesInFlightMax = 64;

/** Watches (one-shot and persistent) a session may hold at once; more get TOO_MANY_WATCHES. */
export const watchesPerSessionMax = 65_536;

/** Watch events queued for one connection and not yet written; beyond it, SLOW_CONSUMER. */
export const watchEventsQueuedMax = 100_000;

/** Bytes written to one connection's socket and not yet flushed; beyond it, SLOW_CONSUMER. */
export const outboundBytesMax = 16 * 1024 * 1024;

/** Events in one `watch` frame. */
export const watchEventsPerFrameMax = 1024;

/** Session timeouts the server negotiates into (a server's configuration may narrow the band). */
export const sessionTimeoutMsMin = 1000;
export const sessionTimeoutMsMax = 300_000;

/** A client must send `hello` within this time after the upgrade, or it is closed. */
export const handshakeTimeoutMs = 10_000;

/** Session secrets are exactly this many random bytes. */
export const sessionSecretBytes = 16;

/** Entries in one ACL (the store's aclEntriesMax). */
export const aclEntriesMax = 32;
/** An ACL entry's id, in UTF-8 bytes (a digest id: a name of up to 96 bytes, ':' and a 28-character hash). */
export const aclIdBytesMax = 128;
/** A user name in `hello`'s `auth` (the server accepts [A-Za-z0-9_][A-Za-z0-9_.@-]*). */
export const userNameBytesMax = 64;
/** A secret in `hello`'s `auth`. */
export const authSecretBytesMax = 1024;

/** Error messages, in UTF-8 bytes; a server truncates longer ones. */
export const errorMessageBytesMax = 4096;

/** Nesting of msgpack containers in a frame (the deepest frame nests 4). */
export const frameDepthMax = 8;

/** Entries in one msgpack map (the widest frame has 11: a Stat). */
export const mapEntriesMax = 32;

export interface LimitSpec {
  readonly value: number | string;
  readonly unit: string;
  readonly meaning: string;
}

/** The limits table of docs/protocol.md, generated from here. */
export const limits: Readonly<Record<string, LimitSpec>> = {
  protocolVersion: { value: protocolVersion, unit: '', meaning: 'version in `hello`/`welcome`' },
  webSocketSubprotocol: { value: webSocketSubprotocol, unit: '', meaning: 'Sec-WebSocket-Protocol' },
  webSocketPath: { value: webSocketPath, unit: '', meaning: 'HTTP path of the upgrade on the client port' },
  frameBytesMax: { value: frameBytesMax, unit: 'bytes', meaning: 'one WebSocket message, either direction; larger closes the connection' },
  dataBytesMax: { value: dataBytesMax, unit: 'bytes', meaning: 'znode data in create/set (each op of a multi)' },
  pathBytesMax: { value: pathBytesMax, unit: 'bytes (UTF-8)', meaning: 'a path; also `after` in children' },
  multiOpsMax: { value: multiOpsMax, unit: 'ops', meaning: 'ops in one multi' },
  childrenPageMax: { value: childrenPageMax, unit: 'names', meaning: '`limit` of children, and names in one page' },
  ttlMsMax: { value: ttlMsMax, unit: 'ms', meaning: '`ttlMs` of the TTL create modes (minimum 1)' },
  requestIdMax: { value: requestIdMax, unit: '', meaning: 'request ids are 0..this (uint32)' },
  watchIdMax: { value: watchIdMax, unit: '', meaning: 'watch ids are 1..this (uint32)' },
  inFlightRequestsMax: { value: inFlightRequestsMax, unit: 'requests', meaning: 'unanswered requests per connection' },
  inFlightRequestBytesMax: { value: inFlightRequestBytesMax, unit: 'bytes', meaning: 'their frames together' },
  sessionWritesInFlightMax: { value: sessionWritesInFlightMax, unit: 'writes', meaning: 'a write\'s `seq` minus its `seqFloor` is below this (§5, exactly-once writes)' },
  watchesPerSessionMax: { value: watchesPerSessionMax, unit: 'watches', meaning: 'one-shot plus persistent watches of a session' },
  watchEventsQueuedMax: { value: watchEventsQueuedMax, unit: 'events', meaning: 'watch events queued for a connection before SLOW_CONSUMER' },
  outboundBytesMax: { value: outboundBytesMax, unit: 'bytes', meaning: 'unflushed bytes of a connection before SLOW_CONSUMER' },
  watchEventsPerFrameMax: { value: watchEventsPerFrameMax, unit: 'events', meaning: 'events in one `watch` frame' },
  sessionTimeoutMsMin: { value: sessionTimeoutMsMin, unit: 'ms', meaning: 'lowest negotiated session timeout' },
  sessionTimeoutMsMax: { value: sessionTimeoutMsMax, unit: 'ms', meaning: 'highest negotiated session timeout' },
  handshakeTimeoutMs: { value: handshakeTimeoutMs, unit: 'ms', meaning: '`hello` must arrive within this after the upgrade' },
  sessionSecretBytes: { value: sessionSecretBytes, unit: 'bytes', meaning: 'length of a session secret (exact)' },
  aclEntriesMax: { value: aclEntriesMax, unit: 'entries', meaning: 'entries of one ACL (`create`\'s `acl`, `setAcl`)' },
  aclIdBytesMax: { value: aclIdBytesMax, unit: 'bytes (UTF-8)', meaning: 'the `id` of an ACL entry' },
  userNameBytesMax: { value: userNameBytesMax, unit: 'bytes', meaning: '`auth.user` of `hello`' },
  authSecretBytesMax: { value: authSecretBytesMax, unit: 'bytes (UTF-8)', meaning: '`auth.secret` of `hello`' },
  errorMessageBytesMax: { value: errorMessageBytesMax, unit: 'bytes (UTF-8)', meaning: '`message` of an error' },
  frameDepthMax: { value: frameDepthMax, unit: 'levels', meaning: 'nesting of maps/arrays in a frame (the frame itself is level 1)' },
  mapEntriesMax: { value: mapEntriesMax, unit: 'entries', meaning: 'keys in one msgpack map' },
};
