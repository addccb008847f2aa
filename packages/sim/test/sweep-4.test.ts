import { test } from 'vitest';
import { sweep, sweepRange } from './sweep.js';

// Seeds are split over four files so that vitest runs them on every core; the range rotates daily (sweep.ts).
const range = sweepRange(4);
test(`seeds ${range.from}..${range.from + range.count - 1} keep every safety invariant and converge after healing`, () => {
  sweep(range);
}, 600_000);
