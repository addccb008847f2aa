import type { IncomingMessage, RequestListener, Server } from 'node:http';
import { Readable } from 'node:stream';
import { fastify, LogController, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { parseHostPort } from '../config/host-port.js';
import { isServerError, ServerError, type ServerErrorCode } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { encodeBackupHeader } from '../storage/backup-file.js';
import type { AdminNodePort, NodeStatus } from './admin-node-port.js';
import type { Metrics } from './metrics.js';
import { roles as allRoles, isUserName, type Role } from '@vigil/store';
import { authSecretBytesMax } from '@vigil/protocol';
import { superuserName, type Authenticator } from '../security/authenticator.js';
import { httpIdentity } from '../security/http-identity.js';

/**
 * Default body limit of the whole app. The node registers its other HTTP routes on this app, so
 * the default matches the largest request frame (docs/design.md), not the admin routes' needs.
 */
export const httpBodyBytesMax = 2 * 1024 * 1024;
/** Admin requests are a few small JSON fields; their routes refuse anything larger. */
export const adminBodyBytesMax = 16 * 1024;
/** Snapshot downloads served at once; each holds a file open and streams it. */
export const snapshotDownloadsMax = 2;
/** A download whose client reads nothing for this long is dropped. */
export const snapshotDownloadIdleMs = 60_000;
/** Host names are at most 253 bytes; with brackets and a port this is generous. */
const addressBytesMax = 300;

/** The codes an HTTP error body may carry: the server's catalogue plus the two HTTP-only ones. */
export type HttpErrorCode = ServerErrorCode | 'NOT_FOUND' | 'INTERNAL';

export interface HttpErrorBody {
  readonly error: { readonly code: HttpErrorCode; readonly message: string; readonly details?: Readonly<Record<string, unknown>> };
}

export interface AdminAppOptions {
  readonly node: AdminNodePort;
  readonly metrics: Metrics;
  /** Requests that fail unexpectedly are logged here under `err`; silent when absent. */
  readonly logger?: Logger;
  /** The app-wide body limit; admin routes keep their own smaller limit. */
  readonly bodyLimitBytes?: number;
  /**
   * An HTTP server that already exists (the node's client port): the app routes its requests
   * through the handler given to `route` once the app is ready, and does not listen itself.
   */
  readonly server?: { readonly server: Server; route(handler: RequestListener): void };
  /**
   * With `--auth`: who a request comes from (HTTP Basic or a client certificate) and which admin
   * roles it holds. Absent: every route is open, as without `--auth`.
   */
  readonly authenticator?: Authenticator;
}

const memberIdSchema = { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER } as const;
const idParamsSchema = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: memberIdSchema },
} as const;
const addMemberBodySchema = {
  type: 'object',
  required: ['id', 'peerAddress'],
  additionalProperties: false,
  properties: {
    id: memberIdSchema,
    peerAddress: { type: 'string', minLength: 1, maxLength: addressBytesMax },
    clientAddress: { type: 'string', minLength: 1, maxLength: addressBytesMax },
  },
} as const;
const userParamsSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;
const putUserBodySchema = {
  type: 'object',
  required: ['secret', 'roles'],
  additionalProperties: false,
  properties: {
    secret: { type: 'string', minLength: 1, maxLength: authSecretBytesMax },
    roles: { type: 'array', maxItems: allRoles.length, uniqueItems: true, items: { type: 'string', enum: [...allRoles] } },
  },
} as const;
const transferBodySchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: { to: memberIdSchema },
} as const;

/**
 * The admin HTTP API: health, status, members, Prometheus metrics and membership / leadership /
 * snapshot operations. Built separately from `listen()` (the node listens on the client port and
 * also routes WebSocket upgrades); tests drive it with `app.inject()`.
 */
