import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { fetchJson, freePort, waitFor } from './support/cluster.js';

/** The README's first command: `npm start` runs three nodes and Ctrl-C stops them cleanly. */
const script = fileURLToPath(new URL('../scripts/local-cluster.ts', import.meta.url));
let dataDir: string | undefined;
afterEach(async () => {
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

test('the local cluster elects a leader, serves writes, and stops all three nodes on SIGINT', async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'vigil-start-'));
  const basePort = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', script, '--data-dir', dataDir, '--base-port', String(basePort), '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    const leader = await waitFor('a leader on the local cluster', async () => {
      const s = await fetchJson<{ leaderId: number | null }>(`http://127.0.0.1:${basePort}/status`);
      return s.body.leaderId ?? undefined;
    });
    const write = await fetchJson<{ revision: number }>(`http://127.0.0.1:${basePort + leader - 1}/v1/znodes/started`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ data: Buffer.from('yes').toString('base64') }),
    });
    expect(write.status).toBe(201);
    expect((await readdir(dataDir)).sort()).toEqual(['1', '1.pid', '2', '2.pid', '3', '3.pid']);
  } finally {
    const exit = once(proc, 'exit');
    proc.kill('SIGINT');
    const [code] = (await exit) as [number | null];
    expect(code, output).toBe(0);
  }
  expect(output).toContain('all nodes stopped');
  expect((await readdir(dataDir)).sort()).toEqual(['1', '2', '3']);
});
