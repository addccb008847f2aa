import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HostPort } from '../config/host-port.js';
import { serverErrorCatalogue } from '../errors.js';

/**
 * The client port: one HTTP server for the clients' WebSocket upgrades (the gateway) and for HTTP
 * requests (the admin API, the znode routes). It listens as soon as the member can serve its
 * clients; the HTTP routes are compiled after that (fastify and its validators take about 0.3 s,
 * time a restarted member would otherwise spend away from its clients), and an HTTP request that
 * arrives before them waits for them.
 */
export class ClientPort {
  readonly server: Server = createServer();
  /** Every socket of the port (HTTP and WebSocket), to cut when HTTP will not close. */
  readonly sockets = new Set<Socket>();
  #route: RequestListener | null = null;
  #held: [IncomingMessage, ServerResponse][] = [];
  #closing = false;

  constructor() {
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#closing) refuse(res);
      else if (this.#route === null) this.#held.push([req, res]);
      else this.#route(req, res);
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
    for (const [, res] of this.#held) refuse(res);
    this.#held = [];
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    return closed;
  }
}

function refuse(res: ServerResponse): void {
  const { status, message } = serverErrorCatalogue.SHUTTING_DOWN;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
  res.end(JSON.stringify({ error: { code: 'SHUTTING_DOWN', message } }));
}
