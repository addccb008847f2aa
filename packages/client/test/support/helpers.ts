/** Small waiting helpers: tests wait for events and promises, never for time. */
import type { ConnectionState, VigilClient } from '@vigil/client';

/** Resolves at the client's next change to `state` (listen before causing it). */
export function nextState(client: VigilClient, state: ConnectionState): Promise<void> {
  return new Promise((resolve) => {
    const off = client.on('state', (s) => {
      if (s !== state) return;
      off();
      resolve();
    });
  });
}

/** Every state the client reports from now on. */
export function recordStates(client: VigilClient): ConnectionState[] {
  const states: ConnectionState[] = [];
  client.on('state', (s) => states.push(s));
  return states;
}

/** A promise with its resolver outside, for callbacks. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);
