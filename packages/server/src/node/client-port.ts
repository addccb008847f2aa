import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { HostPort } from '../config/host-port.js';
import { serverErrorCatalogue } from '../errors.js';
import type { TlsCredentials } from '../tls/tls-credentials.js';

export interface ClientPortOptions {
  /**
   * HTTPS (and WSS) with these credentials. A client may present a certificate (it is checked
   * against the CA: `verifiedClientName`); one without is let in too.
   */
  readonly tls?: TlsCredentials;
  /** Which request paths this port answers; the others get 404 `NOT_FOUND` (default: all). */
  readonly serves?: (path: string) => boolean;
}

/** The admin routes, which `adminListen` moves off the client port. */
export function isAdminPath(path: string): boolean {
  return path === '/admin' || path.startsWith('/admin/') || path.startsWith('/admin?');
}

/**
 * The client port: one HTTP server for the clients' WebSocket upgrades (the gateway) and for HTTP
 * requests (the admin API, the znode routes). It listens as soon as the member can serve its
 * clients. The HTTP routes are loaded when the first HTTP request arrives, which waits for them:
 * loading fastify and compiling its routes takes about 0.4 s of the event loop, which a restarted
 * member would otherwise spend before it answers its WebSocket clients and its peers.
 */
export class ClientPort {
  /** An HTTPS server when the port has TLS credentials (typed as the HTTP server it extends). */
  readonly server: Server;
  /** Every socket of the port (HTTP and WebSocket), to cut when HTTP will not close. */
  readonly sockets = new Set<Socket>();
  #route: RequestListener | null = null;
  #held: [IncomingMessage, ServerResponse][] = [];
  #loading = false;
  #closing = false;

  /**
   * `loadRoutes` is called once, at the first HTTP request, and is to call `route`; if it fails,
   * the requests that waited are answered `INTERNAL` and the next request calls it again.
   */
  constructor(
    private readonly loadRoutes: () => Promise<void>,
    options: ClientPortOptions = {},
  ) {
    const { tls, serves } = options;
    if (tls === undefined) this.server = createServer();
    else {
      const https = createHttpsServer({ ...tls.contextOptions(), requestCert: true, rejectUnauthorized: false });
      tls.follow(https);
      // node:https's server is node:http's with TLS underneath: the same requests, upgrades and close.
      this.server = https as unknown as Server;
    }
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#closing) refuse(res, 'SHUTTING_DOWN');
      else if (serves !== undefined && !serves(req.url ?? '/')) notFound(req, res);
      else if (this.#route !== null) this.#route(req, res);
      else {
        this.#held.push([req, res]);
        if (!this.#loading) this.#load();
      }
    });
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on `at` (port 0: any free port) and resolves with the address bound. */
  listen(at: HostPort): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: at.host, port: at.port }, () => {
        this.server.off('error', reject);
        resolve({ host: at.host, port: (this.server.address() as { port: number }).port });
      });
    });
  }

  #load(): void {
    this.#loading = true;
    this.loadRoutes().catch(() => {
      this.#loading = false;
      for (const [, res] of this.#held) refuse(res, 'INTERNAL');
      this.#held = [];
    });
  }

  /** From now on HTTP requests go to `handler`, those that waited first, in arrival order. */
  route(handler: RequestListener): void {
    this.#route = handler;
    const held = this.#held;
    this.#held = [];
    for (const [req, res] of held) handler(req, res);
  }

  /**
   * Stops taking connections and requests (a request still waiting for the routes is answered
   * `SHUTTING_DOWN`) and resolves once every connection has ended; idle keep-alive connections
   * are closed now, the others when their request is answered (or when `sockets` are cut).
   */
  close(): Promise<void> {
    this.#closing = true;
    for (const [, res] of this.#held) refuse(res, 'SHUTTING_DOWN');
    this.#held = [];
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    return closed;
  }
}

/** The answer of the HTTP routes to an unknown route (admin-app.ts), without loading them. */
function notFound(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: `no route ${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0] ?? ''}` } }));
}

function refuse(res: ServerResponse, code: 'SHUTTING_DOWN' | 'INTERNAL'): void {
  const [status, message] = code === 'SHUTTING_DOWN' ? [serverErrorCatalogue.SHUTTING_DOWN.status, serverErrorCatalogue.SHUTTING_DOWN.message] : [500, 'the HTTP routes could not be loaded'];
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(JSON.stringify({ error: { code, message } }));
}
