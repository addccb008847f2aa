/**
 * The peer transport: carries Raft messages between Vigil nodes over WebSocket.
 *
 * One connection per pair of members, used in both directions: the lower id dials, the higher id
 * only accepts, so two nodes can never race to open two connections. The dialer proves who it is
 * in a `hello` (protocol version, cluster id, its id and the id it meant to reach); the acceptor
 * answers `welcome` or closes with a 4xxx code and a reason. Per peer, outgoing messages wait in
 * a queue bounded by messages and bytes; when it is full new messages are dropped and reported
 * (Raft retransmits), never buffered without bound. Everything sent in one event-loop turn goes
 * out as one frame per peer. See docs/transport.md.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Message, NodeId } from '@vigil/raft';
import { ServerError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import {
  decodeHello,
  decodeMessages,
  decodeWelcome,
  encodePeerFrame,
  messageBytesEstimate,
  peerCloseCodes,
  peerPath,
  peerProtocolVersion,
} from './peer-codec.js';
import { reconnectDelayMs } from './reconnect-backoff.js';

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface PeerTransportOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  /** Port 0 picks a free port; see {@link PeerTransport.address}. */
  readonly listen: PeerAddress;
  /** The other members (never this node). */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  /** Called synchronously once per received frame, with its messages in order. */
  readonly onMessages: (messages: Message[]) => void;
  readonly logger?: Logger;
  /** Per peer. */
  readonly sendQueueMessagesMax?: number;
  /** Per peer, by {@link messageBytesEstimate}. */
  readonly sendQueueBytesMax?: number;
  /** The largest frame sent or accepted (also the `ws` maxPayload). Must match across the cluster. */
  readonly frameBytesMax?: number;
  /** While a socket holds more than this unsent, messages stay in the (bounded) queue. */
  readonly socketBufferedBytesMax?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /** From dial (or accept) until the handshake completes. */
  readonly handshakeTimeoutMs?: number;
  /** A ping every interval; a connection whose previous ping went unanswered is terminated. */
  readonly keepaliveIntervalMs?: number;
  /** Closing sockets get this long for a clean close before they are terminated. */
  readonly closeTimeoutMs?: number;
  /** Messages to this peer were dropped (queue full), or its connection was lost with messages pending. */
  readonly onPeerUnreachable?: (peer: NodeId) => void;
}

export interface PeerStats {
  readonly peer: NodeId;
  /** The handshake has completed and the connection is open. */
  readonly connected: boolean;
  /** `dial` when this node opens the connection (the lower id), `accept` otherwise. */
  readonly role: 'dial' | 'accept';
  /** Completed handshakes with this peer since start (1 for a connection that never dropped). */
  readonly connections: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly droppedMessages: number;
}

export const peerTransportDefaults = {
  sendQueueMessagesMax: 4096,
  sendQueueBytesMax: 64 * 1024 * 1024,
  frameBytesMax: 16 * 1024 * 1024,
  socketBufferedBytesMax: 16 * 1024 * 1024,
  reconnectBaseMs: 100,
  reconnectMaxMs: 5_000,
  handshakeTimeoutMs: 5_000,
  keepaliveIntervalMs: 5_000,
  closeTimeoutMs: 2_000,
} as const;

/** Connections that have not finished their handshake; beyond this new ones are turned away. */
const pendingConnectionsMax = 64;

interface QueuedMessage {
  readonly message: Message;
  readonly bytes: number;
}

/** Everything the transport knows about one other member. */
interface PeerLink {
  readonly id: NodeId;
  address: PeerAddress;
  readonly role: 'dial' | 'accept';
  /** The authenticated connection, if any. */
  socket: WebSocket | null;
  /** Dialer only: a connection still in its handshake. */
  dialing: WebSocket | null;
  reconnectTimer: NodeJS.Timeout | null;
  /** Failed dials since the last successful handshake (the backoff exponent). */
  attempt: number;
  awaitingPong: boolean;
  queue: QueuedMessage[];
  queuedBytes: number;
  droppedMessages: number;
  connections: number;
  removed: boolean;
}

interface Settings {
  readonly sendQueueMessagesMax: number;
  readonly sendQueueBytesMax: number;
  readonly frameBytesMax: number;
  readonly socketBufferedBytesMax: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly handshakeTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly closeTimeoutMs: number;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new ServerError('CONFIG_INVALID', `peer transport: ${name} must be a positive integer (got ${String(value)})`);
  }
  return v;
}

