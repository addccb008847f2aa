import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket as WsWebSocket, WebSocketServer } from 'ws';
import { connect, type VigilClient, type WatchEvent } from '@vigil/client';
import { frameBytesMax, protocolVersion, webSocketSubprotocol, type VigilError } from '@vigil/protocol';
import { Connection } from '../src/connection.js';
import { chooseOpenSocket, type OpenSocket } from '../src/web-socket.js';
import { FakeCluster } from './support/fake-server.js';
import { deferred, nextState, text } from './support/helpers.js';

/**
 * The SDK on a runtime with a standard global WebSocket (Node ≥ 22, Deno, Bun) and on Node 20,
 * where it loads `ws`. `ws`'s own class stands in for the standard one here: it implements the
 * same browser-style surface (onopen/onmessage/onclose, binaryType, protocol). The real standard
 * implementation (Node's, behind --experimental-websocket on Node 20) runs in test/pack-install.
 */

/** A standard WebSocket class that counts the sockets it opened. */
const opened: string[] = [];
class StandardStandIn extends WsWebSocket {
  constructor(url: string, protocols: string | string[]) {
    super(url, protocols);
    opened.push(url);
  }
}

const noWs = (): Promise<unknown> => Promise.reject(new Error('ws must not be loaded when the runtime has a WebSocket'));

describe('a runtime with a global WebSocket', () => {
  let cluster: FakeCluster;
  let client: VigilClient | undefined;
  beforeAll(() => {
    vi.stubGlobal('WebSocket', StandardStandIn);
  });
  afterAll(() => {
    vi.unstubAllGlobals();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await cluster.close();
  });

  it('is what connect() uses: operations, watches and failover work over it', async () => {
    cluster = new FakeCluster();
    const first = await cluster.startServer(1);
    const second = await cluster.startServer(2);
    second.refuseHello = 'SHUTTING_DOWN';
    client = await connect({ endpoints: [first.url, second.url], reconnectBackoff: { baseMs: 2, maxMs: 10 } });
    second.refuseHello = null;
    expect(opened.length).toBeGreaterThan(0);

    await client.create('/a', 'x');
    const changed = deferred<WatchEvent>();
    await client.get('/a', { watch: changed.resolve });
    cluster.write({ op: 'set', path: '/a', data: new TextEncoder().encode('y') });
    expect(await changed.promise).toMatchObject({ kind: 'dataChanged', path: '/a' });

    const reconnected = nextState(client, 'reconnected');
    first.refuseHello = 'SHUTTING_DOWN';
    first.dropConnections();
    await reconnected;
    expect(client.serverId).toBe(2);
    expect(text((await client.get('/a')).data)).toBe('y');
  });

  it('is chosen without ever loading ws', async () => {
    const openSocket = await chooseOpenSocket({ globalWebSocket: StandardStandIn, importWs: noWs });
    cluster = new FakeCluster();
    const server = await cluster.startServer(3);
    const result = await handshake(openSocket, server.url);
    expect(result).toEqual({ welcomed: true });
  });
});

describe('a runtime without a global WebSocket (Node 20)', () => {
  it('loads ws', async () => {
    let loaded = false;
    const openSocket = await chooseOpenSocket({
      globalWebSocket: undefined,
      importWs: async () => {
        loaded = true;
        return import('ws');
      },
    });
    expect(loaded).toBe(true);
    const cluster = new FakeCluster();
    const server = await cluster.startServer(1);
    expect(await handshake(openSocket, server.url)).toEqual({ welcomed: true });
    await cluster.close();
  });

  it('says what to install when ws is missing too', async () => {
    const missing = Object.assign(new Error("Cannot find package 'ws'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(chooseOpenSocket({ globalWebSocket: undefined, importWs: () => Promise.reject(missing) })).rejects.toThrow(/npm install ws/);
  });
});

describe.each([
  ['the standard WebSocket', () => chooseOpenSocket({ globalWebSocket: StandardStandIn, importWs: noWs })],
  ['ws', () => chooseOpenSocket({ globalWebSocket: undefined, importWs: () => import('ws') })],
])('over %s, a misbehaving server', (_name, choose) => {
  let wss: WebSocketServer;
  let url: string;
  let greet: (socket: WsWebSocket) => void;
  beforeAll(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => webSocketSubprotocol });
    wss.on('connection', (socket) => greet(socket));
    await once(wss, 'listening');
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    for (const socket of wss.clients) socket.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });

  it('ends the connection when a message exceeds frameBytesMax', async () => {
    greet = (socket) => socket.send(new Uint8Array(frameBytesMax + 1));
    expect(await handshake(await choose(), url)).toMatchObject({ welcomed: false, code: 'CONNECTION_LOSS', message: expect.stringMatching(/payload/i) });
  });

  it('ends the connection with PROTOCOL_VIOLATION on a text message', async () => {
    greet = (socket) => socket.send('hello?');
    expect(await handshake(await choose(), url)).toMatchObject({ welcomed: false, code: 'PROTOCOL_VIOLATION' });
  });

  it('reports a close code of the protocol as its error', async () => {
    greet = (socket) => socket.close(4407, 'stopping');
    expect(await handshake(await choose(), url)).toMatchObject({ welcomed: false, code: 'SHUTTING_DOWN' });
  });
});

/** Dials `url` and reports the welcome, or the error that ended the connection first. */
function handshake(openSocket: OpenSocket, url: string): Promise<{ welcomed: true } | { welcomed: false; code: string; message: string }> {
  return new Promise((resolve) => {
    const connection: Connection = new Connection({
      endpoint: url,
      hello: { t: 'hello', protocolVersion, sessionTimeoutMs: 10_000 },
      handshakeTimeoutMs: 5_000,
      openSocket,
      handlers: {
        onWelcome: () => {
          connection.terminate();
          resolve({ welcomed: true });
        },
        onFrame: () => undefined,
        onBadResponse: () => undefined,
        onClosed: (error: VigilError) => resolve({ welcomed: false, code: error.code, message: error.message }),
      },
    });
  });
}
