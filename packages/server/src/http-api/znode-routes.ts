import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Caller, Command, CommandResult, CreateMode, OpError, Result, Stat, Store } from '@vigil/store';
import { createModes } from '@vigil/store';
import { ServerError } from '../errors.js';

/**
 * A small JSON-over-HTTP view of the tree (in the spirit of etcd's HTTP gateway): curl-able, and
 * handy for scripts that do not speak the WebSocket protocol. Writes go through Raft; a follower
 * forwards them to the leader (NOT_LEADER, 421, remains only for a leader lost mid-request).
 * Reads are linearizable by default (ReadIndex) or `?consistency=sequential` (this node's state).
 */
export interface ZnodeApiPort {
  readonly store: Pick<Store, 'get' | 'exists' | 'children' | 'appliedIndex'>;
  /** Through the leader, wherever it is (a follower forwards). */
  propose(command: Command, signal: AbortSignal): Promise<{ readonly index: number; readonly result: CommandResult }>;
  linearizableRead(signal: AbortSignal): Promise<number>;
  /** Where the leader serves clients, to put in NOT_LEADER answers. */
  leaderClientAddress(): string | null;
  /**
   * Who a request acts as (HTTP Basic or a client certificate; AUTH_FAILED, 401, if it cannot
   * prove it): what its writes carry and its reads are checked with. Undefined without --auth.
   */
  callerOf(request: IncomingMessage): Promise<Caller | undefined>;
}

const storeErrorStatus: Record<string, number> = {
  NO_NODE: 404,
  NODE_EXISTS: 409,
  BAD_VERSION: 409,
  NOT_EMPTY: 409,
  SESSION_EXPIRED: 410,
  NO_AUTH: 403,
};

const requestTimeoutMs = 10_000;

function pathOf(wildcard: string | undefined): string {
  return `/${wildcard ?? ''}`;
}

/** Standard base64 (RFC 4648, section 4) with its padding: what `Buffer.toString('base64')` writes. */
const base64Text = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of a request's `data`. Node's decoder skips what is not base64 and stops at the first
 * `=`, so `"not base64!!"` would be stored as the bytes of `notbase6`: text that is not base64 is
 * refused instead.
 */
function bytesOf(base64: string | undefined): Uint8Array {
  if (base64 === undefined) return new Uint8Array(0);
  if (!base64Text.test(base64)) throw new ServerError('BAD_REQUEST', 'data must be base64 (RFC 4648: A-Z, a-z, 0-9, + and /, padded with = to a multiple of 4 characters)');
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

function statJson(stat: Stat): Stat {
  return stat;
}

function sendStoreError(reply: FastifyReply, error: OpError): FastifyReply {
  return reply.code(storeErrorStatus[error.code] ?? 400).send({ error });
}

/** ZooKeeper's int: −1 is any version; any other (−2 included) is compared, BAD_VERSION if it differs. */
const expectedVersion = { type: 'integer', minimum: -(2 ** 31), maximum: 2 ** 31 - 1 } as const;

export function registerZnodeRoutes(app: FastifyInstance, port: ZnodeApiPort): void {
  const write = async (request: { raw: IncomingMessage }, reply: FastifyReply, command: Command, status = 200): Promise<FastifyReply> => {
    const caller = await port.callerOf(request.raw);
    let applied: { readonly index: number; readonly result: CommandResult };
    try {
      applied = await port.propose(caller === undefined ? command : ({ ...command, caller } as Command), AbortSignal.timeout(requestTimeoutMs));
    } catch (err) {
      if (err instanceof ServerError && err.code === 'NOT_LEADER') {
        throw new ServerError('NOT_LEADER', err.message, { ...err.details, leaderClientAddress: port.leaderClientAddress() });
      }
      throw err;
    }
    const result = applied.result;
    if (!result.ok) return sendStoreError(reply, result.error);
    return reply.code(status).send({ revision: applied.index, result: result.value });
  };

  const readPoint = async (consistency: string | undefined): Promise<void> => {
    if (consistency === 'sequential') return;
    if (consistency !== undefined && consistency !== 'linearizable') throw new ServerError('BAD_REQUEST', `consistency must be 'linearizable' or 'sequential'`);
    await port.linearizableRead(AbortSignal.timeout(requestTimeoutMs));
  };

  const answer = <T>(reply: FastifyReply, r: Result<T>, body: (v: T) => unknown): FastifyReply =>
    r.ok ? reply.send({ revision: port.store.appliedIndex, ...(body(r.value) as object) }) : sendStoreError(reply, r.error);

  app.get<{ Params: { '*': string }; Querystring: { consistency?: string } }>('/v1/znodes/*', async (req, reply) => {
    const caller = await port.callerOf(req.raw);
    await readPoint(req.query.consistency);
    const path = pathOf(req.params['*']);
    return answer(reply, port.store.get(path, caller), (v) => ({ path, data: Buffer.from(v.data).toString('base64'), stat: statJson(v.stat) }));
  });

  app.get<{ Params: { '*': string }; Querystring: { consistency?: string; after?: string; limit?: number; stats?: boolean } }>(
    '/v1/children/*',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { consistency: { type: 'string' }, after: { type: 'string' }, limit: { type: 'integer', minimum: 1 }, stats: { type: 'boolean' } },
        },
      },
    },
    async (req, reply) => {
      const caller = await port.callerOf(req.raw);
      await readPoint(req.query.consistency);
      const path = pathOf(req.params['*']);
      const q = req.query;
      const page = port.store.children(
        path,
        {
          ...(q.after === undefined ? {} : { after: q.after }),
          ...(q.limit === undefined ? {} : { limit: q.limit }),
          ...(q.stats === undefined ? {} : { withStats: q.stats }),
        },
        caller,
      );
      return answer(reply, page, (v) => ({ path, ...v }));
    },
  );

  app.post<{ Params: { '*': string }; Body: { data?: string; mode?: CreateMode; ttlMs?: number; createParents?: boolean } | undefined }>(
    '/v1/znodes/*',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { data: { type: 'string' }, mode: { type: 'string', enum: [...createModes] }, ttlMs: { type: 'integer', minimum: 1 }, createParents: { type: 'boolean' } },
        },
      },
    },
    async (req, reply) => {
      const b = req.body ?? {};
      const command: Command = {
        type: 'create',
        path: pathOf(req.params['*']),
        data: bytesOf(b.data),
        mode: b.mode ?? 'persistent',
        ...(b.ttlMs === undefined ? {} : { ttlMs: b.ttlMs }),
        ...(b.createParents === undefined ? {} : { createParents: b.createParents }),
      };
      return write(req, reply, command, 201);
    },
  );

  app.put<{ Params: { '*': string }; Body: { data: string; version?: number } }>(
    '/v1/znodes/*',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['data'], properties: { data: { type: 'string' }, version: expectedVersion } } } },
    async (req, reply) => {
      const command: Command = { type: 'set', path: pathOf(req.params['*']), data: bytesOf(req.body.data), ...(req.body.version === undefined ? {} : { version: req.body.version }) };
      return write(req, reply, command);
    },
  );

  app.delete<{ Params: { '*': string }; Querystring: { version?: number } }>(
    '/v1/znodes/*',
    { schema: { querystring: { type: 'object', additionalProperties: false, properties: { version: expectedVersion } } } },
    async (req, reply) => {
      const command: Command = { type: 'delete', path: pathOf(req.params['*']), ...(req.query.version === undefined ? {} : { version: req.query.version }) };
      return write(req, reply, command);
    },
  );
}
