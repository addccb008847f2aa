import { describe, expect, it } from 'vitest';
import { checkSessionOrder } from '../src/index.js';
import { history } from './history-text.js';

describe('checkSessionOrder', () => {
  it('accepts revisions that never go back within a process, equal ones included', () => {
    const report = checkSessionOrder(history(`
      p1 0-1 create a -> v0 @r3
      p1 2-3 get -> a v0 @r3
      p2 0-1 get -> NO_NODE @r1
      p1 4-5 set b -> v1 @r7
      p2 2-3 get -> b v1 @r7
      p1 6-7 get key=/x -> NO_NODE @r9
      p1 8-9 set c -> ? 
      p1 10-11 get -> b v1 @r9
    `));
    expect(report).toEqual({ valid: true, violations: [], opsChecked: 7 });
  });

  it("rejects a read older than the process's own write", () => {
    const ops = history(`
      p1 0-1 set a -> v1 @r10
      p1 2-3 get -> a v1 @r8
    `);
    const report = checkSessionOrder(ops);
    expect(report.valid).toBe(false);
    expect(report.violations).toEqual([{ process: 1, op: ops[1], seen: ops[0], revision: 8, seenRevision: 10 }]);
  });

  it('compares with the highest revision seen, across znodes, in completion order', () => {
    const ops = history(`
      p1 0-1 get key=/a -> NO_NODE @r12
      p1 2-3 get key=/b -> NO_NODE @r5
      p1 4-5 set b -> BAD_VERSION @r11
      p2 0-1 get -> NO_NODE @r1
    `);
    const report = checkSessionOrder(ops);
    expect(report.violations.map((v) => [v.op, v.seen])).toEqual([[ops[1], ops[0]], [ops[2], ops[0]]]);
  });

  it('skips answers without a revision and operations that were never answered', () => {
    const report = checkSessionOrder(history(`
      p1 0-1 get -> NO_NODE @r9
      p1 2-3 set a -> fail @r2
      p1 4-5 get -> NO_NODE
    `));
    expect(report).toMatchObject({ valid: true, opsChecked: 1 });
  });

  it('lets a new session start over when asked to check per session', () => {
    const ops = history(`
      p1 0-1 get s=1 -> NO_NODE @r9
      p1 2-3 get s=2 -> NO_NODE @r4
    `);
    expect(checkSessionOrder(ops).valid).toBe(false);
    expect(checkSessionOrder(ops, { scope: 'session' }).valid).toBe(true);
  });
});
