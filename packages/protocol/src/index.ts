// @vigil/protocol — the client wire protocol shared by the server's gateway and the SDK
// (docs/design.md; the full specification is docs/protocol.md). No dependency on any other
// @vigil package: the few store limits it repeats are listed in constants.ts.

// Frames as they travel: every field is a msgpack map key of the same name.
export type {
  Frame,
  ClientFrame,
  ServerFrame,
  HelloFrame,
  SessionResume,
  Request,
  RequestBody,
  Op,
  CreateRequest,
  GetRequest,
  SetRequest,
  DeleteRequest,
  ExistsRequest,
  ChildrenRequest,
  MultiRequest,
  WriteSequence,
  MultiOp,
  CreateFields,
  SetFields,
  DeleteFields,
  CheckFields,
  SyncRequest,
  WatchRequest,
  UnwatchRequest,
  PingRequest,
  CloseRequest,
  WelcomeFrame,
  Response,
  OkResponse,
  ErrorResponse,
  OpResult,
  ResultOf,
  CreateResult,
  GetResult,
  SetResult,
  DeleteResult,
  ExistsResult,
  ChildrenResult,
  MultiResult,
  MultiOpResult,
  SyncResult,
  WatchResult,
  UnwatchResult,
  PingResult,
  CloseResult,
  WatchFrame,
  WatchEvent,
  CompactedFrame,
  SessionFrame,
  ErrorFrame,
  Stat,
  CreateMode,
  Consistency,
  WatchMode,
  WatchEventKind,
  SessionState,
} from './frames.js';
export {
  ops,
  multiOpNames,
  createModes,
  ttlCreateModes,
  consistencies,
  watchModes,
  watchEventKinds,
  sessionStates,
  statFields,
} from './frames.js';

// Bytes: encode, and decode with size check, msgpack-subset check and shape validation.
export { encodeFrame, decodeClientFrame, decodeServerFrame } from './codec.js';
export { validateClientFrame, validateServerFrame } from './validate.js';
export { utf8ByteLength } from './utf8.js';
export type { Decoded, DecodeError, DecodeErrorCode } from './validate.js';

// Errors: one table of codes with wire numbers, one error class, close codes derived from both.
export {
  VigilError,
  isVigilError,
  errorCatalogue,
  errorCodes,
  isErrorCode,
  errorCodeOfWire,
  wireError,
  vigilErrorFromWire,
  closeCodeNormal,
  closeCodeOffset,
  closeCodeOf,
  errorCodeOfClose,
} from './errors.js';
export type { ErrorCode, ErrorSpec, WireError, VigilErrorOptions } from './errors.js';

// Versions and limits (the store's client-facing limits are repeated here on purpose).
export {
  protocolVersion,
  webSocketSubprotocol,
  webSocketPath,
  frameBytesMax,
  dataBytesMax,
  pathBytesMax,
  multiOpsMax,
  childrenPageMax,
  ttlMsMax,
  requestIdMax,
  watchIdMax,
  inFlightRequestsMax,
  inFlightRequestBytesMax,
  sessionWritesInFlightMax,
  watchesPerSessionMax,
  watchEventsQueuedMax,
  outboundBytesMax,
  watchEventsPerFrameMax,
  sessionTimeoutMsMin,
  sessionTimeoutMsMax,
  handshakeTimeoutMs,
  sessionSecretBytes,
  errorMessageBytesMax,
  frameDepthMax,
  mapEntriesMax,
  limits,
} from './constants.js';
export type { LimitSpec } from './constants.js';