function validNodeId(id: NodeId): boolean {
  return Number.isSafeInteger(id) && id > 0;
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

function isRefusal(code: number): boolean {
  return code >= 4000 && code <= 4999;
}

function wsUrl(address: PeerAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `ws://${host}:${address.port}${peerPath}`;
}

export class PeerTransport {
  readonly address: PeerAddress;

  private readonly log: Logger;
  private readonly settings: Settings;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Every socket this transport owns, in any state, so that close() can end them all. */
  private readonly sockets = new Set<WebSocket>();
  private pendingConnections = 0;
  private flushImmediate: NodeJS.Immediate | null = null;
  private readonly keepaliveTimer: NodeJS.Timeout;
  private closing: Promise<void> | null = null;

  /** Resolves once the peer port is listening; rejects on invalid options or a listen error. */
  static async start(options: PeerTransportOptions): Promise<PeerTransport> {
    const settings: Settings = {
      sendQueueMessagesMax: positiveInteger('sendQueueMessagesMax', options.sendQueueMessagesMax, peerTransportDefaults.sendQueueMessagesMax),
      sendQueueBytesMax: positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax, peerTransportDefaults.sendQueueBytesMax),
      frameBytesMax: positiveInteger('frameBytesMax', options.frameBytesMax, peerTransportDefaults.frameBytesMax),
      socketBufferedBytesMax: positiveInteger('socketBufferedBytesMax', options.socketBufferedBytesMax, peerTransportDefaults.socketBufferedBytesMax),
      reconnectBaseMs: positiveInteger('reconnectBaseMs', options.reconnectBaseMs, peerTransportDefaults.reconnectBaseMs),
      reconnectMaxMs: positiveInteger('reconnectMaxMs', options.reconnectMaxMs, peerTransportDefaults.reconnectMaxMs),
      handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, peerTransportDefaults.handshakeTimeoutMs),
      keepaliveIntervalMs: positiveInteger('keepaliveIntervalMs', options.keepaliveIntervalMs, peerTransportDefaults.keepaliveIntervalMs),
      closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, peerTransportDefaults.closeTimeoutMs),
    };
    if (!validNodeId(options.selfId)) throw new ServerError('CONFIG_INVALID', 'peer transport: selfId must be a positive integer');
    if (options.clusterId.length === 0) throw new ServerError('CONFIG_INVALID', 'peer transport: clusterId must not be empty');
    if (settings.reconnectMaxMs < settings.reconnectBaseMs) {
      throw new ServerError('CONFIG_INVALID', 'peer transport: reconnectMaxMs must be at least reconnectBaseMs');
    }

    const server = createServer((_req, res) => {
      // Only WebSocket upgrades belong on the peer port.
      res.writeHead(426, { connection: 'close' }).end();
    });
    const wss = new WebSocketServer({
      server,
      path: peerPath,
      maxPayload: settings.frameBytesMax,
      perMessageDeflate: false,
      clientTracking: false,
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      server.listen(options.listen.port, options.listen.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const info = server.address() as AddressInfo;
    return new PeerTransport(options, settings, server, wss, { host: info.address, port: info.port });
  }

  private constructor(
    private readonly options: PeerTransportOptions,
    settings: Settings,
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    address: PeerAddress,
  ) {
    this.settings = settings;
    this.address = address;
    this.log = (options.logger ?? silentLogger()).child({ component: 'transport' });
    server.on('error', (err) => this.log.error({ err }, 'peer server error'));
    wss.on('error', (err) => this.log.error({ err }, 'peer server error'));
    wss.on('connection', (ws, req) => this.accept(ws, req));
    this.keepaliveTimer = setInterval(() => this.keepalive(), settings.keepaliveIntervalMs);
    this.keepaliveTimer.unref();
    this.log.info({ address, selfId: options.selfId }, 'peer transport listening');
    this.setPeers(options.peers);
  }

  /**
   * Queues messages for their peers; never blocks and never throws. Messages for unknown peers
   * are dropped and logged; messages that do not fit a peer's queue are dropped and reported.
   */
  send(messages: readonly Message[]): void {
    if (this.closing !== null) return;
    let unknown: NodeId[] | null = null;
    let overflowed: Set<PeerLink> | null = null;
    for (const message of messages) {
      const link = this.links.get(message.to);
      if (link === undefined) {
        (unknown ??= []).push(message.to);
        continue;
      }
      const bytes = messageBytesEstimate(message);
      if (link.queue.length >= this.settings.sendQueueMessagesMax || link.queuedBytes + bytes > this.settings.sendQueueBytesMax) {
        link.droppedMessages += 1;
        (overflowed ??= new Set()).add(link);
        continue;
      }
      link.queue.push({ message, bytes });
      link.queuedBytes += bytes;
    }
    if (unknown !== null) this.log.warn({ peers: [...new Set(unknown)], count: unknown.length }, 'messages to unknown peers dropped');
    if (overflowed !== null) {
      for (const link of overflowed) {
        this.log.warn({ peer: link.id, queuedMessages: link.queue.length, queuedBytes: link.queuedBytes }, 'send queue full, messages dropped');
        this.reportUnreachable(link);
      }
    }
    this.scheduleFlush();
  }

  /** Membership changed: dial new members, drop removed ones (and refuse them from now on). */
  setPeers(peers: ReadonlyMap<NodeId, PeerAddress>): void {
    if (this.closing !== null) return;
    for (const link of [...this.links.values()]) {
      if (!peers.has(link.id)) this.removeLink(link);
    }
    for (const [id, address] of peers) {
      if (id === this.options.selfId || !validNodeId(id)) {
        this.log.warn({ peer: id }, 'peer ignored');
        continue;
      }
      const link = this.links.get(id);
      if (link === undefined) {
        this.addLink(id, address);
      } else if (link.address.host !== address.host || link.address.port !== address.port) {
        this.log.info({ peer: id, address }, 'peer address changed');
        link.address = address;
        if (link.role === 'dial') {
          // Redial at the new address: the close handlers schedule it once the old sockets are gone.
          link.attempt = 0;
          link.dialing?.close(1000, 'address changed');
          link.socket?.close(1000, 'address changed');
        }
      }
    }
  }

  stats(): readonly PeerStats[] {
    return [...this.links.values()].map((link) => ({
      peer: link.id,
      connected: link.socket !== null,
      role: link.role,
      connections: link.connections,
      queuedMessages: link.queue.length,
      queuedBytes: link.queuedBytes,
      droppedMessages: link.droppedMessages,
    }));
  }

  /** Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.log.info('peer transport closing');
    clearInterval(this.keepaliveTimer);
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    for (const link of this.links.values()) {
      if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
      link.reconnectTimer = null;
    }
    await Promise.all([...this.sockets].map((ws) => this.closeSocket(ws, peerCloseCodes.shuttingDown, 'shutting down')));
    await new Promise<void>((resolve) => {
      this.wss.close(() => resolve());
    });
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.links.clear();
    this.log.info('peer transport closed');
  }

  /** Resolves once the socket is closed: cleanly if the peer answers in time, else terminated. */
  private closeSocket(ws: WebSocket, code: number, reason: string): Promise<void> {
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => ws.terminate(), this.settings.closeTimeoutMs);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
      else ws.terminate();
    });
  }

  private addLink(id: NodeId, address: PeerAddress): void {
    const link: PeerLink = {
      id,
      address,
      role: this.options.selfId < id ? 'dial' : 'accept',
      socket: null,
      dialing: null,
      reconnectTimer: null,
      attempt: 0,
      awaitingPong: false,
      queue: [],
      queuedBytes: 0,
      droppedMessages: 0,
      connections: 0,
      removed: false,
    };
    this.links.set(id, link);
    if (link.role === 'dial') this.dial(link);
  }

  private removeLink(link: PeerLink): void {
    this.log.info({ peer: link.id }, 'peer removed');
    link.removed = true;
    this.links.delete(link.id);
    if (link.reconnectTimer !== null) clearTimeout(link.reconnectTimer);
    link.reconnectTimer = null;
    link.queue = [];
    link.queuedBytes = 0;
    link.dialing?.close(peerCloseCodes.memberRemoved, 'member removed');
    link.socket?.close(peerCloseCodes.memberRemoved, 'member removed');
  }

  // ---- dialing (lower id) ----

  private dial(link: PeerLink): void {
    if (this.closing !== null || link.removed || link.dialing !== null || link.socket !== null) return;
    const ws = new WebSocket(wsUrl(link.address), {
      perMessageDeflate: false,
      maxPayload: this.settings.frameBytesMax,
      handshakeTimeout: this.settings.handshakeTimeoutMs,
      followRedirects: false,
    });
    link.dialing = ws;
    this.sockets.add(ws);
    let welcomed = false;
    const deadline = setTimeout(() => {
      this.log.warn({ peer: link.id }, 'peer handshake timeout');
      ws.terminate();
    }, this.settings.handshakeTimeoutMs);

    ws.on('open', () => {
      ws.send(encodePeerFrame({
        kind: 'hello',
        version: peerProtocolVersion,
        clusterId: this.options.clusterId,
        from: this.options.selfId,
        to: link.id,
      }));
    });
    ws.on('message', (data, isBinary) => {
      if (welcomed) {
        this.receive(link, ws, data, isBinary);
        return;
      }
      const welcome = isBinary ? decodeWelcome(toBytes(data)) : { ok: false as const, reason: 'text frame' };
      if (!welcome.ok) {
        this.log.warn({ peer: link.id, reason: welcome.reason }, 'invalid frame');
        ws.close(peerCloseCodes.invalidFrame, 'invalid frame');
        return;
      }
      welcomed = true;
      clearTimeout(deadline);
      if (link.dialing === ws) link.dialing = null;
      link.attempt = 0;
      this.connected(link, ws);
    });
    ws.on('pong', () => {
      if (link.socket === ws) link.awaitingPong = false;
    });
    ws.on('error', (err) => this.log.debug({ peer: link.id, err }, 'peer connection error'));
    ws.on('close', (code, reasonBytes) => {
      clearTimeout(deadline);
      this.sockets.delete(ws);
      if (link.dialing === ws) link.dialing = null;
      const reason = reasonBytes.toString();
      if (!welcomed && isRefusal(code)) this.log.warn({ peer: link.id, code, reason }, 'peer refused');
      this.disconnected(link, ws, code, reason);
      if (!welcomed) link.attempt += 1;
      this.scheduleReconnect(link);
    });
  }

  private scheduleReconnect(link: PeerLink): void {
    if (this.closing !== null || link.removed || link.role !== 'dial') return;
    if (link.dialing !== null || link.socket !== null || link.reconnectTimer !== null) return;
    const delayMs = reconnectDelayMs(
      { baseMs: this.settings.reconnectBaseMs, maxMs: this.settings.reconnectMaxMs },
      link.attempt,
      Math.random,
    );
    this.log.debug({ peer: link.id, delayMs, attempt: link.attempt }, 'peer reconnect scheduled');
    link.reconnectTimer = setTimeout(() => {
      link.reconnectTimer = null;
      this.dial(link);
    }, delayMs);
  }

  // ---- accepting (higher id) ----

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    if (this.closing !== null) {
      ws.terminate();
      return;
    }
    if (this.pendingConnections >= pendingConnectionsMax) {
      this.log.warn({ remote }, 'too many pending peer connections');
      ws.close(1013, 'try again later');
      return;
    }
    this.sockets.add(ws);
    this.pendingConnections += 1;
    let link: PeerLink | null = null;
    let pending = true;
    const settle = (): void => {
      if (pending) {
        pending = false;
        this.pendingConnections -= 1;
        clearTimeout(deadline);
      }
    };
    const refuse = (code: number, reason: string, from?: NodeId): void => {
      this.log.warn({ remote, from, code, reason }, 'peer refused');
      settle();
      ws.close(code, reason);
    };
    const deadline = setTimeout(() => refuse(peerCloseCodes.handshakeTimeout, 'handshake timeout'), this.settings.handshakeTimeoutMs);

    ws.on('message', (data, isBinary) => {
      if (link !== null) {
        this.receive(link, ws, data, isBinary);
        return;
      }
      if (!pending) return; // refused already; the close is under way
      const hello = isBinary ? decodeHello(toBytes(data)) : { ok: false as const, reason: 'text frame' };
      if (!hello.ok) {
        this.log.warn({ remote, reason: hello.reason }, 'invalid frame');
        settle();
        ws.close(peerCloseCodes.invalidFrame, 'invalid frame');
        return;
      }
      const { version, clusterId, from, to } = hello.value;
      if (version !== peerProtocolVersion) return refuse(peerCloseCodes.unsupportedVersion, 'unsupported version', from);
      if (clusterId !== this.options.clusterId) return refuse(peerCloseCodes.clusterIdMismatch, 'cluster id mismatch', from);
      if (to !== this.options.selfId) return refuse(peerCloseCodes.wrongNode, 'wrong node', from);
      const known = this.links.get(from);
      if (known === undefined) return refuse(peerCloseCodes.unknownMember, 'unknown member', from);
      if (known.role !== 'accept') return refuse(peerCloseCodes.wrongDirection, 'wrong direction', from);
      settle();
      link = known;
      const previous = known.socket;
      if (previous !== null) {
        // The peer restarted or lost sight of the old connection: the newest one wins.
        this.log.info({ peer: from, remote }, 'peer connection replaced');
        known.socket = null;
        previous.close(peerCloseCodes.replaced, 'replaced');
      }
      ws.send(encodePeerFrame({ kind: 'welcome' }));
      this.connected(known, ws);
    });
    ws.on('pong', () => {
      if (link !== null && link.socket === ws) link.awaitingPong = false;
    });
    ws.on('error', (err) => this.log.debug({ remote, err }, 'peer connection error'));
    ws.on('close', (code, reasonBytes) => {
      settle();
      this.sockets.delete(ws);
      if (link !== null) this.disconnected(link, ws, code, reasonBytes.toString());
    });
  }

  // ---- both roles ----

  private connected(link: PeerLink, ws: WebSocket): void {
    if (link.removed || this.closing !== null) {
      ws.close(peerCloseCodes.memberRemoved, 'member removed');
      return;
    }
    link.socket = ws;
    link.awaitingPong = false;
    link.connections += 1;
    this.log.info({ peer: link.id, role: link.role, queuedMessages: link.queue.length }, 'peer connected');
    this.flush(link);
  }

  private disconnected(link: PeerLink, ws: WebSocket, code: number, reason: string): void {
    if (link.socket !== ws) return;
    link.socket = null;
    this.log.info({ peer: link.id, code, reason }, 'peer disconnected');
    if (link.queue.length > 0 || ws.bufferedAmount > 0) this.reportUnreachable(link);
  }

  private receive(link: PeerLink, ws: WebSocket, data: RawData, isBinary: boolean): void {
    if (link.socket !== ws || this.closing !== null) return; // a replaced or closing connection
    link.awaitingPong = false;
    const decoded = isBinary
      ? decodeMessages(toBytes(data), { from: link.id, to: this.options.selfId })
      : { ok: false as const, reason: 'text frame' };
    if (!decoded.ok) {
      this.log.warn({ peer: link.id, reason: decoded.reason }, 'invalid frame');
      ws.close(peerCloseCodes.invalidFrame, 'invalid frame');
      return;
    }
    if (decoded.value.length === 0) return;
    try {
      this.options.onMessages(decoded.value);
    } catch (err) {
      this.log.error({ peer: link.id, err }, 'message handler failed');
    }
  }

  private reportUnreachable(link: PeerLink): void {
    if (this.closing !== null || this.options.onPeerUnreachable === undefined) return;
    try {
      this.options.onPeerUnreachable(link.id);
    } catch (err) {
      this.log.error({ peer: link.id, err }, 'unreachable handler failed');
    }
  }

  private keepalive(): void {
    for (const link of this.links.values()) {
      const ws = link.socket;
      if (ws === null) continue;
      if (link.awaitingPong) {
        // Half-open: nothing heard for a whole interval after a ping.
        this.log.warn({ peer: link.id }, 'peer keepalive timeout');
        ws.terminate();
        continue;
      }
      link.awaitingPong = true;
      ws.ping();
    }
  }

  // ---- sending ----

  private scheduleFlush(): void {
    if (this.flushImmediate !== null || this.closing !== null) return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = null;
      for (const link of this.links.values()) this.flush(link);
    });
  }

  /**
   * Sends as much of the queue as the socket will take: frames of up to frameBytesMax (one frame
   * for everything queued in a turn, unless it is larger than that), and nothing while the socket
   * already buffers more than socketBufferedBytesMax (a send callback flushes again later).
   */
  private flush(link: PeerLink): void {
    const ws = link.socket;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return;
    while (link.queue.length > 0 && ws.bufferedAmount <= this.settings.socketBufferedBytesMax) {
      let count = 0;
      let bytes = 0;
      for (const queued of link.queue) {
        if (count > 0 && bytes + queued.bytes > this.settings.frameBytesMax) break;
        count += 1;
        bytes += queued.bytes;
      }
      let frame = this.encodeBatch(link, count);
      while (frame === null && count > 1) {
        count = Math.ceil(count / 2);
        frame = this.encodeBatch(link, count);
      }
      const taken = link.queue.splice(0, count);
      for (const queued of taken) link.queuedBytes -= queued.bytes;
      if (frame === null) {
        // One message larger than a frame: it can never be sent. Raft's message size bound must
        // sit below frameBytesMax; say so loudly, and let Raft's retransmission report it.
        link.droppedMessages += 1;
        this.log.error({ peer: link.id, type: taken[0]?.message.type, frameBytesMax: this.settings.frameBytesMax }, 'message larger than a frame dropped');
        this.reportUnreachable(link);
        continue;
      }
      ws.send(frame, { binary: true }, (err) => {
        if (err === undefined || err === null) {
          if (link.queue.length > 0) this.scheduleFlush();
        }
      });
    }
  }

  /** The first `count` queued messages as one frame, or null if that frame exceeds the bound. */
  private encodeBatch(link: PeerLink, count: number): Uint8Array | null {
    const msgs = link.queue.slice(0, count).map((queued) => queued.message);
    const frame = encodePeerFrame({ kind: 'msgs', msgs });
    return frame.length <= this.settings.frameBytesMax ? frame : null;
  }
}
