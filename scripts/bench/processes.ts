import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { waitFor } from '../cluster/process-cluster.js';
import { nowMs } from './latency.js';

/**
 * Member processes of the compared systems. Every process spawned here is remembered by PID so that
 * `killAllSpawned` (run at exit and on SIGINT/SIGTERM) can SIGKILL exactly those, never anything
 * chosen by name.
 */

const spawned = new Set<ChildProcess>();

export interface SpawnLoggedOptions {
  readonly command: string;
  readonly args: readonly string[];
  readonly logPath: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Open an IPC channel (`proc.send`, `'message'`): for benchmark helpers that are Node scripts. */
  readonly ipc?: boolean;
}

/** Spawn with stdout and stderr appended to `logPath`. */
export function spawnLogged(options: SpawnLoggedOptions): ChildProcess {
  const proc = spawn(options.command, [...options.args], {
    stdio: options.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: options.env ?? process.env,
  });
  const log = createWriteStream(options.logPath, { flags: 'a' });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  spawned.add(proc);
  proc.once('exit', () => spawned.delete(proc));
  return proc;
}

export function isRunning(proc: ChildProcess | null): proc is ChildProcess {
  return proc !== null && proc.exitCode === null && proc.signalCode === null;
}

/** SIGKILL by PID and wait for the exit. */
export async function killHard(proc: ChildProcess | null): Promise<void> {
  if (!isRunning(proc)) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGKILL');
  await exited;
}

export function killAllSpawned(): void {
  for (const proc of spawned) if (isRunning(proc)) proc.kill('SIGKILL');
}

/** Resident set size from /proc/<pid>/status, KiB (NaN if the process is gone). */
export async function rssKiB(pid: number | undefined): Promise<number> {
  if (pid === undefined) return Number.NaN;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Milliseconds from `sinceMs` (`nowMs()`) until `probe` first resolves: tried every 10 ms, each try
 * bounded by 2 s, the whole by a minute.
 */
export async function msUntil(what: string, sinceMs: number, probe: () => Promise<void>): Promise<number> {
  await waitFor(what, () => withDeadline(probe(), 2_000, what).then(() => true), 60_000, 10);
  return nowMs() - sinceMs;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reject after `ms` unless `promise` settles first. */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
