import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { JuteReader, JuteWriter, decodeRequest, zkOp, type ZkStat } from '@vigil/server';

/**
 * A ZooKeeper-protocol client that sends exactly the packets a test writes and hands back every
 * packet the server sends, for what the real client libraries never do (malformed packets, a
 * pipeline of requests, a session resumed by hand). Requests are built with the server's own jute
 * writer, which packages/server/test/zookeeper-wire.test.ts checks byte for byte against
 * node-zookeeper-client's.
 */
export interface Reply {
  readonly xid: number;
  readonly zxid: number;
  readonly err: number;
  /** The reply body's reader, positioned after the header. */
  readonly body: JuteReader;
}

export interface Connected {
  readonly timeOut: number;
  readonly sessionId: number;
  readonly passwd: Uint8Array;
}

export class RawZooKeeper {
  private buffered = Buffer.alloc(0);
  private readonly packets: Buffer[] = [];
  private waiting: (() => void) | null = null;
  private ended = false;
  private nextXid = 1;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 4 && this.buffered.length >= 4 + this.buffered.readInt32BE(0)) {
        const length = this.buffered.readInt32BE(0);
        this.packets.push(this.buffered.subarray(4, 4 + length));
        this.buffered = this.buffered.subarray(4 + length);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  /** `ca`: over TLS, trusting that CA (a member run with TLS serves its ZooKeeper port over TLS). */
  static async open(port: number, options: { ca?: string } = {}): Promise<RawZooKeeper> {
    const socket = options.ca === undefined ? connect(port, '127.0.0.1') : tlsConnect({ port, host: '127.0.0.1', ca: options.ca });
    await new Promise<void>((resolve, reject) => {
      socket.once(options.ca === undefined ? 'connect' : 'secureConnect', resolve);
      socket.once('error', reject);
    });
    return new RawZooKeeper(socket);
  }

  /** Whether the server has closed the connection. */
  get closed(): boolean {
    return this.ended;
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  async handshake(options: { sessionId?: number; passwd?: Uint8Array; lastZxidSeen?: number; timeOut?: number } = {}): Promise<Connected> {
    const w = new JuteWriter();
    w.int(0).long(options.lastZxidSeen ?? 0).int(options.timeOut ?? 5_000).long(options.sessionId ?? 0).buffer(options.passwd ?? new Uint8Array(16)).bool(false);
    this.write(w.packet());
    const r = new JuteReader(await this.packet());
    r.int();
    const timeOut = r.int();
    const sessionId = r.long();
    const passwd = r.buffer() ?? new Uint8Array(0);
    return { timeOut, sessionId, passwd };
  }

  /** Sends a request of `type` with the body `write` makes, under a fresh xid (or the one given); its xid. */
  send(type: number, write: (w: JuteWriter) => void = () => undefined, xid = this.nextXid++): number {
    const w = new JuteWriter();
    w.int(xid).int(type);
    write(w);
    const packet = w.packet();
    // What the test sends must be what a real client could: the server's decoder reads it back.
    if (type !== zkOp.auth && 'error' in decodeRequest(packet.subarray(4))) throw new Error(`the test built an unreadable request of type ${type}`);
    this.write(packet);
    return xid;
  }

  /** The next reply (watch notifications included, xid -1), or null when the server closed first. */
  async reply(): Promise<Reply | null> {
    const bytes = await this.packet().catch(() => null);
    if (bytes === null) return null;
    const body = new JuteReader(bytes);
    return { xid: body.int(), zxid: body.long(), err: body.int(), body };
  }

  async request(type: number, write?: (w: JuteWriter) => void): Promise<Reply> {
    const xid = this.send(type, write);
    for (;;) {
      const r = await this.reply();
      if (r === null) throw new Error('the server closed the connection');
      if (r.xid === xid) return r;
    }
  }

  private async packet(): Promise<Buffer> {
    while (this.packets.length === 0) {
      if (this.ended) throw new Error('the server closed the connection');
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
    return this.packets.shift() as Buffer;
  }

  private wake(): void {
    const w = this.waiting;
    this.waiting = null;
    w?.();
  }
}

export function readStat(r: JuteReader): ZkStat {
  return {
    czxid: r.long(), mzxid: r.long(), ctime: r.long(), mtime: r.long(), version: r.int(), cversion: r.int(),
    aversion: r.int(), ephemeralOwner: r.long(), dataLength: r.int(), numChildren: r.int(), pzxid: r.long(),
  };
}

/** A four-letter word's whole answer (the benchmark's helper, bounded in time). */
export { fourLetterWord } from '../../scripts/bench/systems/zookeeper.js';
