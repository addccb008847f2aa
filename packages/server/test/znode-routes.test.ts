import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Command } from '@vigil/store';
import { buildAdminApp, createMetrics, type AdminNodePort } from '../src/admin/index.js';
import { registerZnodeRoutes, type ZnodeApiPort } from '../src/http-api/znode-routes.js';

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

/** The znode routes over a port that records what it is asked to propose and applies nothing. */
function build(): { app: ReturnType<typeof buildAdminApp>; proposed: Command[] } {
  const proposed: Command[] = [];
  const port: ZnodeApiPort = {
    store: {
      get: () => ({ ok: false, error: { code: 'NO_NODE', message: 'no node' } }),
      exists: () => ({ ok: true, value: null }),
      children: () => ({ ok: false, error: { code: 'NO_NODE', message: 'no node' } }),
      appliedIndex: 7,
    },
    propose: (command) => {
      proposed.push(command);
      return Promise.resolve({ index: 8, result: { ok: true, value: { type: 'set', stat: {} } } as never });
    },
    linearizableRead: () => Promise.resolve(7),
    leaderClientAddress: () => null,
    callerOf: () => Promise.resolve(undefined),
  };
  const app = buildAdminApp({ node: {} as AdminNodePort, metrics: createMetrics(new Registry(), { defaultMetrics: false }) });
  registerZnodeRoutes(app, port);
  apps.push(app);
  return { app, proposed };
}

describe('the znode HTTP API', () => {
  it.each([
    ['not base64 at all', 'not base64!!'],
    ['base64url', 'a-b_'],
    ['unpadded', 'eWVz'.slice(0, 3)],
    ['padding in the middle', 'eQ==eWVz'],
    ['whitespace', 'eWVz eWVz'],
  ])('refuses data that is not base64 (%s) as BAD_REQUEST and proposes nothing', async (_case, data) => {
    const { app, proposed } = build();
    for (const [method, body] of [
      ['POST', { data }],
      ['PUT', { data }],
    ] as const) {
      const res = await app.inject({ method, url: '/v1/znodes/a', payload: body });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('base64') } });
    }
    expect(proposed).toEqual([]);
  });

  it.each([
    ['empty', '', []],
    ['one byte', 'eQ==', [0x79]],
    ['two bytes', 'eWU=', [0x79, 0x65]],
    ['three bytes', 'eWVz', [0x79, 0x65, 0x73]],
    ['every alphabet character', '+/+/', [0xfb, 0xff, 0xbf]],
  ])('stores base64 data as its bytes (%s)', async (_case, data, bytes) => {
    const { app, proposed } = build();
    const res = await app.inject({ method: 'PUT', url: '/v1/znodes/a', payload: { data } });
    expect(res.statusCode).toBe(200);
    expect(proposed).toHaveLength(1);
    expect([...(proposed[0] as Extract<Command, { type: 'set' }>).data]).toEqual(bytes);
  });

  it('proposes any int32 expected version, below -1 too (the store answers BAD_VERSION), and refuses one past int32', async () => {
    const { app, proposed } = build();
    for (const version of [-(2 ** 31), -2, 2 ** 31 - 1]) {
      expect((await app.inject({ method: 'PUT', url: '/v1/znodes/a', payload: { data: '', version } })).statusCode).toBe(200);
      expect((await app.inject({ method: 'DELETE', url: `/v1/znodes/a?version=${version}` })).statusCode).toBe(200);
    }
    expect(proposed.map((c) => (c as { version?: number }).version)).toEqual([-(2 ** 31), -(2 ** 31), -2, -2, 2 ** 31 - 1, 2 ** 31 - 1]);
    expect((await app.inject({ method: 'PUT', url: '/v1/znodes/a', payload: { data: '', version: 2 ** 31 } })).statusCode).toBe(400);
    expect((await app.inject({ method: 'DELETE', url: `/v1/znodes/a?version=${-(2 ** 31) - 1}` })).statusCode).toBe(400);
    expect(proposed).toHaveLength(6);
  });
});
