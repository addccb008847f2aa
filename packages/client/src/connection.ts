/**
 * One WebSocket to one server: the upgrade with the `vigil.v1` subprotocol, the hello/welcome
 * handshake, and frames in and out through `@vigil/protocol`'s codec. The socket itself comes
 * from web-socket.ts (the runtime's standard WebSocket, or `ws` on Node 20). It knows nothing of
 * requests, sessions or reconnecting; it reports exactly one end (`onClosed`) whatever happens,
 * and everything is reported synchronously from the socket's events, so that a frame that arrives
 * in the same read as the welcome is never handled before the welcome.
 */
import {
  VigilError,
  decodeServerFrame,
  encodeFrame,
  errorCodeOfClose,
  frameBytesMax,
  vigilErrorFromWire,
  webSocketSubprotocol,
  type DecodeError,
  type HelloFrame,
  type ServerFrame,
  type WelcomeFrame,
} from '@vigil/protocol';
import type { ClientSocket, OpenSocket } from './web-socket.js';

export type PushedFrame = Exclude<ServerFrame, WelcomeFrame>;

export interface ConnectionHandlers {
  /** The handshake succeeded; frames follow. */
  onWelcome(welcome: WelcomeFrame): void;
  /** A frame after the welcome (never a welcome, never an `error` frame: those end the connection). */
  onFrame(frame: PushedFrame): void;
  /** A response that could not be decoded but whose id was readable: that request alone failed. */
  onBadResponse(id: number, error: VigilError): void;
  /** The connection is over (handshake refused, closed, broken, or `terminate()`d by a failure). Called once. */
  onClosed(error: VigilError): void;
}

export interface ConnectionOptions {
  readonly endpoint: string;
  readonly hello: HelloFrame;
  /** From the start of the upgrade to the welcome. */
  readonly handshakeTimeoutMs: number;
  /**
   * From the start to the upgrade's answer: a server that accepts TCP but does not answer (its
   * process is frozen) is given up sooner than one that answered and is deciding on the hello.
   */
  readonly openTimeoutMs?: number;
  readonly handlers: ConnectionHandlers;
  /** The runtime's WebSocket (web-socket.ts), resolved by `connect()`. */
  readonly openSocket: OpenSocket;
}

export class Connection {
  readonly endpoint: string;
  private readonly socket: ClientSocket;
  private readonly handlers: ConnectionHandlers;
  private handshakeTimer: ReturnType<typeof setTimeout> | null;
  private openTimer: ReturnType<typeof setTimeout> | null = null;
  private welcomed = false;
  private ended = false;

  constructor(options: ConnectionOptions) {
    this.endpoint = options.endpoint;
    this.handlers = options.handlers;
    this.socket = options.openSocket({
      url: options.endpoint,
      subprotocol: webSocketSubprotocol,
      messageBytesMax: frameBytesMax,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      events: {
        onOpen: (protocol) => {
          this.clearOpenTimer();
          this.opened(protocol, options.hello);
        },
        onMessage: (bytes, isBinary) => this.received(bytes, isBinary),
        onError: (err) => this.fail(new VigilError('CONNECTION_LOSS', `${this.endpoint}: ${err.message}`, { cause: err })),
        onClose: (code, reason) => this.fail(closeError(this.endpoint, code, reason)),
      },
    });
    this.handshakeTimer = setTimeout(() => {
      this.fail(new VigilError('TIMEOUT', `no welcome from ${this.endpoint} within ${options.handshakeTimeoutMs}ms`));
    }, options.handshakeTimeoutMs);
    const openTimeoutMs = options.openTimeoutMs;
    if (openTimeoutMs !== undefined && openTimeoutMs < options.handshakeTimeoutMs && !this.ended) {
      this.openTimer = setTimeout(() => this.fail(new VigilError('TIMEOUT', `${this.endpoint} did not answer the WebSocket upgrade within ${openTimeoutMs}ms`)), openTimeoutMs);
    }
  }

  get isOpen(): boolean {
    return !this.ended && this.welcomed;
  }

  /** Writes one encoded frame; false when the socket can no longer take it (its close is on its way). */
  send(bytes: Uint8Array): boolean {
    if (this.ended) return false;
    return this.socket.send(bytes);
  }

  /** Ends the connection at once without reporting it: the owner already knows. Idempotent. */
  terminate(): void {
    if (this.ended) return;
    this.ended = true;
    this.clearHandshakeTimer();
    this.socket.terminate();
  }

  private opened(protocol: string, hello: HelloFrame): void {
    if (this.ended) return;
    if (protocol !== webSocketSubprotocol) {
      this.fail(new VigilError('PROTOCOL_VIOLATION', `${this.endpoint} did not select the ${webSocketSubprotocol} subprotocol`));
      return;
    }
    this.send(encodeFrame(hello));
  }

  private received(bytes: Uint8Array, isBinary: boolean): void {
    if (this.ended) return;
    if (!isBinary) {
      this.fail(new VigilError('PROTOCOL_VIOLATION', `${this.endpoint} sent a text message`));
      return;
    }
    const decoded = decodeServerFrame(bytes);
    if (!decoded.ok) {
      this.undecodable(decoded.error);
      return;
    }
    const frame = decoded.value;
    if (frame.t === 'error') {
      // The server closes right after an error frame; its error says more than the close code.
      this.fail(vigilErrorFromWire(frame.error));
      return;
    }
    if (!this.welcomed) {
      if (frame.t !== 'welcome') {
        this.fail(new VigilError('PROTOCOL_VIOLATION', `${this.endpoint} sent ${frame.t} before welcome`));
        return;
      }
      this.welcomed = true;
      this.clearHandshakeTimer();
      this.handlers.onWelcome(frame);
      return;
    }
    if (frame.t === 'welcome') {
      this.fail(new VigilError('PROTOCOL_VIOLATION', `${this.endpoint} sent a second welcome`));
      return;
    }
    this.handlers.onFrame(frame);
  }

  private undecodable(error: DecodeError): void {
    const vigilError = new VigilError(error.code, `${this.endpoint} sent an undecodable frame: ${error.message}`);
    // A response whose id could be read fails that request alone, as the server does for requests.
    if (this.welcomed && error.id !== undefined) this.handlers.onBadResponse(error.id, vigilError);
    else this.fail(vigilError);
  }

  private fail(error: VigilError): void {
    if (this.ended) return;
    this.ended = true;
    this.clearHandshakeTimer();
    this.socket.terminate();
    this.handlers.onClosed(error);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer !== null) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.clearOpenTimer();
  }

  private clearOpenTimer(): void {
    if (this.openTimer !== null) clearTimeout(this.openTimer);
    this.openTimer = null;
  }
}

/** docs/protocol.md §6: 4000–4999 name an error, 1009 is FRAME_TOO_LARGE, 1000 is a normal close. */
function closeError(endpoint: string, code: number, reason: string): VigilError {
  const errorCode = errorCodeOfClose(code) ?? 'CONNECTION_LOSS';
  return new VigilError(errorCode, `${endpoint} closed the connection (${code}${reason === '' ? '' : ` ${reason}`})`);
}

