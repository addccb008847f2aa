import { test } from 'vitest';
import { sweep } from './sweep.js';

// Seeds are split over four files so that vitest runs them on every core.
test('seeds 1001..1500 keep every safety invariant and converge after healing', () => {
  sweep(1001, 500);
}, 600_000);
