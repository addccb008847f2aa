import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

const corked = new WeakSet<Socket>();

/**
 * Holds a WebSocket's writes until the event loop's check phase, so that every frame sent in this
 * turn (many responses, many forwarded writes) leaves in one writev instead of a syscall each.
 * `ws` keeps its socket in the internal `_socket`; Node counts nested cork() calls, so this
 * composes with ws's own corking.
 */
export function corkThisTurn(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket !== undefined) corkSocketThisTurn(socket);
}

/** The same for a plain socket (the ZooKeeper protocol's). */
export function corkSocketThisTurn(socket: Socket): void {
  if (corked.has(socket) || socket.destroyed) return;
  corked.add(socket);
  socket.cork();
  setImmediate(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
