// A protocol-level client for tests that must see the frames themselves (handshake refusals, the
// order of events and responses, malformed input), below what the SDK hides.
import { WebSocket } from 'ws';
import { decodeServerFrame, encodeFrame, webSocketSubprotocol, type ClientFrame, type ServerFrame } from '@vigil/protocol';

export class RawClient {
  private readonly frames: ServerFrame[] = [];
  private waiter: (() => void) | null = null;
  closed: { code: number; reason: string } | null = null;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const decoded = decodeServerFrame(new Uint8Array(data as Buffer));
      if (!decoded.ok) throw new Error(`the server sent an invalid frame: ${decoded.error.message}`);
      this.frames.push(decoded.value);
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  static async open(port: number, protocols: string | string[] = webSocketSubprotocol): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  /** Connect and open (or resume) a session; returns the welcome. */
  static async session(port: number, hello: Partial<Extract<ClientFrame, { t: 'hello' }>> = {}): Promise<{ client: RawClient; welcome: Extract<ServerFrame, { t: 'welcome' }> }> {
    const client = await RawClient.open(port);
    client.send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, ...hello });
    const welcome = await client.next();
    if (welcome.t !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
    return { client, welcome };
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  send(frame: ClientFrame): void {
    this.ws.send(encodeFrame(frame));
  }

  sendBytes(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** The next frame from the server; rejects if the connection closes first. */
  async next(timeoutMs = 10_000): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.closed !== null) throw new Error(`connection closed (${this.closed.code} ${this.closed.reason})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no frame in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.frames.shift() as ServerFrame;
  }

  /** The response to request `id`, skipping (and returning) the frames before it. */
  async response(id: number): Promise<{ response: Extract<ServerFrame, { t: 'res' }>; before: ServerFrame[] }> {
    const before: ServerFrame[] = [];
    for (;;) {
      const f = await this.next();
      if (f.t === 'res' && f.id === id) return { response: f, before };
      before.push(f);
    }
  }

  /** Resolves with the close code once the server closed the connection. */
  async closedWith(timeoutMs = 10_000): Promise<{ code: number; reason: string; frames: ServerFrame[] }> {
    const frames: ServerFrame[] = [];
    for (;;) {
      try {
        frames.push(await this.next(timeoutMs));
      } catch (err) {
        if (this.closed !== null) return { ...this.closed, frames };
        throw err;
      }
    }
  }

  close(): void {
    this.ws.terminate();
  }
}
