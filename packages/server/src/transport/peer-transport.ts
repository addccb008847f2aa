/**
 * The peer transport: carries Raft messages between Vigil nodes over WebSocket.
 *
 * One active connection per pair of members, used in both directions. Either side may dial: the
 * lower id dials at once, the higher id only after `reverseDialDelayMs` without an active
 * connection (so that a member that does not know a newer, higher-id member yet can still be
 * reached by it). When crossed dials leave two authenticated connections, both sides keep the one
 * dialed by the lower id and close the other (`duplicate connection`); a newer connection dialed
 * by the same side replaces the older one (the peer restarted). The dialer proves who it is in a
 * `hello` (protocol version, cluster id, its id and the id it meant to reach); the acceptor
 * answers `welcome` or closes with a 4xxx code and a reason. Per peer, outgoing messages wait in
 * a queue bounded by messages and bytes; when it is full new messages are dropped and reported
 * (Raft retransmits), never buffered without bound. Everything sent in one event-loop turn goes
 * out as one frame per peer. See docs/transport.md.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createConnection, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Message, NodeId } from '@vigil/raft';
import { ServerError } from '../errors.js';
import { silentLogger, type Logger } from '../node/logger.js';
import {
  decodeHello,
  decodeAfterHandshake,
  decodeWelcome,
  encodePeerFrame,
  messageBytesEstimate,
  peerCloseCodes,
  peerPath,
  peerProtocolVersion,
} from './peer-codec.js';
import { corkThisTurn } from './cork.js';
import { reconnectDelayMs } from './reconnect-backoff.js';
import { isMemberCertificate, type TlsCredentials } from '../tls/tls-credentials.js';

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
  /**
   * Whether to accept a hello from an id that is not in `peers` (default: refuse, `unknown
   * member`). An accepted peer can be sent to over its connection until it is lost; it has no
   * address, so it is never dialed. The node passes `(id) => !removedIds.has(id)`, so that a
   * member it has not heard of yet gets through and a removed one stays out. Asked again on
   * every hello and on every `setPeers`.
   */
  readonly acceptPeer?: (id: NodeId) => boolean;
  readonly logger?: Logger;
  /** Per peer. */
  readonly sendQueueMessagesMax?: number;
  /**
   * Messages kept for a peer with no connection. Small on purpose: what Raft sends a dead peer is
   * stale by the time it returns (the leader probes and retransmits), and a long backlog would
   * replay old appends into a returning follower instead of letting it catch up by snapshot.
   */
  readonly disconnectedQueueMessagesMax?: number;
  /**
   * Bytes kept for a peer with no connection. A leader probes a dead follower on every heartbeat,
   * each probe carrying up to a megabyte of entries: 64 of them, encoded in one turn when the
   * follower returned, stalled the leader for half a second. Raft probes again on reconnection.
   */
  readonly disconnectedQueueBytesMax?: number;
  /** Per peer, by {@link messageBytesEstimate}. */
  readonly sendQueueBytesMax?: number;
  /** The largest frame sent or accepted (also the `ws` maxPayload). Must match across the cluster. */
  readonly frameBytesMax?: number;
  /** While a socket holds more than this unsent, messages stay in the (bounded) queue. */
  readonly socketBufferedBytesMax?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /**
   * The backoff's cap after the peer refused us for who we are (another cluster or version, a
   * wrong or removed member): it will say the same for a while, so it is asked at a slower pace.
   */
  readonly reconnectRefusedMaxMs?: number;
  /**
   * The higher id of a pair dials the lower one only once it has had no active connection to it
   * for this long: the lower id dials at once, so normally its connection wins and the higher id
   * never makes a duplicate. 0 makes both dial at once (tests of crossed dials).
   */
  readonly reverseDialDelayMs?: number;
  /** From dial (or accept) until the handshake completes. */
  readonly handshakeTimeoutMs?: number;
  /**
   * A dial whose TCP connection is not established within this is given up (and made again after
   * the backoff): its SYN went into a partition or to a host that is down, and the kernel would
   * retransmit it only after 1, then 3, 7 … seconds. Only the peer's kernel takes part in a TCP
   * connect, so a slow peer process does not make it slow; the rest of the handshake has
   * `handshakeTimeoutMs`.
   */
  readonly connectTimeoutMs?: number;
  /** A ping every interval; a connection that answered none of the last two is terminated. */
  readonly keepaliveIntervalMs?: number;
  /** Closing sockets get this long for a clean close before they are terminated. */
  readonly closeTimeoutMs?: number;
  /** Messages to this peer were dropped (queue full), or its connection was lost with messages pending. */
  readonly onPeerUnreachable?: (peer: NodeId) => void;
  /** The active connection to this peer closed (it may come back). */
  readonly onPeerDisconnected?: (peer: NodeId) => void;
  /**
   * A connection to this peer completed its handshake and is now the active one (after anything
   * queued for it was flushed). What was in flight on an earlier connection may be lost: Raft
   * resends now instead of at its next heartbeat.
   */
  readonly onPeerConnected?: (peer: NodeId) => void;
  /** An rpc payload from a peer (see {@link PeerTransport.sendRpc}). */
  readonly onRpc?: (from: NodeId, data: Uint8Array) => void;
  /**
   * Mutual TLS: the peer port is a TLS server that refuses, in the handshake, a peer without a
   * certificate signed by the CA, and then any certificate that is not a member's (serverAuth);
   * dials use `wss://`, present the credentials in use and verify the server against the CA,
   * not against the dialed host name (decision 53, docs/transport.md).
   */
  readonly tls?: TlsCredentials;
}

