import { describe, expect, test } from 'vitest';
import { LeaderLossWatch } from '../src/gateway/leader-loss.js';

/** Feeds one age per tick; returns what each tick said. */
function run(watch: LeaderLossWatch, ages: readonly (number | undefined)[]): (string | null)[] {
  return ages.map((age) => watch.tick(age));
}

describe('LeaderLossWatch: when a member ends its client connections (decisions 40, 43 and 46)', () => {
  test('silence: once, on the first tick past three election timeouts', () => {
    const said = run(new LeaderLossWatch(10), [0, 1, 5, 10, 11, 20, 29, 30, 31, 32, 33]);
    expect(said).toEqual([null, null, null, null, null, null, null, null, 'silent', null, null]);
  });

  test('a stalled leader heard again after two election timeouts ends nothing', () => {
    const watch = new LeaderLossWatch(10);
    expect(run(watch, [0, 5, 12, 20, 25, 0, 1]).every((s) => s === null)).toBe(true);
  });

  test('an election in a new term: held for two more election timeouts, so a quick election ends no connection', () => {
    // The leader dies: its last word ages for 3 ticks, then the member stands in a new term (no
    // leader known) and hears the new leader 8 ticks later.
    const quick = run(new LeaderLossWatch(10), [0, 1, 2, 3, ...Array<undefined>(8).fill(undefined), 0, 1]);
    expect(quick.every((s) => s === null)).toBe(true);
  });

  test('no leader for longer than two election timeouts: the connections end, once', () => {
    const said = run(new LeaderLossWatch(10), [0, ...Array<undefined>(24).fill(undefined)]);
    expect(said.filter((s) => s !== null)).toEqual(['leaderless']);
    expect(said.indexOf('leaderless')).toBe(21);
  });

  test('an election that takes one and a half election timeouts ends nothing', () => {
    const said = run(new LeaderLossWatch(10), [0, 4, 8, ...Array<undefined>(15).fill(undefined), 0]);
    expect(said.every((s) => s === null)).toBe(true);
  });

  test('in touch again, the watch arms again', () => {
    const watch = new LeaderLossWatch(2);
    expect(run(watch, [0, 7, 8])).toEqual([null, 'silent', null]);
    expect(run(watch, [0, 1, 7])).toEqual([null, null, 'silent']);
    expect(watch.ticksWithoutLeader).toBe(0);
  });

  test('a member that starts with no leader ends nothing it does not have, and fires only after being in touch', () => {
    const watch = new LeaderLossWatch(2);
    expect(run(watch, [undefined, undefined, undefined, undefined])).toEqual([null, null, null, null]);
  });
});
