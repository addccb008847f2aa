import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientPort, isAdminPath } from '../src/node/client-port.js';

/** One GET to the port; resolves with the status and body once the answer is whole. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves once the port's server has taken `n` requests (routed or held). */
function requestsSeen(port: ClientPort, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    port.server.on('request', () => {
      if (++seen === n) resolve();
    });
  });
}

describe('the client port', () => {
  let open: ClientPort | undefined;
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });

  it('holds HTTP requests that arrive before the routes, then answers them in arrival order', async () => {
    let loads = 0;
    const port = (open = new ClientPort(() => {
      loads++;
      return Promise.resolve();
    }));
    const { port: number } = await port.listen({ host: '127.0.0.1', port: 0 });
    const seen = requestsSeen(port, 2);
    const first = get(number, '/a');
    const second = get(number, '/b');
    await seen;
    const order: string[] = [];
    port.route((req, res) => {
      order.push(req.url ?? '');
      res.end(`routed ${req.url}`);
    });
    expect(await first).toEqual({ status: 200, body: 'routed /a' });
    expect(await second).toEqual({ status: 200, body: 'routed /b' });
    expect(order).toEqual(['/a', '/b']);
    // Routed at once from now on, and the routes were loaded once.
    expect(await get(number, '/c')).toEqual({ status: 200, body: 'routed /c' });
    expect(loads).toBe(1);
  });

  /** A listening port whose `loadRoutes` is `load(n, port)`, n counting the calls from 1. */
  async function listening(load: (n: number, port: ClientPort) => Promise<void>): Promise<{ number: number; loads: () => number }> {
    let loads = 0;
    const port: ClientPort = (open = new ClientPort((): Promise<void> => load(++loads, port)));
    const { port: number } = await port.listen({ host: '127.0.0.1', port: 0 });
    return { number, loads: () => loads };
  }

  it('loads the routes at the first HTTP request, not before', async () => {
    const { number, loads } = await listening((_n, port) => {
      port.route((_req, res) => res.end('ok'));
      return Promise.resolve();
    });
    expect(loads()).toBe(0);
    expect(await get(number, '/livez')).toEqual({ status: 200, body: 'ok' });
    expect(loads()).toBe(1);
  });

  it('answers the requests that waited INTERNAL when the routes fail to load, and tries again at the next', async () => {
    const { number, loads } = await listening((n, port) => {
      if (n === 1) return Promise.reject(new Error('no routes'));
      port.route((_req, res) => res.end('second'));
      return Promise.resolve();
    });
    const failed = await get(number, '/status');
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.body)).toMatchObject({ error: { code: 'INTERNAL' } });
    expect(await get(number, '/status')).toEqual({ status: 200, body: 'second' });
    expect(loads()).toBe(2);
  });

  it('answers a request still waiting for the routes SHUTTING_DOWN when it closes, and closes', async () => {
    const port = new ClientPort(() => new Promise(() => undefined));
    const { port: number } = await port.listen({ host: '127.0.0.1', port: 0 });
    const seen = requestsSeen(port, 1);
    const waiting = get(number, '/status');
    await seen;
    const closed = port.close();
    const answer = await waiting;
    expect(answer.status).toBe(503);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'SHUTTING_DOWN' } });
    await closed;
    expect(port.server.listening).toBe(false);
  });

  it('answers paths it does not serve NOT_FOUND, without loading the routes (the admin routes under --admin-listen)', async () => {
    let loads = 0;
    const port = (open = new ClientPort(() => {
      loads++;
      port.route((_req, res) => res.end('routed'));
      return Promise.resolve();
    }, { serves: (path) => !isAdminPath(path) }));
    const { port: number } = await port.listen({ host: '127.0.0.1', port: 0 });
    const refused = await get(number, '/admin/snapshot?x=1');
    expect(refused.status).toBe(404);
    expect(JSON.parse(refused.body)).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /admin/snapshot' } });
    expect(loads).toBe(0);
    expect(await get(number, '/administrator')).toEqual({ status: 200, body: 'routed' });
    expect(await get(number, '/status')).toEqual({ status: 200, body: 'routed' });
  });
});
