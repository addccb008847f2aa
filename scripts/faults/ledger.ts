import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * What a fault run holds outside its own process — member PIDs and the tmpfs mount — written to
 * a file as it changes (with the run's temporary directory), so that a runner killed with SIGKILL (no `finally` runs) leaves a list the
 * next run with the same run number reclaims: each PID is killed only if it is still the same
 * process (its start time, as the kernel counts it, is the one recorded: a PID may have been
 * reused, by another test's member even), each mount is unmounted. The namespaces, veths and
 * rules are named by the run number and reclaimed by FaultNetwork itself.
 */
export class RunLedger {
  /** PID → the process's start time (field 22 of /proc/<pid>/stat), which a reused PID does not share. */
  private readonly pids = new Map<number, string>();
  private readonly mounts = new Set<string>();
  private readonly dirs = new Set<string>();
  readonly path: string;

  constructor(run: number) {
    this.path = join(tmpdir(), `vigil-faults-run-${run}.json`);
  }

  /** Kills and unmounts what a killed run with this number left behind; returns what it did. */
  async reclaim(): Promise<string[]> {
    let left: { pids?: [number, string][]; mounts?: string[]; dirs?: string[] };
    try {
      left = JSON.parse(await readFile(this.path, 'utf8')) as typeof left;
    } catch {
      return [];
    }
    const done: string[] = [];
    for (const [pid, started] of left.pids ?? []) {
      if (startTime(pid) !== started) continue;
      try {
        process.kill(pid, 'SIGKILL');
        done.push(`killed leftover member process ${pid}`);
      } catch {
        // Gone meanwhile.
      }
    }
    for (const mount of left.mounts ?? []) {
      try {
        await promisify(execFile)('umount', ['-l', mount], { timeout: 10_000 });
        done.push(`unmounted leftover ${mount}`);
      } catch {
        // Not mounted any more.
      }
    }
    for (const dir of left.dirs ?? []) {
      await rm(dir, { recursive: true, force: true });
      done.push(`removed leftover ${dir}`);
    }
    rmSync(this.path, { force: true });
    return done;
  }

  addPid(pid: number): void {
    const started = startTime(pid);
    if (started === undefined) return; // Gone already.
    this.pids.set(pid, started);
    this.save();
  }

  removePid(pid: number): void {
    if (this.pids.delete(pid)) this.save();
  }

  addMount(path: string): void {
    this.mounts.add(path);
    this.save();
  }

  removeMount(path: string): void {
    if (this.mounts.delete(path)) this.save();
  }

  /** A temporary directory of the run (removed with its data if the run was killed). */
  addDir(path: string): void {
    this.dirs.add(path);
    this.save();
  }

  /** Everything was released: the file goes. */
  close(): void {
    rmSync(this.path, { force: true });
  }

  /** Synchronous, so that the file is current at any instant the runner may be killed. */
  private save(): void {
    writeFileSync(this.path, JSON.stringify({ pids: [...this.pids.entries()], mounts: [...this.mounts], dirs: [...this.dirs] }));
  }
}

/** The process's start time in clock ticks since boot, or undefined if there is no such process. */
function startTime(pid: number): string | undefined {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
