/**
 * The `vigil.v1` side of a client connection: msgpack frames in WebSocket binary messages
 * (docs/protocol.md). Decoding and encoding happen here; what to answer and when is the
 * connection's business.
 */
import type { RawData, WebSocket } from 'ws';
import { decodeClientFrame, encodeFrame, type ServerFrame } from '@vigil/protocol';
import { corkThisTurn } from '../transport/cork.js';
import type { ChannelInput, ClientChannel, ConnectionRequest, Outcome } from './client-connection.js';
import { thrownError } from './wire.js';

/** After our close frame, a client gets this long to read what is queued and answer it. */
const closeGraceMs = 10_000;

export class WebSocketChannel implements ClientChannel {
  constructor(private readonly ws: WebSocket) {}

  start(connection: ChannelInput): void {
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        connection.fail('PROTOCOL_VIOLATION', 'text frames are not part of the protocol');
        return;
      }
      const bytes = toBytes(data);
      connection.receive(decodeClientFrame(bytes), bytes.byteLength);
    });
    this.ws.on('close', () => connection.channelClosed());
    // A socket error is followed by 'close', which is what the connection acts on.
    this.ws.on('error', () => undefined);
  }

  encodeResponse(id: number, op: ConnectionRequest['op'] | undefined, outcome: Outcome): Uint8Array {
    const named = op === undefined || op === 'local' ? {} : { op };
    try {
      if ('error' in outcome) return encodeFrame({ t: 'res', id, ok: false, revision: outcome.revision, ...named, error: outcome.error });
      if (outcome.result.op === 'local') throw new Error('a local read has no vigil.v1 encoding');
      return encodeFrame({ t: 'res', id, ok: true, revision: outcome.revision, ...outcome.result });
    } catch (err) {
      return encodeFrame({ t: 'res', id, ok: false, revision: outcome.revision, ...named, error: thrownError(err) });
    }
  }

  encodeFrame(frame: ServerFrame): Uint8Array {
    return encodeFrame(frame);
  }

  send(bytes: Uint8Array): void {
    corkThisTurn(this.ws);
    this.ws.send(bytes, { binary: true });
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
    // A client that never completes the closing handshake is cut off.
    setTimeout(() => this.ws.terminate(), closeGraceMs).unref();
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}
