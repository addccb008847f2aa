/**
 * A one-shot wake-up for recipes whose wait is not "until this one node changes" (queue-wait's
 * `waitForChange`): the listener is handed to whatever read arms the watch (`children`, `get`,
 * `exists` of a node that should appear), so that the read and the watch are one step and no
 * change can fall between them.
 */
import { isVigilError, type VigilClient } from '../index.js';

export type Wake = 'changed' | 'session' | 'aborted';

export interface Wakeup {
  /** The one-shot watch listener to pass to the read that arms the watch. */
  readonly fire: () => void;
  /**
   * Resolves with the first of: 'changed' (`fire` was called), 'session' (the session ended or
   * was replaced: its watches are gone, the caller must look again), 'aborted' (the signal).
   */
  readonly woken: Promise<Wake>;
  /** Stops listening; a watch armed with `fire` then fires into nothing. Idempotent. */
  dispose(): void;
}

export function armWake(client: VigilClient, signal: AbortSignal | undefined): Wakeup {
  let settle: (how: Wake) => void = () => undefined;
  let settled = false;
  const sessionAtStart = client.sessionId;
  const woken = new Promise<Wake>((resolve) => {
    settle = (how) => {
      if (settled) return;
      settled = true;
      dispose();
      resolve(how);
    };
  });
  const onAbort = (): void => settle('aborted');
  const unsubscribe = client.on('state', (state) => {
    if (state === 'expired' || state === 'closed' || client.sessionId !== sessionAtStart) settle('session');
  });
  signal?.addEventListener('abort', onAbort, { once: true });
  function dispose(): void {
    settled = true;
    unsubscribe();
    signal?.removeEventListener('abort', onAbort);
  }
  if (signal?.aborted === true) settle('aborted');
  return { fire: () => settle('changed'), woken, dispose };
}

/**
 * Waits until `path` is gone (resolves 'changed' at once if it already is, or when it changes at
 * all), the session ends or is replaced ('session'), or `signal` aborts ('aborted'). One watch on
 * one node: a release wakes exactly one waiter, never the herd.
 */
export async function waitForChange(client: VigilClient, path: string, signal: AbortSignal | undefined): Promise<Wake> {
  const wake = armWake(client, signal);
  try {
    // Sequential: a stale answer can only say the node is still there (its watch then fires when
    // this server applies the deletion), never that it is gone before it is.
    if ((await client.exists(path, { watch: wake.fire, signal, consistency: 'sequential' })) === null) {
      wake.dispose();
      return 'changed';
    }
  } catch (err) {
    wake.dispose();
    if (isVigilError(err) && err.code === 'CANCELLED') return 'aborted';
    if (isVigilError(err) && (err.code === 'SESSION_EXPIRED' || err.code === 'CLOSED')) return 'session';
    throw err;
  }
  return wake.woken;
}
