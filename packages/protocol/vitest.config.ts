// Lets `npx vitest run --root packages/protocol` run this package's tests on their own, before the
// root config knows the package. The root vitest.config.ts is the one `npm test` uses.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
