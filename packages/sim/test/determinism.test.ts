import { describe, expect, test } from 'vitest';
import { replayCommand, runSeed } from '@vigil/sim';

describe('reproducibility', () => {
  test('the same seed yields a byte-identical trace', () => {
    const a = runSeed(0x2a, { trace: true });
    const b = runSeed(0x2a, { trace: true });
    expect(a.trace!.length).toBeGreaterThan(1000);
    expect(b.trace!.join('\n')).toBe(a.trace!.join('\n'));
    expect(b.traceHash).toBe(a.traceHash);
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
});
