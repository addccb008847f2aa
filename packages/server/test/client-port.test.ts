import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientPort } from '../src/node/client-port.js';

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
    const port = (open = new ClientPort());
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
    // Routed at once from now on.
    expect(await get(number, '/c')).toEqual({ status: 200, body: 'routed /c' });
  });

  it('answers a request still waiting for the routes SHUTTING_DOWN when it closes, and closes', async () => {
    const port = new ClientPort();
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
});
