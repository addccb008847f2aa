/**
 * The one place the SDK meets a WebSocket implementation. A runtime with the standard global
 * `WebSocket` (Node ≥ 22, Deno, Bun, browsers) uses it; Node 20 has none, so there the SDK loads
 * the `ws` package — an optional dependency — once, on the first `connect()`. TLS options (a CA,
 * a client certificate) cannot be given to the standard WebSocket, so a client with `tls` always
 * uses `ws`. Either way the connection above sees the same four events, each reported
 * synchronously from the socket's own.
 */
import type { TlsOptions } from './options.js';

export interface SocketEvents {
  /** The upgrade succeeded; `protocol` is the subprotocol the server selected. */
  onOpen(protocol: string): void;
  /** One message; `isBinary` false for a text message (whose bytes are not looked at). */
  onMessage(bytes: Uint8Array, isBinary: boolean): void;
  /** The socket failed (refused, reset, an oversized message, …); a close follows. */
  onError(error: Error): void;
  onClose(code: number, reason: string): void;
}

export interface SocketOptions {
  readonly url: string;
  readonly subprotocol: string;
  /** A larger incoming message fails the socket. */
  readonly messageBytesMax: number;
  /** From the start of the upgrade; the connection keeps its own deadline to the welcome as well. */
  readonly handshakeTimeoutMs: number;
  readonly events: SocketEvents;
  /** For `wss://` (ws only). */
  readonly tls?: TlsOptions;
}

export interface ClientSocket {
  /** Writes one binary message; false when the socket is not open (its close is on its way). */
  send(bytes: Uint8Array): boolean;
  /** Ends the socket at once; no event is reported afterwards. Idempotent. */
  terminate(): void;
}

export type OpenSocket = (options: SocketOptions) => ClientSocket;

/** Where a WebSocket can come from: the runtime's global, else the `ws` package. */
export interface SocketRuntime {
  readonly globalWebSocket: unknown;
  importWs(): Promise<unknown>;
}

let implementation: Promise<OpenSocket> | null = null;
let wsImplementation: Promise<OpenSocket> | null = null;

/**
 * The implementation for this runtime, decided once per process (at the first `connect()`);
 * with `tls`, always `ws`, and every socket it opens gets those TLS options.
 */
export async function loadOpenSocket(tls: TlsOptions | null = null): Promise<OpenSocket> {
  if (tls === null) {
    // The global is read now, not at import: a polyfill installed after the import counts.
    const runtime: SocketRuntime = { globalWebSocket: (globalThis as { WebSocket?: unknown }).WebSocket, importWs: () => import('ws') };
    implementation ??= chooseOpenSocket(runtime).catch((err: unknown) => {
      implementation = null; // an `npm install ws` later in the process may still succeed
      throw err;
    });
    return implementation;
  }
  wsImplementation ??= chooseOpenSocket({ globalWebSocket: undefined, importWs: () => import('ws') }).catch((err: unknown) => {
    wsImplementation = null;
    throw err;
  });
  const open = await wsImplementation;
  return (options) => open({ ...options, tls });
}

/** @internal Exported for tests: the standard WebSocket when the runtime has one, else `ws`. */
export async function chooseOpenSocket(runtime: SocketRuntime): Promise<OpenSocket> {
  const standard = runtime.globalWebSocket;
  if (typeof standard === 'function') return (options) => openStandard(standard as StandardWebSocketClass, options);
  let ws: WsModule;
  try {
    ws = (await runtime.importWs()) as WsModule;
  } catch (err) {
    throw new Error(
      "@vigil/client needs a WebSocket: this runtime has no global WebSocket and the optional dependency 'ws' is not installed (npm install ws)",
      { cause: err },
    );
  }
  const WsClass = ws.WebSocket ?? ws.default;
  if (typeof WsClass !== 'function') throw new Error("@vigil/client: the 'ws' package does not export WebSocket");
  return (options) => openWs(WsClass, options);
}

// ---- the standard WebSocket (WHATWG) ----

interface StandardWebSocket {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: unknown; error?: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  send(data: Uint8Array): void;
  close(): void;
}
type StandardWebSocketClass = new (url: string, protocols: string | string[]) => StandardWebSocket;

const standardOpen = 1;

