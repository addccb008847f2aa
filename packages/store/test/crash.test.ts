import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import { openStore, Store, type StoreDatabase } from '../src/index.js';
import { ReferenceModel } from './reference-model.js';
import { tempDir } from './support.js';
import { workloadEntry } from './workload.js';

const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the child until it has reported `reportsBeforeKill` batches, then SIGKILLs it by PID. */
function runAndKill(path: string, reportsBeforeKill: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let reports = 0;
    let lastReported = 0;
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      const lines = d.toString().trim().split('\n');
      reports += lines.length;
      lastReported = Number(lines[lines.length - 1]);
      if (reports >= reportsBeforeKill && proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL');
    });
    // A child that stops reporting must not outlive the test.
    const guard = setTimeout(() => {
      if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGTERM');
    }, 30_000);
    proc.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal === 'SIGKILL') resolve(lastReported);
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe('crash safety', () => {
  it('a store killed mid-batch reopens at a whole batch, equal to the model at its applied index', async () => {
    const dir = await tempDir();
    try {
      let verifiedUpTo = 0;
      // Kill the same store repeatedly at different moments; each restart continues the workload.
      for (const reportsBeforeKill of [1, 3, 8, 2]) {
        const reported = await runAndKill(dir.path, reportsBeforeKill);
        const store = await openStore({ path: dir.path });
        try {
          // Everything reported before the kill was written; maybe more, never less.
          expect(store.appliedIndex).toBeGreaterThanOrEqual(reported);
          expect(store.appliedIndex).toBeGreaterThan(verifiedUpTo);
          const model = new ReferenceModel();
          for (let i = 1; i <= store.appliedIndex; i++) model.apply(workloadEntry(i));
          expect(await store.digest()).toBe(model.digest());
          await store.verify();
          // Replaying from the start is harmless: entries at or below appliedIndex are skipped.
          expect(await store.apply([workloadEntry(1), workloadEntry(store.appliedIndex)])).toEqual([]);
          verifiedUpTo = store.appliedIndex;
        } finally {
          await store.close();
        }
      }
    } finally {
      await dir.remove();
    }
  });

  it('a failed LevelDB write stops the store, and reopening finds the last whole batch', async () => {
    const dir = await tempDir();
    const db = new Level<Buffer, Buffer>(dir.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    try {
      let failNext = false;
      const flaky: StoreDatabase = {
        keyEncoding: () => db.keyEncoding(),
        valueEncoding: () => db.valueEncoding(),
        batch: () => {
          const real = db.batch();
          return {
            put: (key, value) => real.put(key, value),
            del: (key) => real.del(key),
            write: () => (failNext ? real.close().then(() => Promise.reject(new Error('disk on fire'))) : real.write()),
          };
        },
        iterator: (options) => db.iterator(options),
      };
      const store = await Store.open({ db: flaky });
      await store.apply([workloadEntry(1), workloadEntry(2)]);
      const good = await store.digest();
      failNext = true;
      await expect(store.apply([workloadEntry(3)])).rejects.toThrow('disk on fire');
      // Memory is now ahead of the image: the store refuses to go on rather than diverge.
      expect(() => store.apply([workloadEntry(4)])).toThrow(/write failed/);
      const reopened = await Store.open({ db });
      expect(reopened.appliedIndex).toBe(2);
      expect(await reopened.digest()).toBe(good);
    } finally {
      await db.close();
      await dir.remove();
    }
  });
});
