/**
 * The client port's WebSocket side (docs/design.md): upgrades on `webSocketPath` offering the
 * `vigil.v1` subprotocol become ClientConnections; admin HTTP keeps the rest of the port. The
 * gateway owns what connections share: the session → connection map, the watch hub, and the feed
 * of applied entries that drives watch events and session endings.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { frameBytesMax, webSocketPath, webSocketSubprotocol, type ErrorCode } from '@vigil/protocol';
import type { Applied } from '@vigil/store';
import { ClientConnection, type ClientChannel, type GatewayServices } from './client-connection.js';
import { WebSocketChannel } from './web-socket-channel.js';
import { WatchHub } from './watch-hub.js';
import { clientAddress } from '../security/authenticator.js';
import { certificateUser } from '../security/client-certificate.js';

export type GatewayOptions = Omit<GatewayServices, 'attach' | 'detach' | 'watches' | 'untilLeaderContact' | 'sessionSlots'> & {
  /** How long a resume waits for this member to be in touch with a leader before NO_LEADER. */
  readonly leaderWaitMs: number;
  /** Sessions served at once (connections past their hello); more are refused TOO_MANY_SESSIONS. */
  readonly sessionsMax: number;
};

export class ClientGateway {
  readonly watches = new WatchHub();
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<ClientConnection>();
  private readonly bySession = new Map<number, ClientConnection>();
  private readonly services: GatewayServices;
  /** Resumes waiting at the door for this member to be in touch with a leader again. */
  private readonly contactWaiters = new Set<(inContact: boolean) => void>();
  private closed = false;
  /** Connections past their hello: the slots of GatewayServices.sessionSlots taken. */
  private sessionsHeld = 0;

  constructor(options: GatewayOptions) {
    this.services = {
      ...options,
      watches: this.watches,
      sessionSlots: {
        max: options.sessionsMax,
        take: () => {
          if (this.sessionsHeld >= options.sessionsMax) return false;
          this.sessionsHeld++;
          return true;
        },
        release: () => {
          this.sessionsHeld--;
        },
      },
      attach: (sessionId, connection) => {
        const before = this.bySession.get(sessionId);
        this.bySession.set(sessionId, connection);
        if (before !== undefined && before !== connection) before.moved();
      },
      detach: (sessionId, connection) => {
        if (this.bySession.get(sessionId) === connection) this.bySession.delete(sessionId);
      },
      untilLeaderContact: () =>
        new Promise<boolean>((resolve) => {
          if (this.closed) return resolve(false);
          const timer = setTimeout(() => done(false), options.leaderWaitMs);
          const done = (inContact: boolean): void => {
            clearTimeout(timer);
            this.contactWaiters.delete(done);
            resolve(inContact);
          };
          this.contactWaiters.add(done);
        }),
    };
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: frameBytesMax,
      perMessageDeflate: false,
      handleProtocols: (offered) => (offered.has(webSocketSubprotocol) ? webSocketSubprotocol : false),
    });
  }

  /** Takes over WebSocket upgrades of the HTTP server (fastify does not use them). */
  listen(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(req, socket, head));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  get sessionCount(): number {
    return this.bySession.size;
  }

  /**
   * Entries just applied in the store's memory (the store calls this before any read can see
   * them): fire watches, then end the connection of a session that ended.
   */
  onApplied(applied: readonly Applied[]): void {
    for (const a of applied) {
      if (a.events.length > 0) this.watches.dispatch(a.events);
      const value = a.result.ok ? a.result.value : null;
      if (value?.type === 'sessionExpire' || value?.type === 'sessionClose') this.bySession.get(value.sessionId)?.sessionEnded();
    }
  }

  /** The driver is about to apply a session's write: what to run first (ClientConnection.pointBeforeWrite). */
  pointBeforeWrite(sessionId: number, seq: number): (() => void) | null {
    return this.bySession.get(sessionId)?.pointBeforeWrite(seq) ?? null;
  }

  /**
   * The store is about to jump to a snapshot, which may hold writes that reads queued before them
   * must not see: those reads cannot be placed, so their connections end first (and again below).
   */
  onSnapshotInstalling(): void {
    this.dropAll('UNAVAILABLE', 'this server is installing a snapshot; reconnect and resume');
  }

  /** The store jumped to a snapshot: events before it are unknown, so watchers must resume. */
  onSnapshotInstalled(): void {
    this.dropAll('UNAVAILABLE', 'this server installed a snapshot; reconnect and resume');
  }

  /** Ends every client connection (clients resume their sessions elsewhere). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const done of [...this.contactWaiters]) done(false);
    this.dropAll('SHUTTING_DOWN', 'this server is stopping');
    this.wss.close();
  }

  /** This member lost touch with the leader (or, leading, with its majority): its clients resume elsewhere. */
  leaderContactLost(why: string): void {
    if (this.connections.size === 0) return;
    this.services.logger.info({ why, connections: this.connections.size }, 'lost touch with the leader: client connections ended so that they resume on another member');
    this.dropAll('NO_LEADER', `this member lost touch with the leader (${why}); resume the session on another member`);
  }

  /** This member is in touch with a leader (again): pings and resumes waiting at the door go ahead. */
  leaderContactRegained(): void {
    for (const done of [...this.contactWaiters]) done(true);
  }

  private dropAll(code: ErrorCode, message: string): void {
    for (const c of [...this.connections]) c.fail(code, message);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = (req.url ?? '').split('?')[0];
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (this.closed || path !== webSocketPath || !offered.includes(webSocketSubprotocol)) {
      const status = this.closed ? '503 Service Unavailable' : path !== webSocketPath ? '404 Not Found' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = this.accept(new WebSocketChannel(ws), req.socket.remoteAddress, req.socket.remotePort, { certificateName: certificateUser(req.socket) });
      ws.on('close', () => this.connections.delete(connection));
    });
  }

  /**
   * A client connection over `channel` (a WebSocket, or another protocol's socket: the ZooKeeper
   * listener's), sharing this gateway's sessions and watches. The caller removes it with
   * `forget` when its socket closes.
   */
  accept(channel: ClientChannel, remoteAddress: string | undefined, remotePort: number | undefined, options: { readonly certificateName?: string | null; readonly zookeeper?: boolean } = {}): ClientConnection {
    const remote = `${remoteAddress ?? '?'}:${remotePort ?? 0}`;
    const connection = new ClientConnection(channel, this.services, remote, clientAddress(remoteAddress), options.certificateName ?? null, options.zookeeper ?? false);
    this.connections.add(connection);
    return connection;
  }

  forget(connection: ClientConnection): void {
    this.connections.delete(connection);
  }

  /** Whether the gateway stopped taking connections. */
  get isClosed(): boolean {
    return this.closed;
  }
}
