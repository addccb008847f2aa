import { describe, expect, test } from 'vitest';
import { ELECTIONS_ONE_IN, profileOf, replayCommand, runSeed } from '@vigil/sim';
import { SEEDS_PER_FILE, seedBase } from './sweep.js';

describe('reproducibility', () => {
  test('the same seed yields a byte-identical trace', () => {
    const a = runSeed(0x2a, { trace: true });
    const b = runSeed(0x2a, { trace: true });
    expect(a.trace!.length).toBeGreaterThan(1000);
    expect(b.trace!.join('\n')).toBe(a.trace!.join('\n'));
    expect(b.traceHash).toBe(a.traceHash);
  });

  test('the election churn replays byte for byte too', () => {
    const a = runSeed(7, { profile: 'elections', trace: true });
    const b = runSeed(7, { profile: 'elections', trace: true });
    expect(a.trace!.length).toBeGreaterThan(1000);
    expect(b.trace!.join('\n')).toBe(a.trace!.join('\n'));
  });

  test('tracing does not change the run', () => {
    expect(runSeed(0x2a, { trace: false }).traceHash).toBe(runSeed(0x2a, { trace: true }).traceHash);
  });

  test('different seeds take different paths', () => {
    expect(runSeed(1).traceHash).not.toBe(runSeed(2).traceHash);
  });

  test('a failing seed names the one command that replays it', () => {
    expect(replayCommand(0x1f)).toBe('npm run sim -- --seed 0x1f');
  });

  test('a seed draws its profile, so that the seed alone replays it', () => {
    const drawn = Array.from({ length: 2000 }, (_, i) => profileOf(i + 1));
    const elections = drawn.filter((p) => p === 'elections').length;
    expect(elections).toBeGreaterThan(2000 / ELECTIONS_ONE_IN / 2);
    expect(elections).toBeLessThan((2000 / ELECTIONS_ONE_IN) * 2);
    const seed = drawn.indexOf('elections') + 1;
    expect(runSeed(seed).profile).toBe('elections');
    expect(runSeed(seed).traceHash).toBe(runSeed(seed, { profile: 'elections' }).traceHash);
  });
});

describe('the sweep rotates its seeds', () => {
  const day = 86_400_000;
  test('one range per UTC day, disjoint from the next day', () => {
    const today = seedBase(undefined, 20_000 * day);
    expect(seedBase(undefined, 20_000 * day + day - 1)).toBe(today);
    expect(seedBase(undefined, 20_001 * day)).toBe(today + 4 * SEEDS_PER_FILE);
  });

  test('VIGIL_SIM_SEED_BASE picks the range, in decimal or hex', () => {
    expect(seedBase('1')).toBe(1);
    expect(seedBase('0x2a')).toBe(42);
    expect(() => seedBase('-3')).toThrow(/VIGIL_SIM_SEED_BASE/);
    expect(() => seedBase('abc')).toThrow(/VIGIL_SIM_SEED_BASE/);
    expect(() => seedBase(String(0xffff_ffff))).toThrow(/VIGIL_SIM_SEED_BASE/);
  });
});
