import { describe, expect, it } from 'vitest';
import { checkLinearizable, describeOp } from '../src/index.js';
import { history } from './history-text.js';

const verdict = (text: string) => checkLinearizable(history(text)).valid;

describe('checkLinearizable: histories that are linearizable', () => {
  it('accepts a sequential life of a znode', () => {
    expect(verdict(`
      p1 0-1 get -> NO_NODE
      p1 2-3 create a -> v0
      p1 4-5 get -> a v0
      p1 6-7 set b if=0 -> v1
      p1 8-9 set c -> v2
      p1 10-11 set d if=1 -> BAD_VERSION
      p1 12-13 create e -> NODE_EXISTS
      p1 14-15 get -> c v2
      p1 16-17 delete if=2 -> ok
      p1 18-19 delete -> NO_NODE
      p1 20-21 set f -> NO_NODE
      p1 22-23 create g -> v0
    `)).toBe(true);
  });

  it('lets reads concurrent with a write see either side of it', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 10-30 set b -> v1
      p2 12-14 get -> a v0
      p3 13-15 get -> b v1
      p2 16-18 get -> b v1
      p3 31-32 get -> b v1
    `)).toBe(true);
  });

  it('orders concurrent writes by what later reads saw, not by invocation', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 10-20 set b -> v2
      p2 11-19 set c -> v1
      p3 21-22 get -> b v2
    `)).toBe(true);
  });

  it('lets an unknown-outcome write take effect after the client gave up, or never', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 10-20 set b -> ?
      p1 21-22 get -> a v0
      p2 50-51 get -> b v1
      p3 60-70 set c -> ?
      p2 80-81 get -> b v1
    `)).toBe(true);
  });

  it('finds an unknown write nobody read through the version it bumped', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 set b -> ?
      p1 10-11 get -> a v0
      p1 20-21 set c -> v2
      p1 22-23 get -> c v2
    `)).toBe(true);
  });

  it('drops failed operations, whatever they would have written', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 set z -> fail NOT_LEADER
      p2 4-5 delete -> fail SHUTTING_DOWN
      p1 6-7 get -> a v0
    `)).toBe(true);
  });

  it('places an error answer at one instant of its interval, between concurrent writes', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 10-20 delete -> ok
      p2 12-13 create b -> NODE_EXISTS
      p3 14-30 get -> NO_NODE
      p2 25-26 create c -> v0
      p1 27-40 set d if=3 -> BAD_VERSION
      p3 31-32 get -> c v0
    `)).toBe(true);
  });

  it('treats operations that touch at one instant as concurrent', () => {
    expect(verdict(`
      p1 0-10 create a -> v0
      p2 10-12 get -> NO_NODE
    `)).toBe(true);
  });

  it('checks each znode on its own', () => {
    const report = checkLinearizable(history(`
      p1 0-1 create a key=/x -> v0
      p2 0-1 create b key=/y -> v0
      p1 2-3 get key=/x -> a v0
      p2 2-3 get key=/y -> b v0
    `));
    expect(report.valid).toBe(true);
    expect(report.keys.map((k) => [k.key, k.verdict, k.opCount])).toEqual([['/x', 'linearizable', 2], ['/y', 'linearizable', 2]]);
  });

  it('starts from the given initial state', () => {
    const ops = history('p1 0-1 get -> a v5');
    expect(checkLinearizable(ops).valid).toBe(false);
    expect(checkLinearizable(ops, { initialState: () => ({ value: 'a', version: 5 }) }).valid).toBe(true);
  });

  it('counts the operations that constrain nothing', () => {
    const report = checkLinearizable(history(`
      p1 0-1 get -> ?
      p1 2-3 set a -> fail
      p1 4-5 get -> BAD_ARGUMENTS
      p1 6-7 get -> NO_NODE
    `));
    expect(report).toMatchObject({ valid: true, opsIgnored: 3 });
  });
});

