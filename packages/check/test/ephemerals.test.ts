import { describe, expect, it } from 'vitest';
import { checkEphemerals, graceMsDefault, type EphemeralRecord } from '../src/index.js';

// Owner alive (answered) until 5_000 ms, killed at 6_000 ms, timeout 1_000 ms: the deadline with
// the default grace is 6_000 + 1_000 + (2 × 1_000 + 2_000) = 11_000 ms.
const killed: EphemeralRecord = { path: '/e/1', sessionId: 7, createdMs: 1_000, timeoutMs: 1_000, ownerAliveUntilMs: 5_000, ownerGoneMs: 6_000 };
const look = (invokeMs: number, completeMs: number, exists: boolean, path = '/e/1') => ({ path, invokeMs, completeMs, exists });

describe('checkEphemerals', () => {
  it('accepts an ephemeral seen while its owner lived and gone after the deadline; anything between goes', () => {
    const report = checkEphemerals({
      ephemerals: [killed],
      observations: [look(500, 900, false), look(900, 1_100, false), look(2_000, 2_100, true), look(4_900, 5_100, false), look(8_000, 8_100, true), look(11_500, 11_600, false), look(1, 2, true, '/unrelated')],
    });
    expect(report).toEqual({ valid: true, violations: [], observationsChecked: 6 });
    expect(graceMsDefault(1_000)).toBe(4_000);
  });

  it('rejects an ephemeral read absent after its create was acknowledged, while its owner lived', () => {
    const report = checkEphemerals({ ephemerals: [killed], observations: [look(3_000, 3_100, false)] });
    expect(report.violations).toHaveLength(1);
    expect(report.violations[0]).toMatchObject({ kind: 'vanished-before-session-ended', ephemeral: killed });
  });

  it('excuses an absence after the owner itself deleted it', () => {
    const deleted = { ...killed, deletedByOwnerMs: 2_500 };
    expect(checkEphemerals({ ephemerals: [deleted], observations: [look(3_000, 3_100, false)] }).valid).toBe(true);
    expect(checkEphemerals({ ephemerals: [deleted], observations: [look(2_000, 2_400, false)] }).valid).toBe(false);
  });

  it('rejects an ephemeral read present after its owner was gone for the timeout and the grace', () => {
    const report = checkEphemerals({ ephemerals: [killed], observations: [look(11_001, 11_050, true)] });
    expect(report.violations.map((v) => v.kind)).toEqual(['outlived-session']);
    expect(checkEphemerals({ ephemerals: [killed], observations: [look(7_501, 7_550, true)] }, { graceMs: 500 }).valid).toBe(false);
    // A grace per ephemeral: the same observation passes with more, fails with less.
    expect(checkEphemerals({ ephemerals: [killed], observations: [look(7_501, 7_550, true)] }, { graceMs: () => 10_000 }).valid).toBe(true);
    expect(checkEphemerals({ ephemerals: [killed], observations: [look(7_501, 7_550, true)] }, { graceMs: (e) => (e === killed ? 500 : 10_000) }).valid).toBe(false);
  });

  it('never calls an ephemeral of a live owner outlived, and lets a new owner of the same path be seen', () => {
    const alive: EphemeralRecord = { path: '/e/2', sessionId: 8, createdMs: 1_000, timeoutMs: 1_000, ownerAliveUntilMs: 50_000 };
    expect(checkEphemerals({ ephemerals: [alive], observations: [look(40_000, 40_001, true, '/e/2')] }).valid).toBe(true);
    const successor: EphemeralRecord = { path: '/e/1', sessionId: 9, createInvokeMs: 11_900, createdMs: 12_000, timeoutMs: 1_000, ownerAliveUntilMs: 20_000 };
    expect(checkEphemerals({ ephemerals: [killed, successor], observations: [look(11_950, 12_050, true)] }).valid).toBe(true);
    expect(checkEphemerals({ ephemerals: [killed, successor], observations: [look(11_500, 11_600, true)] }).valid).toBe(false);
  });
});
