import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withDeadline } from '../src/gateway/deadline.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('withDeadline', () => {
  it('aborts the signal once the deadline passes while the work is still running', async () => {
    let seen: AbortSignal | undefined;
    const answered = withDeadline(1_000, (signal) => {
      seen = signal;
      return new Promise<string>((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
    });
    vi.advanceTimersByTime(999);
    expect(seen?.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    await expect(answered).resolves.toBe('aborted');
    expect(seen?.aborted).toBe(true);
  });

  it('leaves no timer behind once the work settles, whether it succeeded or failed', async () => {
    const signals: AbortSignal[] = [];
    await expect(withDeadline(1_000, (signal) => (signals.push(signal), Promise.resolve(7)))).resolves.toBe(7);
    await expect(withDeadline(1_000, (signal) => (signals.push(signal), Promise.reject(new Error('no'))))).rejects.toThrow('no');
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(signals.map((s) => s.aborted)).toEqual([false, false]);
  });
});
