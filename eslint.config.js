// Lint holds two lines that good intentions would not: the import direction of docs/design.md,
// and the determinism boundary of the Raft core (no clock, timers, randomness or I/O).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeIo = ['fs', 'net', 'http', 'https', 'child_process', 'dgram', 'worker_threads', 'os', 'cluster', 'dns', 'tls', 'readline', 'perf_hooks', 'timers', 'process'];
const nodeIoPatterns = nodeIo.flatMap((m) => [m, `node:${m}`, `${m}/*`, `node:${m}/*`]);

/** Packages each package may import; everything else under @vigil/* is forbidden. */
const allowed = {
  raft: [],
  sim: ['raft'],
  store: [],
  protocol: [],
  server: ['raft', 'store', 'protocol'],
  client: ['protocol'],
  cli: ['client', 'protocol', 'server'],
};
const all = Object.keys(allowed);

const layering = Object.entries(allowed).map(([pkg, ok]) => ({
  files: [`packages/${pkg}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        ...all.filter((p) => p !== pkg && !ok.includes(p)).map((p) => ({
          group: [`@vigil/${p}`, `@vigil/${p}/*`],
          message: `docs/design.md: @vigil/${pkg} must not import @vigil/${p}.`,
        })),
        { group: ['../../*/src/*', '../../../packages/*'], message: 'Import other packages by their @vigil/* name.' },
        ...(pkg === 'raft' ? [{ group: nodeIoPatterns, message: 'The Raft core does no I/O (docs/design.md).' }] : []),
      ],
    }],
  },
}));

// Recipes are built on the SDK's public API only (docs/design.md), like Curator's on ZooKeeper's:
// within packages/client/src/recipes, the one way out is '../index.js'.
const recipes = {
  files: ['packages/client/src/recipes/**/*.ts'],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: [
        { group: ['@vigil/*'], message: 'Recipes use @vigil/client\'s public API: import it from \'../index.js\'.' },
        { group: ['../*', '!../index.js', '../../*'], message: 'Recipes use @vigil/client\'s public API only: import from \'../index.js\'.' },
      ],
    }],
  },
};

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...layering,
  recipes,
  {
    files: ['packages/raft/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error',
        ...['Date', 'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'performance', 'process', 'queueMicrotask', 'fetch', 'require']
          .map((name) => ({ name, message: 'The Raft core is deterministic: time enters as ticks, I/O through Ready (docs/design.md).' })),
      ],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'Randomness comes from the injected PRNG.' },
        { object: 'globalThis', message: 'No ambient globals in the Raft core.' },
      ],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/sim/src/**'],
    rules: { 'no-console': 'error' },
  },
);
