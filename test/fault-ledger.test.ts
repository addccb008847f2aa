// The fault runner's ledger (scripts/faults/ledger.ts): what a SIGKILLed runner left behind is
// reclaimed by the next run with its number, and nothing else is touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RunLedger } from '../scripts/faults/ledger.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function sleeper(): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  children.push(child);
  return child;
}

describe('the fault runner ledger', () => {
  it('the next run with the same number kills the recorded processes and removes the recorded directories', async () => {
    const left = new RunLedger(250);
    const child = sleeper();
    const dir = await mkdtemp(join(tmpdir(), 'vigil-ledger-test-'));
    left.addPid(child.pid!);
    left.addDir(dir);
    // The runner is killed here: no close(). The next run reclaims.
    const exited = once(child, 'exit');
    const done = await new RunLedger(250).reclaim();
    expect(await exited).toEqual([null, 'SIGKILL']);
    expect(done).toEqual([`killed leftover member process ${child.pid}`, `removed leftover ${dir}`]);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(left.path)).toBe(false);
  });

  it('a recorded PID now held by another process (other start time) is left alone', async () => {
    const left = new RunLedger(251);
    const child = sleeper();
    left.addPid(child.pid!);
    // Pretend the PID was recorded for an older process that has since gone and been reused.
    const recorded = JSON.parse(await readFile(left.path, 'utf8')) as { pids: [number, string][] };
    recorded.pids = recorded.pids.map(([pid, started]) => [pid, String(Number(started) - 1)]);
    await writeFile(left.path, JSON.stringify(recorded));
    expect(await new RunLedger(251).reclaim()).toEqual([]);
    expect(child.exitCode === null && child.signalCode === null).toBe(true);
  });

  it('a run that closed its ledger leaves nothing to reclaim', async () => {
    const ledger = new RunLedger(252);
    const child = sleeper();
    ledger.addPid(child.pid!);
    ledger.removePid(child.pid!);
    ledger.close();
    expect(await new RunLedger(252).reclaim()).toEqual([]);
    expect(child.exitCode === null && child.signalCode === null).toBe(true);
  });
});
