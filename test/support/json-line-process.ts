// A helper process the ZooKeeper-client tests drive (a Kazoo or Curator program): it reports JSON
// lines on stdout, collected as they come, and takes commands as lines on stdin.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { withDeadline } from '../../scripts/bench/processes.js';

export type Report = Record<string, unknown>;

export class JsonLineProcess {
  readonly reports: Report[] = [];
  readonly exited: Promise<number | null>;
  private stderr = '';
  private constructor(readonly proc: ChildProcess, private readonly deadlineMs: number) {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) this.reports.push(JSON.parse(line) as Report);
    });
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-4_000)));
    this.exited = once(proc, 'exit').then(([code]) => code as number | null);
  }

  /** `deadlineMs` bounds `status()`: how long the process may take to finish once asked. */
  static start(command: string, args: readonly string[], options: { cwd: string; deadlineMs: number }): JsonLineProcess {
    return new JsonLineProcess(spawn(command, args, { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] }), options.deadlineMs);
  }

  has(predicate: (r: Report) => boolean): boolean {
    return this.reports.some(predicate);
  }

  /** Sends one command line on stdin. */
  send(line: string): void {
    this.proc.stdin!.write(`${line}\n`);
  }

  /** The exit status, bounded; the last of stderr in the message when it is not 0. */
  async status(): Promise<number | null> {
    const code = await withDeadline(this.exited, this.deadlineMs, `helper process ${this.proc.pid}`);
    if (code !== 0) console.error(`helper process ${this.proc.pid} exited ${code}:\n${this.stderr}`);
    return code;
  }

  kill(): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}