describe('checkLinearizable: histories that are not', () => {
  it('rejects a stale read after the write completed', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 2-3 set b -> v1
      p2 4-5 get -> a v0
    `)).toBe(false);
  });

  it('rejects a read of data nobody wrote', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 get -> zz v0
    `)).toBe(false);
  });

  it('rejects the right data at the wrong version', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 2-3 set b -> v1
      p2 4-5 get -> b v2
    `)).toBe(false);
  });

  it('rejects two reads, one after the other, that see a concurrent write and then not', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 10-50 set b -> v1
      p2 12-14 get -> b v1
      p3 16-18 get -> a v0
    `)).toBe(false);
  });

  it('rejects two successful creates without a delete between them', () => {
    expect(verdict(`
      p1 0-10 create a -> v0
      p2 0-10 create b -> v0
    `)).toBe(false);
  });

  it('rejects a failed write that someone read', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 set b -> fail NOT_LEADER
      p1 4-5 get -> b v1
    `)).toBe(false);
  });

  it('rejects a read that sees an unknown-outcome write before it was sent', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 get -> b v1
      p1 4-5 set b -> ?
    `)).toBe(false);
  });

  it('rejects an unknown-outcome write taking effect twice', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 2-3 set b -> ?
      p2 4-5 get -> b v1
      p2 6-7 set c if=1 -> v2
      p2 8-9 get -> b v3
    `)).toBe(false);
  });

  it('rejects an error answer that no instant of its interval explains', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 get -> NO_NODE
    `)).toBe(false);
    expect(verdict(`
      p1 0-1 create a -> v0
      p2 2-3 set b if=0 -> BAD_VERSION
    `)).toBe(false);
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 2-3 delete -> ok
      p2 4-5 create b -> NODE_EXISTS
    `)).toBe(false);
  });

  it('rejects a conditional set that succeeded against a version the znode no longer had', () => {
    expect(verdict(`
      p1 0-1 create a -> v0
      p1 2-3 set b -> v1
      p2 4-5 set c if=0 -> v1
    `)).toBe(false);
  });
});

describe('checkLinearizable: the violation report', () => {
  const ops = history(`
    p1 0-1 create a -> v0 @r1
    p1 10-50 set b -> v1 @r5
    p2 12-14 get -> b v1 @r5
    p3 16-18 get -> a v0 @r4
    p4 20-22 get key=/other -> NO_NODE
  `);
  const report = checkLinearizable(ops);

  it('names the znode, the longest linearizable prefix and the state after it', () => {
    expect(report.valid).toBe(false);
    expect(report.keys.find((k) => k.key === '/other')?.verdict).toBe('linearizable');
    expect(report.violations).toHaveLength(1);
    const violation = report.violations[0]!;
    expect(violation.key).toBe('/k');
    expect(violation.linearizedPrefix.map(describeOp)).toEqual(['p1 create /k \'a\' → ok v0 @r1', 'p1 set /k \'b\' → ok v1 @r5', 'p2 get /k → ok \'b\' v1 @r5']);
    expect(violation.stateAfterPrefix).toEqual({ value: 'b', version: 1 });
  });

  it('names the operation that could not be placed, why, and the operations around it', () => {
    const violation = report.violations[0]!;
    expect(violation.blocking).toBe(ops[3]);
    expect(violation.candidates.map((c) => [c.op, c.why])).toEqual([[ops[3], "read 'a', but the znode is 'b' v1"]]);
    expect(violation.window).toEqual(ops.slice(0, 4));
  });

  it('reports a znode as unknown, not valid, when the search exceeds its bound', () => {
    const bounded = checkLinearizable(ops, { searchStepsMax: 2 });
    expect(bounded.valid).toBe(false);
    expect(bounded.unknownKeys).toEqual(['/k']);
    expect(bounded.violations).toEqual([]);
    expect(bounded.keys.find((k) => k.key === '/k')).toMatchObject({ verdict: 'unknown', searchSteps: 2 });
  });

  it('still proves a violation when the search gives up, if a read has no place in any order', () => {
    const cases: [string, RegExp][] = [
      [`p1 0-1 create a -> v0
        p1 2-3 set b -> v1
        p2 4-5 get -> a v0`, /overwritten before the read was sent by p1 set \/k 'b'/],
      [`p1 0-1 create a -> v0
        p2 2-3 get -> zz v0`, /no write that did not fail wrote/],
      [`p2 0-1 get -> a v0
        p1 2-3 create a -> ?`, /before its write was sent/],
      [`p1 0-1 create a -> v0
        p1 2-3 set b -> v1
        p2 4-5 get -> b v3`, /at v3, but its write made v1/],
    ];
    for (const [text, because] of cases) {
      const bounded = checkLinearizable(history(text), { searchStepsMax: 1 });
      expect(bounded.valid).toBe(false);
      expect(bounded.unknownKeys).toEqual([]);
      expect(bounded.violations[0]?.impossibleRead?.because).toMatch(because);
    }
  });
});
