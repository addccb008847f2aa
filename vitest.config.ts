import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string): string => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, so `vitest` needs no prior build.
    alias: {
      // Before '@vigil/server', which would otherwise take it as a path under its index.
      '@vigil/server/start': fileURLToPath(new URL('./packages/server/src/start.ts', import.meta.url)),
      '@vigil/raft': src('raft'),
      '@vigil/sim': src('sim'),
      '@vigil/store': src('store'),
      '@vigil/protocol': src('protocol'),
      '@vigil/server': src('server'),
      '@vigil/client': src('client'),
      '@vigil/cli': src('cli'),
      '@vigil/check': src('check'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    // Process tests run dist/: build it first (test/support/build-first.ts).
    globalSetup: ['test/support/build-first.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