export function buildAdminApp(options: AdminAppOptions): FastifyInstance {
  const { node, metrics } = options;
  // On the node's client port: fastify takes the existing server, and routes its requests once ready.
  const existing = options.server;
  let routeTo: RequestListener | undefined;
  const serverFactory =
    existing === undefined
      ? undefined
      : (handler: RequestListener): Server => {
          routeTo = handler;
          return existing.server;
        };
  const app = fastify({
    bodyLimit: options.bodyLimitBytes ?? httpBodyBytesMax,
    ...(options.logger === undefined ? { logger: false } : { loggerInstance: options.logger }),
    // Scrapes and probes every few seconds would drown the log; failures are logged below.
    logController: new LogController({ disableRequestLogging: true }),
    // Unknown body fields are an error, not silently dropped (fastify's default removes them).
    ajv: { customOptions: { removeAdditional: false } },
    ...(serverFactory === undefined ? {} : { serverFactory }),
  }) as unknown as FastifyInstance;
  if (existing !== undefined) {
    app.addHook('onReady', (done) => {
      if (routeTo !== undefined) existing.route(routeTo);
      done();
    });
  }

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isServerError(err)) return sendError(reply, err.status, err.code, err.message, err.details);
    if (err.validation !== undefined) return sendError(reply, 400, 'BAD_REQUEST', err.message);
    // fastify's own client errors: malformed JSON, body too large, unsupported media type, …
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      return sendError(reply, err.statusCode, 'BAD_REQUEST', err.message);
    }
    request.log.error({ err, method: request.method, url: request.url }, 'request failed');
    return sendError(reply, 500, 'INTERNAL', 'internal error');
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, 404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`));

  // With --auth: probes and scrapes stay open (an orchestrator's health checks, Prometheus); the
  // state of the cluster needs an identity; each operation needs its role (docs/security.md).
  const authenticator = options.authenticator;
  const needs = (role: Role | 'identity') => async (request: { raw: IncomingMessage }): Promise<void> => {
    if (authenticator === undefined || !authenticator.required) return;
    const identity = await httpIdentity(authenticator, request.raw);
    if (role !== 'identity' && !authenticator.allows(identity, role)) {
      throw new ServerError('NO_AUTH', `${identity.user ?? 'this identity'} lacks the ${role} role (or admin)`);
    }
  };

  app.get('/livez', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('ok'));

  app.get('/readyz', async (_request, reply) => {
    if (node.isReady()) return reply.send({ ready: true });
    return reply.code(503).send({ ready: false, reason: notReadyReason(node) });
  });

  app.get('/status', { preHandler: needs('identity') }, async (): Promise<NodeStatus> => node.status());

  app.get('/members', { preHandler: needs('identity') }, async () => {
    const status = node.status();
    return { leaderId: status.leaderId, members: status.members };
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  app.post<{ Body: { id: number; peerAddress: string; clientAddress?: string } }>(
    '/admin/members',
    { bodyLimit: adminBodyBytesMax, schema: { body: addMemberBodySchema }, preHandler: needs('membership') },
    async (request) => {
      const { id, peerAddress, clientAddress } = request.body;
      checkAddress('peerAddress', peerAddress);
      if (clientAddress !== undefined) checkAddress('clientAddress', clientAddress);
      const input = clientAddress === undefined ? { id, peerAddress } : { id, peerAddress, clientAddress };
      return node.addMember(input);
    },
  );

  app.post<{ Params: { id: number } }>(
    '/admin/members/:id/promote',
    { bodyLimit: adminBodyBytesMax, schema: { params: idParamsSchema }, preHandler: needs('membership') },
    async (request) => node.promoteMember(request.params.id),
  );

  app.delete<{ Params: { id: number } }>(
    '/admin/members/:id',
    { bodyLimit: adminBodyBytesMax, schema: { params: idParamsSchema }, preHandler: needs('membership') },
    async (request) => node.removeMember(request.params.id),
  );

  app.post<{ Body: { to?: number } | null | undefined }>(
    '/admin/leader/transfer',
    { bodyLimit: adminBodyBytesMax, schema: { body: transferBodySchema }, preHandler: needs('leadership') },
    async (request) => {
      const to = request.body?.to;
      return to === undefined ? node.transferLeadership() : node.transferLeadership(to);
    },
  );

  app.post('/admin/snapshot', { bodyLimit: adminBodyBytesMax, preHandler: needs('snapshots') }, async () => node.snapshotNow());

  // Users: the secret is hashed by the member that takes the request; only its hash is replicated.
  app.get('/admin/users', { preHandler: needs('users') }, async () => ({ users: node.users() }));
  app.put<{ Params: { name: string }; Body: { secret: string; roles: Role[] } }>(
    '/admin/users/:name',
    { bodyLimit: adminBodyBytesMax, schema: { params: userParamsSchema, body: putUserBodySchema }, preHandler: needs('users') },
    async (request) => {
      const { name } = request.params;
      if (!isUserName(name)) throw new ServerError('BAD_REQUEST', `user name ${JSON.stringify(name)}: letters, digits, '_', '.', '@' or '-', 1–64, not starting with '.', '@' or '-'`);
      if (name === superuserName) throw new ServerError('BAD_REQUEST', `${superuserName} is the superuser, set by each member's --superuser-hash`);
      return { name, ...(await node.putUser(name, request.body.secret, request.body.roles)) };
    },
  );
  app.delete<{ Params: { name: string } }>(
    '/admin/users/:name',
    { bodyLimit: adminBodyBytesMax, schema: { params: userParamsSchema }, preHandler: needs('users') },
    async (request, reply) => {
      // A name no user can have is not proposed: the store would refuse it all the same.
      if (!isUserName(request.params.name)) return sendError(reply, 404, 'NOT_FOUND', `no user ${request.params.name}`);
      const { deleted } = await node.deleteUser(request.params.name);
      if (!deleted) return sendError(reply, 404, 'NOT_FOUND', `no user ${request.params.name}`);
      return {};
    },
  );

  // The newest snapshot as a backup file (storage/backup-file.ts): streamed from the open file,
  // a bounded number at a time, dropped when the client stalls, and cut off at shutdown.
  const downloads = new Set<Readable>();
  app.addHook('preClose', async () => {
    for (const d of downloads) d.destroy();
  });
  app.get('/admin/snapshot', { preHandler: needs('snapshots') }, async (_request, reply) => {
    if (downloads.size >= snapshotDownloadsMax) {
      throw new ServerError('BUSY', `${snapshotDownloadsMax} snapshot downloads are already running; try again later`);
    }
    const snapshot = await node.openSnapshot();
    if (snapshot === null) return sendError(reply, 404, 'NOT_FOUND', 'this node has no snapshot yet: POST /admin/snapshot takes one');
    let head: Buffer;
    try {
      head = encodeBackupHeader(snapshot.header);
    } catch (err) {
      snapshot.body.destroy();
      throw err;
    }
    const stream = Readable.from(backupBytes(head, snapshot.body), { objectMode: false });
    downloads.add(stream);
    stream.once('close', () => {
      downloads.delete(stream);
      snapshot.body.destroy();
    });
    reply.raw.setTimeout(snapshotDownloadIdleMs, () => stream.destroy());
    const { clusterId, index } = snapshot.header;
    return reply
      .type('application/octet-stream')
      .header('content-length', head.length + snapshot.header.snapshotBytes)
      .header('content-disposition', `attachment; filename="vigil-${clusterId}-${index}.backup"`)
      .header('x-vigil-snapshot-index', String(index))
      .header('x-vigil-snapshot-term', String(snapshot.header.term))
      .send(stream);
  });

  return app;
}

async function* backupBytes(head: Uint8Array, body: Readable): AsyncGenerator<Uint8Array> {
  yield head;
  for await (const chunk of body) yield chunk as Uint8Array;
}

function sendError(
  reply: FastifyReply,
  status: number,
  code: HttpErrorCode,
  message: string,
  details?: Readonly<Record<string, unknown>>,
): FastifyReply {
  const body: HttpErrorBody = { error: details === undefined ? { code, message } : { code, message, details } };
  return reply.code(status).send(body);
}

function checkAddress(field: string, text: string): void {
  const parsed = parseHostPort(text);
  if (typeof parsed === 'string') throw new ServerError('BAD_REQUEST', `${field}: ${parsed}`, { field });
}

/** Why the node is not ready, as far as its status tells. */
function notReadyReason(node: AdminNodePort): string {
  let status: NodeStatus;
  try {
    status = node.status();
  } catch (err) {
    return isServerError(err) ? err.message : 'status unavailable';
  }
  if (status.leaderId === null) return 'no leader is known';
  if (status.appliedIndex < status.commitIndex) {
    return `catching up: applied ${status.appliedIndex} of ${status.commitIndex} committed entries`;
  }
  return 'catching up with the log committed before start';
}