export interface PeerStats {
  readonly peer: NodeId;
  /** The handshake has completed and the connection is open. */
  readonly connected: boolean;
  /** The id that dialed the active connection (this node's or the peer's); null while disconnected. */
  readonly dialedBy: NodeId | null;
  /** In `peers`; false for a peer admitted by `acceptPeer` (no address: it dials us). */
  readonly listed: boolean;
  /** Completed handshakes with this peer since start (1 for a connection that never dropped). */
  readonly connections: number;
  /** Sockets to or from this peer in any state: 1 when settled, briefly 2 while a duplicate or replaced one closes. */
  readonly sockets: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  readonly droppedMessages: number;
}

export const peerTransportDefaults = {
  sendQueueMessagesMax: 4096,
  disconnectedQueueMessagesMax: 64,
  disconnectedQueueBytesMax: 1024 * 1024,
  sendQueueBytesMax: 64 * 1024 * 1024,
  frameBytesMax: 16 * 1024 * 1024,
  socketBufferedBytesMax: 16 * 1024 * 1024,
  // A peer that comes back (restarted, resumed, healed) is dialed again within reconnectMaxMs:
  // the backoff only spaces out failed dials, and a refused loopback dial costs next to nothing.
  reconnectBaseMs: 50,
  reconnectMaxMs: 250,
  reconnectRefusedMaxMs: 5_000,
  reverseDialDelayMs: 1_000,
  // Once the network heals, a fresh SYN is never more than connectTimeoutMs plus the backoff
  // away. A handshake after the connect is an HTTP upgrade and two small frames.
  handshakeTimeoutMs: 1_000,
  connectTimeoutMs: 250,
  // A silent connection is dropped within three intervals (keepalivePingsUnansweredMax): within
  // 1.5 s a partitioned peer's socket is gone and redials take over, instead of TCP
  // retransmitting into the partition with an ever longer backoff that resumes seconds after the
  // heal.
  keepaliveIntervalMs: 500,
  closeTimeoutMs: 2_000,
} as const;

/**
 * A connection is dropped at the keepalive round that finds this many pings unanswered (and
 * nothing else heard since the first): after 2–3 intervals of silence, 1–1.5 s by default. With
 * one (0.5–1 s) followers that were only busy were dropped too: a learner decoding and applying a
 * catch-up of thousands of entries did not answer for over half a second.
 */
const keepalivePingsUnansweredMax = 2;

/**
 * A keepalive round that runs this many intervals late means this process was not running (a
 * long pause of its event loop, SIGSTOP): the silence was ours, so no connection is judged in it.
 */
const keepaliveLateIntervals = 1.5;

/** Connections that have not finished their handshake; beyond this new ones are turned away. */
const pendingConnectionsMax = 64;

/**
 * Peers admitted by `acceptPeer` (not in `peers`) remembered at once, with their queues. Beyond
 * it the one disconnected longest is forgotten; if all are connected, new ones are turned away.
 */
const admittedPeersMax = 64;

interface QueuedMessage {
  readonly message: Message;
  readonly bytes: number;
}

