import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HostPort } from '../config/host-port.js';
import { serverErrorCatalogue } from '../errors.js';

/**
 * The client port: one HTTP server for the clients' WebSocket upgrades (the gateway) and for HTTP
 * requests (the admin API, the znode routes). It listens as soon as the member can serve its
 * clients. The HTTP routes are loaded when the first HTTP request arrives, which waits for them:
 * loading fastify and compiling its routes takes about 0.4 s of the event loop, which a restarted
 * member would otherwise spend before it answers its WebSocket clients and its peers.
 */
export class ClientPort {
  readonly server: Server = createServer();
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
  constructor(private readonly loadRoutes: () => Promise<void>) {
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#closing) refuse(res, 'SHUTTING_DOWN');
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

function refuse(res: ServerResponse, code: 'SHUTTING_DOWN' | 'INTERNAL'): void {
  const [status, message] = code === 'SHUTTING_DOWN' ? [serverErrorCatalogue.SHUTTING_DOWN.status, serverErrorCatalogue.SHUTTING_DOWN.message] : [500, 'the HTTP routes could not be loaded'];
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(JSON.stringify({ error: { code, message } }));
}
