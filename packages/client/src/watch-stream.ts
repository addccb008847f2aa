/**
 * The async-iterator face of a persistent watch: a bounded buffer between the socket (which
 * pushes) and the caller (who pulls). A caller that stops reading would otherwise make the SDK
 * hold every event of a busy subtree; past `streamEventsBufferedMax` the stream ends with
 * SLOW_CONSUMER, as the server does for a connection that does not read.
 */
import { VigilError } from '@vigil/protocol';
import type { PersistentWatchEvent, WatchSink } from './watches.js';

/** Events a WatchStream holds for a caller who has not read them yet. */
export const streamEventsBufferedMax = 100_000;

export interface WatchStream extends AsyncIterable<PersistentWatchEvent> {
  /** Unsubscribes (sends `unwatch`); the iteration ends. Idempotent. */
  close(): void;
  /** Resolves when the server has registered the watch; rejects if it refused it or the stream ended first. */
  readonly ready: Promise<void>;
}

interface Waiter {
  readonly resolve: (result: IteratorResult<PersistentWatchEvent>) => void;
  readonly reject: (error: VigilError) => void;
}

export class EventStream implements WatchStream, WatchSink, AsyncIterableIterator<PersistentWatchEvent> {
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private rejectReady!: (error: VigilError) => void;
  private readySettled = false;
  private readonly buffer: PersistentWatchEvent[] = [];
  private readonly waiters: Waiter[] = [];
  private ended = false;
  /** Thrown once by `next()` after the buffered events, then the stream is plainly done. */
  private failure: VigilError | null = null;
  private unsubscribe: () => void = () => undefined;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody has to await `ready`; its rejection must not count as unhandled.
    this.ready.catch(() => undefined);
  }

  /** Wired by the client once the watch exists. */
  bind(unsubscribe: () => void): void {
    this.unsubscribe = unsubscribe;
  }

  // ---- WatchSink (the watch registry's side) ----

  registered(): void {
    if (this.readySettled) return;
    this.readySettled = true;
    this.resolveReady();
  }

  event(event: PersistentWatchEvent): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.resolve({ done: false, value: event });
      return;
    }
    if (this.buffer.length >= streamEventsBufferedMax) {
      this.end(new VigilError('SLOW_CONSUMER', `more than ${streamEventsBufferedMax} watch events were not read`));
      this.unsubscribe();
      return;
    }
    this.buffer.push(event);
  }

  end(error: VigilError | null): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    if (!this.readySettled) {
      this.readySettled = true;
      this.rejectReady(error ?? new VigilError('CLOSED', 'the watch was closed before the server registered it'));
    }
    // Waiters exist only while the buffer is empty.
    for (const waiter of this.waiters.splice(0)) this.finish(waiter);
  }

  // ---- the caller's side ----

  close(): void {
    this.buffer.length = 0;
    this.failure = null;
    this.unsubscribe();
    this.end(null);
  }

  next(): Promise<IteratorResult<PersistentWatchEvent>> {
    const event = this.buffer.shift();
    if (event !== undefined) return Promise.resolve({ done: false, value: event });
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (this.ended) this.finish(waiter);
      else this.waiters.push(waiter);
    });
  }

  return(): Promise<IteratorResult<PersistentWatchEvent>> {
    this.close();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<PersistentWatchEvent> {
    return this;
  }

  private finish(waiter: Waiter): void {
    const failure = this.failure;
    this.failure = null;
    if (failure === null) waiter.resolve({ done: true, value: undefined });
    else waiter.reject(failure);
  }
}