/** Everything the transport knows about one other member. */
interface PeerLink {
  readonly id: NodeId;
  /** Where to dial it; null for a peer admitted by `acceptPeer` (it dials us). */
  address: PeerAddress | null;
  /** In `peers` (false: admitted by `acceptPeer`). */
  listed: boolean;
  /** The authenticated connection messages go out on, if any. */
  socket: WebSocket | null;
  /** The id that dialed `socket`; meaningful while `socket` is set. */
  socketDialedBy: NodeId;
  /** Our own dial, still in its handshake. */
  dialing: WebSocket | null;
  /** Every socket known to be this peer's, in any state (outbound from the dial, inbound from the hello). */
  readonly sockets: Set<WebSocket>;
  dialTimer: NodeJS.Timeout | null;
  /** Failed dials since the last successful one (the backoff exponent). */
  attempt: number;
  /** The last dial was refused for who we are (see reconnectRefusedMaxMs). */
  refused: boolean;
  /** `performance.now()` when this link last had no active connection (created or lost). */
  disconnectedAtMs: number;
  /** Keepalive pings sent since anything was last heard on the active connection. */
  unansweredPings: number;
  queue: QueuedMessage[];
  queuedBytes: number;
  droppedMessages: number;
  connections: number;
  removed: boolean;
}

interface Settings {
  readonly sendQueueMessagesMax: number;
  readonly disconnectedQueueMessagesMax: number;
  readonly disconnectedQueueBytesMax: number;
  readonly sendQueueBytesMax: number;
  readonly frameBytesMax: number;
  readonly socketBufferedBytesMax: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly reconnectRefusedMaxMs: number;
  readonly reverseDialDelayMs: number;
  readonly handshakeTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly keepaliveIntervalMs: number;
  readonly closeTimeoutMs: number;
}

function integerSetting(name: string, value: number | undefined, fallback: number, min: 0 | 1): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min) {
    const what = min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new ServerError('CONFIG_INVALID', `peer transport: ${name} must be ${what} (got ${String(value)})`);
  }
  return v;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  return integerSetting(name, value, fallback, 1);
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

/** Refusals of who we are, which hold until someone changes the membership or a configuration. */
const identityRefusals: ReadonlySet<number> = new Set([
  peerCloseCodes.unsupportedVersion,
  peerCloseCodes.clusterIdMismatch,
  peerCloseCodes.wrongNode,
  peerCloseCodes.unknownMember,
  4005, // 'wrong direction' of nodes older than the reverse dial (docs/transport.md)
  peerCloseCodes.memberRemoved,
]);

function wsUrl(address: PeerAddress, secure: boolean): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${secure ? 'wss' : 'ws'}://${host}:${address.port}${peerPath}`;
}

export class PeerTransport {
  readonly address: PeerAddress;

  private readonly log: Logger;
  private readonly settings: Settings;
  private readonly links = new Map<NodeId, PeerLink>();
  /** Every socket this transport owns, in any state, so that close() can end them all. */
  private readonly sockets = new Set<WebSocket>();
  /** Connections closed for an invalid frame: nothing they carry afterwards is read. */
  private readonly invalidated = new WeakSet<WebSocket>();
  private pendingConnections = 0;
  private flushImmediate: NodeJS.Immediate | null = null;
  private readonly keepaliveTimer: NodeJS.Timeout;
  private lastKeepaliveMs = performance.now();
  private closing: Promise<void> | null = null;

