import { isVigilError, type VigilError } from '@vigil/client';

/**
 * For a test's write loop that goes on through failures: returns when `err` is a failure the loop
 * may count and go on from, throws otherwise. A client whose session expired or that was closed
 * refuses every later call at once, without a round trip or a timer; a loop that swallowed those
 * would spin on already-rejected promises and starve every timer of its process (the test's
 * deadline included) instead of failing.
 */
export function survivable(err: unknown): asserts err is VigilError {
  if (!isVigilError(err)) throw err;
  if (err.code === 'SESSION_EXPIRED' || err.code === 'CLOSED') {
    throw new Error(`the write loop's client cannot go on: ${err.code}: ${err.message}`, { cause: err });
  }
}
