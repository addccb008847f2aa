import { describe, expect, it } from 'vitest';
import { checkLocks, type LockHold } from '../src/index.js';

const hold = (process: number, token: number, acquireInvokeMs: number, acquiredMs: number, end: Partial<Pick<LockHold, 'releaseInvokeMs' | 'lostMs' | 'killedMs'>> = {}): LockHold => ({
  process,
  token,
  acquireInvokeMs,
  acquiredMs,
  ...end,
});

describe('checkLocks: holds that are sound', () => {
  it('accepts holds one after the other with rising tokens, contenders waiting concurrently', () => {
    const report = checkLocks({
      holds: [hold(1, 10, 0, 1, { releaseInvokeMs: 50 }), hold(2, 11, 5, 52, { releaseInvokeMs: 90 }), hold(3, 12, 6, 95)],
      fencedWrites: [{ token: 10, ok: true, revision: 20 }, { token: 11, ok: true, revision: 30 }, { token: 10, ok: false }, { token: 11, ok: true, revision: 31 }, { token: 12, ok: true, revision: 40 }],
    });
    expect(report).toEqual({ valid: true, violations: [], fencedOverlaps: [] });
  });

  it('counts an overlap after the earlier holder was told it lost as fenced, not as a violation', () => {
    const earlier = hold(1, 10, 0, 1, { lostMs: 40, releaseInvokeMs: 70 });
    const later = hold(2, 11, 5, 60, { releaseInvokeMs: 90 });
    expect(checkLocks({ holds: [earlier, later] })).toEqual({ valid: true, violations: [], fencedOverlaps: [{ earlier, later }] });
  });

  it('ends a hold at its loss when never released, and at the death of its process', () => {
    expect(checkLocks({ holds: [hold(1, 10, 0, 1, { lostMs: 40 }), hold(2, 11, 5, 60)] })).toEqual({ valid: true, violations: [], fencedOverlaps: [] });
    expect(checkLocks({ holds: [hold(1, 10, 0, 1, { killedMs: 40 }), hold(2, 11, 5, 60)] }).valid).toBe(true);
  });
});

describe('checkLocks: holds that are not', () => {
  it('rejects one token held by two processes', () => {
    const report = checkLocks({ holds: [hold(1, 10, 0, 1, { releaseInvokeMs: 5 }), hold(2, 10, 6, 7, { releaseInvokeMs: 9 })] });
    expect(report.violations.map((v) => v.kind)).toEqual(['shared-token', 'token-order']);
  });

  it('rejects a smaller token for a hold that began after another ended', () => {
    const first = hold(1, 12, 0, 1, { releaseInvokeMs: 10 });
    const second = hold(2, 11, 20, 21, { releaseInvokeMs: 30 });
    const report = checkLocks({ holds: [first, second] });
    expect(report.violations).toEqual([{ kind: 'token-order', holds: [first, second], detail: 'p1 token 12 [1, 10] ended before p2 called acquire at 20, yet that hold got token 11' }]);
  });

  it('rejects two processes holding at once when the first was not told it lost', () => {
    const report = checkLocks({ holds: [hold(1, 10, 0, 1, { releaseInvokeMs: 70 }), hold(2, 11, 5, 60, { releaseInvokeMs: 90 })] });
    expect(report.violations.map((v) => v.kind)).toEqual(['not-exclusive']);
    const toldTooLate = checkLocks({ holds: [hold(1, 10, 0, 1, { lostMs: 65, releaseInvokeMs: 70 }), hold(2, 11, 5, 60)] });
    expect(toldTooLate.violations.map((v) => v.kind)).toEqual(['not-exclusive']);
  });

  it('rejects the guarded resource accepting an older token after a newer one', () => {
    const report = checkLocks({
      holds: [],
      fencedWrites: [{ token: 10, ok: true, revision: 20 }, { token: 12, ok: true, revision: 30 }, { token: 11, ok: true, revision: 35 }],
    });
    expect(report.violations).toEqual([
      { kind: 'fence-order', writes: [{ token: 12, ok: true, revision: 30 }, { token: 11, ok: true, revision: 35 }], detail: 'write of token 11 accepted at r35 after a write of token 12 at r30' },
    ]);
  });
});
