import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { runCli, type CliIo } from '@vigil/cli';
import { vigilBin } from './cluster.js';

/** What one run of `vigil` printed and how it exited. */
export interface VigilRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly bytes: Buffer;
}

/** Ctrl-C for in-process runs: `interrupt()` is SIGINT reaching the CLI. */
export class FakeInterrupts extends EventEmitter {
  interrupt(): void {
    this.emit('SIGINT');
  }
}

/**
 * Runs the CLI in-process (runCli, as bin/vigil.js does), against whatever cluster `endpoints`
 * names. `onOutput` sees the output as it comes, so a test can wait for a line.
 */
export async function vigil(
  argv: readonly string[],
  options: { endpoints?: readonly string[]; stdin?: string | Buffer; interrupts?: FakeInterrupts; onOutput?: (stdout: string, stderr: string) => void } = {},
): Promise<VigilRun> {
  let stdout = '';
  let stderr = '';
  const bytes: Buffer[] = [];
  const stdin = new PassThrough();
  stdin.end(options.stdin ?? '');
  const sink = new PassThrough();
  sink.resume();
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
      options.onOutput?.(stdout, stderr);
    },
    stderr: (text) => {
      stderr += text;
      options.onOutput?.(stdout, stderr);
    },
    stdoutBytes: (b) => void bytes.push(Buffer.from(b)),
    env: options.endpoints === undefined ? {} : { VIGIL_ENDPOINTS: options.endpoints.join(',') },
    runServer: async () => 1,
    streams: { stdin, stdout: sink, stderr: sink },
    ...(options.interrupts === undefined ? {} : { interrupts: options.interrupts }),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr, bytes: Buffer.concat(bytes) };
}

/** Runs the built binary (bin/vigil.js) as a process; resolves when it exits (bounded by `timeoutMs`). */
export function vigilProcess(
  args: readonly string[],
  options: { input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<VigilRun & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [vigilBin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...options.env } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (d: Buffer) => out.push(d));
    proc.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`vigil ${args.join(' ')} did not exit within ${options.timeoutMs ?? 20_000} ms`));
    }, options.timeoutMs ?? 20_000);
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code: code ?? -1, signal, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), bytes });
    });
    proc.stdin.end(options.input ?? '');
  });
}