function openStandard(WebSocketClass: StandardWebSocketClass, options: SocketOptions): ClientSocket {
  const { events } = options;
  const socket = new WebSocketClass(options.url, options.subprotocol);
  socket.binaryType = 'arraybuffer';
  let ended = false;
  const end = (): void => {
    ended = true;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onerror = null;
    socket.onclose = null;
  };
  socket.onopen = () => {
    if (!ended) events.onOpen(socket.protocol);
  };
  socket.onmessage = (event) => {
    if (ended) return;
    const data = event.data;
    if (typeof data === 'string') {
      events.onMessage(new Uint8Array(0), false);
      return;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
    if (bytes === null) {
      events.onError(new Error('a message of an unknown type'));
      return;
    }
    // The standard API cannot refuse a message before it is read (ws's maxPayload does): refuse it after.
    if (bytes.byteLength > options.messageBytesMax) {
      events.onError(new RangeError(`Max payload size exceeded (${bytes.byteLength} > ${options.messageBytesMax} bytes)`));
      return;
    }
    events.onMessage(bytes, true);
  };
  // The standard error event says little (some runtimes add a message); the close that follows has the code.
  socket.onerror = (event) => {
    if (ended) return;
    const message = typeof event.message === 'string' && event.message !== '' ? event.message : 'WebSocket error';
    events.onError(event.error instanceof Error ? event.error : new Error(message));
  };
  socket.onclose = (event) => {
    if (ended) return;
    end();
    events.onClose(event.code, event.reason);
  };
  return {
    send(bytes) {
      if (ended || socket.readyState !== standardOpen) return false;
      socket.send(bytes);
      return true;
    },
    terminate() {
      if (ended) return;
      end();
      socket.close();
    },
  };
}

// ---- ws (Node 20) ----

interface WsSocket {
  readonly readyState: number;
  readonly protocol: string;
  /** ws keeps its net.Socket here; used only to cork. */
  readonly _socket?: { cork(): void; uncork(): void; destroyed: boolean };
  on(event: 'open', listener: () => void): void;
  on(event: 'message', listener: (data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'close', listener: (code: number, reason: Uint8Array) => void): void;
  send(data: Uint8Array, options: { binary: boolean }, callback: (err?: Error) => void): void;
  terminate(): void;
}
/** What `ws` hands to `tls.connect` for `wss://`. */
interface WsTlsOptions {
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
  servername?: string;
}
type WsClass = (new (
  url: string,
  protocols: string,
  options: { maxPayload: number; perMessageDeflate: boolean; handshakeTimeout: number } & WsTlsOptions,
) => WsSocket) & { readonly OPEN: number };
interface WsModule {
  readonly WebSocket?: WsClass;
  readonly default?: WsClass;
}

const utf8 = new TextDecoder();

function openWs(WebSocketClass: WsClass, options: SocketOptions): ClientSocket {
  const { events } = options;
  const socket = new WebSocketClass(options.url, options.subprotocol, {
    maxPayload: options.messageBytesMax,
    perMessageDeflate: false,
    handshakeTimeout: options.handshakeTimeoutMs,
    ...(options.tls === undefined ? {} : wsTls(options.tls)),
  });
  let ended = false;
  let corked = false;
  // 'error' must always have a listener: ws emits it for refused upgrades and broken sockets,
  // and an unheard 'error' would crash the process.
  socket.on('error', (err) => {
    if (!ended) events.onError(err);
  });
  socket.on('open', () => {
    if (!ended) events.onOpen(socket.protocol);
  });
  socket.on('message', (data, isBinary) => {
    if (!ended) events.onMessage(bytesOf(data), isBinary);
  });
  socket.on('close', (code, reason) => {
    if (ended) return;
    ended = true;
    events.onClose(code, utf8.decode(reason));
  });

  /**
   * Holds the socket's writes until the event loop's check phase, so that the requests of one
   * turn (a pipelining caller sends many) leave in one writev rather than a syscall each. `ws`
   * keeps its socket in the internal `_socket`; Node counts nested cork() calls.
   */
  const corkThisTurn = (): void => {
    const raw = socket._socket;
    if (corked || raw === undefined || raw.destroyed) return;
    corked = true;
    raw.cork();
    setImmediate(() => {
      corked = false;
      raw.uncork();
    });
  };

  return {
    send(bytes) {
      if (ended || socket.readyState !== WebSocketClass.OPEN) return false;
      corkThisTurn();
      // A write error surfaces as the socket's 'error'/'close' events; the callback only keeps it from throwing.
      socket.send(bytes, { binary: true }, () => undefined);
      return true;
    },
    terminate() {
      if (ended) return;
      ended = true;
      socket.terminate();
    },
  };
}

function wsTls(tls: TlsOptions): WsTlsOptions {
  const pem = (value: string | Uint8Array): Buffer | string => (typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
  return {
    ...(tls.ca === undefined ? {} : { ca: pem(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: pem(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: pem(tls.key) }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}

function bytesOf(data: Uint8Array | ArrayBuffer | Uint8Array[]): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
