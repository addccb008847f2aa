import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { TestCluster } from './support/cluster.js';

/**
 * Every example under examples/ runs against a real cluster and must end with `ok` (each checks
 * what it shows and throws otherwise): an example that rots fails here.
 */

const dir = fileURLToPath(new URL('../examples/', import.meta.url));
const examples = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'endpoints.ts').sort();
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start();
  await cluster.leader();
});
afterAll(async () => {
  await cluster.close();
});

test('there are examples', () => {
  expect(examples.length).toBeGreaterThan(0);
});

test.concurrent.each(examples)('examples/%s runs and checks itself', async (file) => {
  const endpoints = [1, 2, 3].map((id) => `ws://127.0.0.1:${cluster.node(id).clientPort}`).join(',');
  const child = spawn(process.execPath, ['--import', 'tsx', `${dir}${file}`], { env: { ...process.env, VIGIL_ENDPOINTS: endpoints }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  expect(code, out).toBe(0);
  expect(out.trimEnd().split('\n').at(-1)).toBe('ok');
});
