import { test } from 'vitest';
import { sweep } from './sweep.js';

// Seeds are split over four files so that vitest runs them on every core.
test('seeds 1501..2000 keep every safety invariant and converge after healing', () => {
  sweep(1501, 500);
}, 600_000);
