// The leader's session expiry (session-keeper.ts): decided and proposed on the leader only, and
// never from silence the leader itself caused by not running.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Command, SessionRecord } from '@vigil/store';
import { SessionKeeper } from '../src/gateway/session-keeper.js';
import { silentLogger } from '../src/node/logger.js';

const timeoutMs = 3_000;
const checkEveryMs = 100;

function keeper(options: { leader?: () => boolean } = {}) {
  const startMs = Date.now();
  const session: SessionRecord = { sessionId: 7, timeoutMs, openedMs: startMs, lastSeenMs: startMs, secret: new Uint8Array(0), seqFloor: 0 } as SessionRecord;
  const forwarded: Command[] = [];
  const here: Command[] = [];
  const k = new SessionKeeper({
    // Only the fields the keeper reads.
    store: { sessionRecords: () => [session].values(), session: (id: number) => (id === 7 ? session : undefined), hasSession: (id: number) => id === 7 } as unknown as ConstructorParameters<typeof SessionKeeper>[0]['store'],
    propose: (command) => {
      forwarded.push(command);
      return new Promise(() => undefined);
    },
    proposeHere: (command) => {
      here.push(command);
      return new Promise(() => undefined);
    },
    isLeader: options.leader ?? (() => true),
    reportEveryMs: 500,
    checkEveryMs,
    stallMs: 750,
    requestTimeoutMs: 5_000,
    logger: silentLogger(),
  });
  k.start();
  const expiries = (): Command[] => [...forwarded, ...here].filter((c) => c.type === 'sessionExpire');
  return { k, forwarded, here, expiries };
}

describe('SessionKeeper expiry', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('proposes an expiry on this member only, never forwarded to another leader', () => {
    const { k, forwarded, here, expiries } = keeper();
    // Leadership is noticed at the first check, one check after the session was last seen.
    vi.advanceTimersByTime(timeoutMs + checkEveryMs);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(checkEveryMs);
    expect(here).toEqual([{ type: 'sessionExpire', sessionId: 7 }]);
    expect(forwarded.filter((c) => c.type === 'sessionExpire')).toEqual([]);
    k.close();
  });

  it('a follower expires nothing', () => {
    const { k, expiries } = keeper({ leader: () => false });
    vi.advanceTimersByTime(3 * timeoutMs);
    expect(expiries()).toEqual([]);
    k.close();
  });

  it('a leader whose timers stalled (paused process) does not count the stall as silence, and delays expiry by no more', () => {
    const { k, expiries } = keeper();
    vi.advanceTimersByTime(1_000);
    // The process is stopped for 4 s: the clock moves, no timer runs.
    const stallMs = 4_000;
    vi.setSystemTime(Date.now() + stallMs);
    vi.advanceTimersByTime(checkEveryMs);
    expect(expiries()).toEqual([]);
    // Silent (while listening) since the first check at 100 ms: due at 100 + timeout + the stall.
    vi.advanceTimersByTime(timeoutMs - 1_000);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(3 * checkEveryMs);
    expect(expiries()).toEqual([{ type: 'sessionExpire', sessionId: 7 }]);
    k.close();
  });
  it('expires a silent session neither before its timeout nor more than two checks after it', () => {
    const { k, expiries } = keeper();
    // The first check (at 100 ms) notices leadership; silence counts from the last sighting.
    vi.advanceTimersByTime(timeoutMs - checkEveryMs);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(checkEveryMs);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(2 * checkEveryMs);
    expect(expiries()).toEqual([{ type: 'sessionExpire', sessionId: 7 }]);
    k.close();
  });

  it('a new leader gives every session a whole timeout from when it took over', () => {
    let leading = false;
    const { k, expiries } = keeper({ leader: () => leading });
    // Silent for two timeouts while another member led (the old leader was lost with its sightings).
    vi.advanceTimersByTime(2 * timeoutMs);
    leading = true;
    vi.advanceTimersByTime(checkEveryMs);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(timeoutMs - checkEveryMs);
    expect(expiries()).toEqual([]);
    vi.advanceTimersByTime(3 * checkEveryMs);
    expect(expiries()).toEqual([{ type: 'sessionExpire', sessionId: 7 }]);
    k.close();
  });
});