  /** Resolves once the peer port is listening; rejects on invalid options or a listen error. */
  static async start(options: PeerTransportOptions): Promise<PeerTransport> {
    const settings: Settings = {
      sendQueueMessagesMax: positiveInteger('sendQueueMessagesMax', options.sendQueueMessagesMax, peerTransportDefaults.sendQueueMessagesMax),
      disconnectedQueueMessagesMax: positiveInteger('disconnectedQueueMessagesMax', options.disconnectedQueueMessagesMax, peerTransportDefaults.disconnectedQueueMessagesMax),
      disconnectedQueueBytesMax: positiveInteger('disconnectedQueueBytesMax', options.disconnectedQueueBytesMax, peerTransportDefaults.disconnectedQueueBytesMax),
      sendQueueBytesMax: positiveInteger('sendQueueBytesMax', options.sendQueueBytesMax, peerTransportDefaults.sendQueueBytesMax),
      frameBytesMax: positiveInteger('frameBytesMax', options.frameBytesMax, peerTransportDefaults.frameBytesMax),
      socketBufferedBytesMax: positiveInteger('socketBufferedBytesMax', options.socketBufferedBytesMax, peerTransportDefaults.socketBufferedBytesMax),
      reconnectBaseMs: positiveInteger('reconnectBaseMs', options.reconnectBaseMs, peerTransportDefaults.reconnectBaseMs),
      reconnectMaxMs: positiveInteger('reconnectMaxMs', options.reconnectMaxMs, peerTransportDefaults.reconnectMaxMs),
      reconnectRefusedMaxMs: positiveInteger('reconnectRefusedMaxMs', options.reconnectRefusedMaxMs, peerTransportDefaults.reconnectRefusedMaxMs),
      reverseDialDelayMs: integerSetting('reverseDialDelayMs', options.reverseDialDelayMs, peerTransportDefaults.reverseDialDelayMs, 0),
      handshakeTimeoutMs: positiveInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, peerTransportDefaults.handshakeTimeoutMs),
      connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs, peerTransportDefaults.connectTimeoutMs),
      keepaliveIntervalMs: positiveInteger('keepaliveIntervalMs', options.keepaliveIntervalMs, peerTransportDefaults.keepaliveIntervalMs),
      closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, peerTransportDefaults.closeTimeoutMs),
    };
    if (!validNodeId(options.selfId)) throw new ServerError('CONFIG_INVALID', 'peer transport: selfId must be a positive integer');
    if (options.clusterId.length === 0) throw new ServerError('CONFIG_INVALID', 'peer transport: clusterId must not be empty');
    if (settings.reconnectMaxMs < settings.reconnectBaseMs || settings.reconnectRefusedMaxMs < settings.reconnectBaseMs) {
      throw new ServerError('CONFIG_INVALID', 'peer transport: reconnectMaxMs and reconnectRefusedMaxMs must be at least reconnectBaseMs');
    }

    // Only WebSocket upgrades belong on the peer port.
    const upgradeRequired = (_req: IncomingMessage, res: ServerResponse): void => void res.writeHead(426, { connection: 'close' }).end();
    const tls = options.tls;
    let server: Server;
    if (tls === undefined) server = createServer(upgradeRequired);
    else {
      const https = createHttpsServer({ ...tls.contextOptions(), requestCert: true, rejectUnauthorized: true }, upgradeRequired);
      tls.follow(https);
      // A certificate of the cluster's CA that is not a member's (a client's) gets no further.
      https.on('secureConnection', (socket: TLSSocket) => {
        if (isMemberCertificate(socket)) return;
        const log = (options.logger ?? silentLogger()).child({ component: 'transport' });
        log.warn({ remote: socket.remoteAddress, subject: socket.getPeerCertificate().subject?.CN }, 'peer certificate is not a member certificate');
        socket.destroy();
      });
      server = https as unknown as Server;
    }
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
      const queueMax = link.socket === null ? this.settings.disconnectedQueueMessagesMax : this.settings.sendQueueMessagesMax;
      const bytesMax = link.socket === null ? Math.min(this.settings.disconnectedQueueBytesMax, this.settings.sendQueueBytesMax) : this.settings.sendQueueBytesMax;
      if (link.queue.length >= queueMax || link.queuedBytes + bytes > bytesMax) {
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
        // A peer that is down overflows its short queue on every heartbeat: that is expected, not news.
        const level = link.socket === null ? 'debug' : 'warn';
        this.log[level]({ peer: link.id, queuedMessages: link.queue.length, queuedBytes: link.queuedBytes }, 'send queue full, messages dropped');
        this.reportUnreachable(link);
      }
    }
    this.scheduleFlush();
  }

  /**
   * Sends an opaque payload to `to` on its open connection, ahead of any queued Raft messages.
   * Returns false, sending nothing, when there is no open connection: the caller decides whether
   * to wait or fail (a Raft message may be dropped and retransmitted; a forwarded request may not).
   */
  sendRpc(to: NodeId, data: Uint8Array): boolean {
    const ws = this.links.get(to)?.socket;
    if (this.closing !== null || ws === null || ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    const frame = encodePeerFrame({ kind: 'rpc', data });
    if (frame.length > this.settings.frameBytesMax) return false;
    corkThisTurn(ws);
    ws.send(frame, { binary: true });
    return true;
  }

  /**
   * Membership changed: dial new members, drop removed ones (and refuse them from now on, unless
   * `acceptPeer` still admits them: then they are kept as admitted peers, without an address).
   */
  setPeers(peers: ReadonlyMap<NodeId, PeerAddress>): void {
    if (this.closing !== null) return;
    for (const link of [...this.links.values()]) {
      if (peers.has(link.id)) continue;
      if (!this.admits(link.id)) this.removeLink(link, 'member removed');
      else if (link.listed) this.unlist(link);
    }
    for (const [id, address] of peers) {
      if (id === this.options.selfId || !validNodeId(id)) {
        this.log.warn({ peer: id }, 'peer ignored');
        continue;
      }
      const link = this.links.get(id);
      if (link === undefined) {
        this.addLink(id, address);
      } else if (!link.listed || link.address === null) {
        this.log.info({ peer: id, address }, 'admitted peer listed');
        link.listed = true;
        link.address = address;
        this.dialSoon(link);
      } else if (link.address.host !== address.host || link.address.port !== address.port) {
        this.log.info({ peer: id, address }, 'peer address changed');
        link.address = address;
        link.attempt = 0;
        link.refused = false;
        // Redial at the new address once the old sockets are gone (their close handlers schedule
        // it). A connection the peer dialed does not depend on its address and stays.
        link.dialing?.close(1000, 'address changed');
        if (link.socket !== null && link.socketDialedBy === this.options.selfId) link.socket.close(1000, 'address changed');
      }
    }
  }

  stats(): readonly PeerStats[] {
    return [...this.links.values()].map((link) => ({
      peer: link.id,
      connected: link.socket !== null,
      dialedBy: link.socket === null ? null : link.socketDialedBy,
      listed: link.listed,
      connections: link.connections,
      sockets: link.sockets.size,
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
      if (link.dialTimer !== null) clearTimeout(link.dialTimer);
      link.dialTimer = null;
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

  private addLink(id: NodeId, address: PeerAddress | null): PeerLink {
    const link: PeerLink = {
      id,
      address,
      listed: address !== null,
      socket: null,
      socketDialedBy: 0,
      dialing: null,
      sockets: new Set(),
      dialTimer: null,
      attempt: 0,
      refused: false,
      disconnectedAtMs: performance.now(),
      unansweredPings: 0,
      queue: [],
      queuedBytes: 0,
      droppedMessages: 0,
      connections: 0,
      removed: false,
    };
    this.links.set(id, link);
    this.dialSoon(link);
    return link;
  }

  /** A peer just became dialable: the lower id dials at once, the higher id waits (see scheduleDial). */
  private dialSoon(link: PeerLink): void {
    if (this.options.selfId < link.id || this.settings.reverseDialDelayMs === 0) this.dial(link);
    else this.scheduleDial(link);
  }

  private removeLink(link: PeerLink, reason: string): void {
    this.log.info({ peer: link.id, reason }, 'peer removed');
    link.removed = true;
    this.links.delete(link.id);
    if (link.dialTimer !== null) clearTimeout(link.dialTimer);
    link.dialTimer = null;
    link.queue = [];
    link.queuedBytes = 0;
    link.dialing?.close(peerCloseCodes.memberRemoved, 'member removed');
    link.socket?.close(peerCloseCodes.memberRemoved, 'member removed');
  }

  /** No longer in `peers` but still admitted: keep the connection and the queue, stop dialing. */
  private unlist(link: PeerLink): void {
    if (this.admittedCount() >= admittedPeersMax) {
      this.removeLink(link, 'too many admitted peers');
      return;
    }
    this.log.info({ peer: link.id }, 'peer unlisted, still admitted');
    link.listed = false;
    link.address = null;
    if (link.dialTimer !== null) clearTimeout(link.dialTimer);
    link.dialTimer = null;
    link.dialing?.close(1000, 'member unlisted');
  }

  /** `acceptPeer` for an id not in `peers`; a throwing callback admits no one. */
  private admits(id: NodeId): boolean {
    const acceptPeer = this.options.acceptPeer;
    if (acceptPeer === undefined || id === this.options.selfId || !validNodeId(id)) return false;
    try {
      return acceptPeer(id) === true;
    } catch (err) {
      this.log.error({ peer: id, err }, 'acceptPeer failed');
      return false;
    }
  }

  private admittedCount(): number {
    let count = 0;
    for (const link of this.links.values()) if (!link.listed) count += 1;
    return count;
  }

  /** A link for a newly admitted peer, forgetting the longest-idle one at the bound; null if none is idle. */
  private addAdmittedLink(id: NodeId): PeerLink | null {
    if (this.admittedCount() >= admittedPeersMax) {
      let idle: PeerLink | null = null;
      for (const link of this.links.values()) {
        if (link.listed || link.sockets.size > 0) continue;
        if (idle === null || link.disconnectedAtMs < idle.disconnectedAtMs) idle = link;
      }
      if (idle === null) return null;
      this.removeLink(idle, 'too many admitted peers');
    }
    this.log.info({ peer: id }, 'peer admitted');
    return this.addLink(id, null);
  }

  // ---- dialing ----

  private dial(link: PeerLink): void {
    if (this.closing !== null || link.removed || link.address === null || link.dialing !== null || link.socket !== null) return;
    const ws = new WebSocket(wsUrl(link.address, this.options.tls !== undefined), {
      perMessageDeflate: false,
      maxPayload: this.settings.frameBytesMax,
      handshakeTimeout: this.settings.handshakeTimeoutMs,
      followRedirects: false,
      createConnection: ((options: { host?: string | null; port?: number | string | null }) => this.connectWithin(options)) as typeof createConnection,
    });
    link.dialing = ws;
    link.sockets.add(ws);
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
      if (this.invalidated.has(ws)) return;
      const welcome = isBinary ? decodeWelcome(toBytes(data)) : { ok: false as const, reason: 'text frame' };
      if (!welcome.ok) {
        this.refuseFrame(ws, { peer: link.id, reason: welcome.reason });
        return;
      }
      welcomed = true;
      clearTimeout(deadline);
      if (link.dialing === ws) link.dialing = null;
      link.attempt = 0;
      this.adopt(link, ws, this.options.selfId);
    });
    ws.on('pong', () => {
      if (link.socket === ws) link.unansweredPings = 0;
    });
    ws.on('error', (err) => this.socketError(ws, err, { peer: link.id }));
    ws.on('close', (code, reasonBytes) => {
      clearTimeout(deadline);
      this.sockets.delete(ws);
      link.sockets.delete(ws);
      if (link.dialing === ws) link.dialing = null;
      const reason = reasonBytes.toString();
      this.log.debug({ peer: link.id, dialedBy: this.options.selfId, code, reason }, 'peer connection closed');
      if (!welcomed) {
        // A failed dial counts towards the backoff only while there is no connection.
        if (link.socket === null) link.attempt += 1;
        link.refused = identityRefusals.has(code);
        if (code === peerCloseCodes.duplicateConnection) this.log.info({ peer: link.id, code, reason }, 'peer refused');
        else if (isRefusal(code)) this.log.warn({ peer: link.id, code, reason }, 'peer refused');
      }
      this.disconnected(link, ws, code, reason);
      this.scheduleDial(link);
    });
  }

  /** A TCP connection for a dial, destroyed if it is not established within connectTimeoutMs. */
  private connectWithin(options: { host?: string | null; port?: number | string | null }): Socket {
    // Only host and port: `ws` also passes the HTTP path, which net would take for an IPC path.
    const host = options.host ?? 'localhost';
    const tls = this.options.tls;
    const socket = tls === undefined
      ? createConnection({ host, port: Number(options.port) })
      : tlsConnect({
          host,
          port: Number(options.port),
          secureContext: tls.clientContext(),
          rejectUnauthorized: true,
          // Any member certificate of the cluster's CA will do, whatever address it was dialed at
          // (decision 53); the chain and serverAuth are still verified.
          checkServerIdentity: () => undefined,
        });
    const timer = setTimeout(() => socket.destroy(new Error(`no TCP connection within ${this.settings.connectTimeoutMs} ms`)), this.settings.connectTimeoutMs);
    socket.once('connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  }

  /**
   * Dials again after a backoff, if this node knows the peer's address and has no connection to
   * it. The higher id also waits until the link has been without an active connection for
   * `reverseDialDelayMs`, which gives the lower id's immediate dial the time to win.
   */
  private scheduleDial(link: PeerLink): void {
    if (this.closing !== null || link.removed || link.address === null) return;
    if (link.dialing !== null || link.socket !== null || link.dialTimer !== null) return;
    let delayMs = reconnectDelayMs(
      { baseMs: this.settings.reconnectBaseMs, maxMs: link.refused ? this.settings.reconnectRefusedMaxMs : this.settings.reconnectMaxMs },
      link.attempt,
      Math.random,
    );
    const reverse = this.options.selfId > link.id;
    if (reverse) {
      const quietMs = performance.now() - link.disconnectedAtMs;
      delayMs = Math.max(delayMs, Math.ceil(this.settings.reverseDialDelayMs - quietMs));
    }
    this.log.debug({ peer: link.id, delayMs, attempt: link.attempt, reverse, refused: link.refused }, 'peer reconnect scheduled');
    link.dialTimer = setTimeout(() => {
      link.dialTimer = null;
      this.dial(link);
    }, delayMs);
  }

  // ---- accepting ----

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
      // A refused duplicate is the normal end of crossed dials, not a problem.
      if (code === peerCloseCodes.duplicateConnection) this.log.info({ remote, from, code, reason }, 'peer refused');
      else this.log.warn({ remote, from, code, reason }, 'peer refused');
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
        settle();
        this.refuseFrame(ws, { remote, reason: hello.reason });
        return;
      }
      const { version, clusterId, from, to } = hello.value;
      if (version !== peerProtocolVersion) return refuse(peerCloseCodes.unsupportedVersion, 'unsupported version', from);
      if (clusterId !== this.options.clusterId) return refuse(peerCloseCodes.clusterIdMismatch, 'cluster id mismatch', from);
      if (to !== this.options.selfId) return refuse(peerCloseCodes.wrongNode, 'wrong node', from);
      let known = this.links.get(from);
      if (known === undefined || !known.listed) {
        if (!this.admits(from)) return refuse(peerCloseCodes.unknownMember, 'unknown member', from);
        known ??= this.addAdmittedLink(from) ?? undefined;
        if (known === undefined) return refuse(1013, 'too many admitted peers', from);
      }
      // Crossed dials, and ours (the lower id's) is already up: it wins, so this one never starts.
      if (known.socket !== null && known.socketDialedBy === this.options.selfId && this.options.selfId < from) {
        // Unless ours has been silent since our last ping: then the peer, which dials because it
        // has no connection to us, has lost it and ours is half-open. Drop it and dial again now
        // (our dial wins the tie-break) rather than wait for the keepalive to notice.
        if (known.unansweredPings > 0) {
          this.log.warn({ peer: from }, 'silent peer connection dropped');
          known.attempt = 0;
          known.socket.terminate();
        }
        return refuse(peerCloseCodes.duplicateConnection, 'duplicate connection', from);
      }
      settle();
      link = known;
      known.sockets.add(ws);
      ws.send(encodePeerFrame({ kind: 'welcome' }));
      this.adopt(known, ws, from);
    });
    ws.on('pong', () => {
      if (link !== null && link.socket === ws) link.unansweredPings = 0;
    });
    ws.on('error', (err) => this.socketError(ws, err, link === null ? { remote } : { remote, peer: link.id }));
    ws.on('close', (code, reasonBytes) => {
      settle();
      this.sockets.delete(ws);
      if (link === null) return;
      link.sockets.delete(ws);
      const reason = reasonBytes.toString();
      this.log.debug({ peer: link.id, dialedBy: link.id, code, reason }, 'peer connection closed');
      this.disconnected(link, ws, code, reason);
    });
  }

  // ---- both directions ----

  /**
   * A connection to `link`'s peer has completed its handshake. If another one is active, one of
   * them goes: the same dialer's newer connection replaces its older one (the peer restarted or
   * lost sight of it); between connections dialed by either side, both sides keep the one the
   * lower id dialed. Both ends apply the same rule, so they agree without talking about it.
   */
  private adopt(link: PeerLink, ws: WebSocket, dialedBy: NodeId): void {
    if (link.removed || this.closing !== null) {
      ws.close(peerCloseCodes.memberRemoved, 'member removed');
      return;
    }
    const current = link.socket;
    if (current !== null && current !== ws) {
      const currentDialedBy = link.socketDialedBy;
      if (currentDialedBy === dialedBy) {
        this.log.info({ peer: link.id, dialedBy }, 'peer connection replaced');
        link.socket = null;
        void this.closeSocket(current, peerCloseCodes.replaced, 'replaced');
      } else if (dialedBy === Math.min(this.options.selfId, link.id)) {
        this.log.info({ peer: link.id, kept: dialedBy, closed: currentDialedBy }, 'duplicate peer connection closed');
        // Unsent messages stay in the queue (flush never takes more than the socket accepts), and
        // what the peer already sent on it is still delivered while it closes (see receive).
        link.socket = null;
        void this.closeSocket(current, peerCloseCodes.duplicateConnection, 'duplicate connection');
      } else {
        this.log.info({ peer: link.id, kept: currentDialedBy, closed: dialedBy }, 'duplicate peer connection closed');
        void this.closeSocket(ws, peerCloseCodes.duplicateConnection, 'duplicate connection');
        return;
      }
    }
    link.socket = ws;
    link.socketDialedBy = dialedBy;
    link.unansweredPings = 0;
    link.connections += 1;
    // The peer is alive, whichever side dialed: its next loss is redialed without a backoff.
    link.attempt = 0;
    link.refused = false;
    if (link.dialTimer !== null) clearTimeout(link.dialTimer);
    link.dialTimer = null;
    this.log.info({ peer: link.id, dialedBy, queuedMessages: link.queue.length }, 'peer connected');
    this.flush(link);
    try {
      this.options.onPeerConnected?.(link.id);
    } catch (err) {
      this.log.error({ peer: link.id, err }, 'connect handler failed');
    }
  }

  private disconnected(link: PeerLink, ws: WebSocket, code: number, reason: string): void {
    if (link.socket !== ws) return;
    link.socket = null;
    link.disconnectedAtMs = performance.now();
    this.log.info({ peer: link.id, code, reason }, 'peer disconnected');
    if (link.queue.length > 0 || ws.bufferedAmount > 0) this.reportUnreachable(link);
    try {
      this.options.onPeerDisconnected?.(link.id);
    } catch (err) {
      this.log.error({ peer: link.id, err }, 'disconnect handler failed');
    }
    this.scheduleDial(link);
  }

  /**
   * Frames from any authenticated connection of the peer are delivered, including one that is
   * closing because it lost a tie-break or was replaced: the peer sent them before it learned
   * that, and dropping them would lose messages for nothing (they are validated all the same).
   */
  private receive(link: PeerLink, ws: WebSocket, data: RawData, isBinary: boolean): void {
    if (link.removed || this.closing !== null || this.invalidated.has(ws)) return;
    if (link.socket === ws) link.unansweredPings = 0;
    const decoded = isBinary
      ? decodeAfterHandshake(toBytes(data), { from: link.id, to: this.options.selfId })
      : { ok: false as const, reason: 'text frame' };
    if (!decoded.ok) {
      this.refuseFrame(ws, { peer: link.id, reason: decoded.reason });
      return;
    }
    const frame = decoded.value;
    try {
      if (frame.kind === 'rpc') this.options.onRpc?.(link.id, frame.data);
      else if (frame.msgs.length > 0) this.options.onMessages([...frame.msgs]);
    } catch (err) {
      this.log.error({ peer: link.id, err }, 'message handler failed');
    }
  }

  /**
   * Closes a connection that sent an invalid frame, and reads nothing more from it: frames the peer
   * sent behind it (already received, and read while the close is under way) come from a peer
   * that does not speak the protocol, or from a stream that lost its framing.
   */
  private refuseFrame(ws: WebSocket, fields: Record<string, unknown>): void {
    this.log.warn(fields, 'invalid frame');
    this.invalidated.add(ws);
    ws.close(peerCloseCodes.invalidFrame, 'invalid frame');
  }

  /**
   * A socket error. One that `ws` raises for a peer breaking the WebSocket protocol (a frame over
   * frameBytesMax, broken framing: it closes with 1009 or 1002) is an invalid frame like any
   * other, and logged as one; the rest (resets, refused dials) are the network's.
   */
  private socketError(ws: WebSocket, err: Error, fields: Record<string, unknown>): void {
    const wsError = (err as { code?: unknown }).code;
    if (typeof wsError === 'string' && wsError.startsWith('WS_ERR_')) {
      this.invalidated.add(ws);
      this.log.warn({ ...fields, reason: err.message, wsError }, 'invalid frame');
    } else {
      this.log.debug({ ...fields, err }, 'peer connection error');
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
    const now = performance.now();
    const stalled = now - this.lastKeepaliveMs > this.settings.keepaliveIntervalMs * keepaliveLateIntervals;
    this.lastKeepaliveMs = now;
    for (const link of this.links.values()) {
      const ws = link.socket;
      if (ws === null) continue;
      // After our own stall, what the peers sent meanwhile is still unread (timers run before
      // I/O): ping again and judge at the next round.
      if (link.unansweredPings >= keepalivePingsUnansweredMax && !stalled) {
        // Half-open or partitioned: nothing heard for that many intervals after a ping.
        this.log.warn({ peer: link.id }, 'peer keepalive timeout');
        ws.terminate();
        continue;
      }
      link.unansweredPings += 1;
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
