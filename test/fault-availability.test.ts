import { expect, test } from 'vitest';
import type { ZnodeOp } from '@vigil/check';
import { availability } from '../scripts/faults/suite.js';

const op = (process: number, invokeMs: number, completeMs: number, outcome: ZnodeOp['outcome'] = 'ok'): ZnodeOp => ({ process, key: '/r', f: 'get', outcome, invokeMs, completeMs });

test('availability counts the workload only: the final reads after the clients stopped make no gap', () => {
  const a = availability([op(0, 0, 5), op(1, 3, 2_600), op(0, 10, 400, 'fail'), op(0, 500, 900), op(-1, 9_000, 9_010)]);
  expect(a.ops).toBe(4);
  // Answered: 5, 900 and 2,600 ms (the failure answered nothing); the 2.6 s read is the one late.
  expect(a.within2sFraction).toBe(2 / 4);
  expect(a.longestGapMs).toBe(2_600 - 900);
});

test('availability leaves out the pinned readers: a client bound to one member cannot be served while it is cut off', () => {
  const a = availability([op(0, 0, 5), op(500, 0, 3_000, 'fail'), op(502, 10, 2_900), op(0, 20, 30)]);
  expect(a.ops).toBe(2);
  expect(a.within2sFraction).toBe(1);
  expect(a.longestGapMs).toBe(25);
});
