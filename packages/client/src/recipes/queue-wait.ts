/**
 * The wait of a queued participant: list the queue, ask the recipe which entry blocks it (its
 * predecessor, for a lock), and watch that one entry until it changes — a release wakes one
 * waiter, never the herd. Robust to the blocker vanishing while the watch is being set (the
 * watch's `exists` answers null and the loop lists again), to reconnects (one-shot watches are
 * re-armed by the SDK and fire if the node changed meanwhile) and to expiry (the participant's
 * node is gone: the caller enters the queue again under a new name).
 */
import type { VigilClient } from '../index.js';
import { abortError, listQueue, type Participant, type QueueEntry } from './participant.js';
import { waitForChange } from './wake.js';

/** Which entry `me` must wait for, or null when it may go ahead. `entries` are oldest first. */
export type Blocker = (entries: readonly QueueEntry[], myIndex: number) => QueueEntry | null;

export type WaitOutcome = 'ready' | 'gone' | 'blocked';

/**
 * Resolves 'ready' when `blocker` finds nothing ahead of `me`, 'gone' when `me`'s node no longer
 * exists (its session expired, or someone deleted it), 'blocked' at once when something is ahead
 * and `wait` is false (a try-lock). Rejects TIMEOUT/CANCELLED when `signal`
 * aborts, and with any other failure of a read.
 */
export async function waitForTurn(
  client: VigilClient,
  options: { readonly dir: string; readonly prefixes: readonly string[]; readonly me: Participant; readonly blocker: Blocker; readonly wait?: boolean; readonly signal?: AbortSignal | undefined; readonly what: string },
): Promise<WaitOutcome> {
  for (;;) {
    if (options.signal?.aborted === true) throw abortError(options.signal, options.what);
    if (client.sessionId !== options.me.sessionId) return 'gone';
    const entries = await listQueue(client, options.dir, { prefixes: options.prefixes, signal: options.signal, consistency: 'sequential' });
    const myIndex = entries.findIndex((e) => e.name === options.me.name);
    if (myIndex < 0) return 'gone';
    const blocker = options.blocker(entries, myIndex);
    if (blocker === null) return 'ready';
    if (options.wait === false) return 'blocked';
    const wake = await waitForChange(client, blocker.path, options.signal);
    if (wake === 'aborted') throw abortError(options.signal, options.what);
  }
}

/** A mutex's blocker: the participant just ahead. */
export const predecessor: Blocker = (entries, myIndex) => (myIndex === 0 ? null : (entries[myIndex - 1] ?? null));
