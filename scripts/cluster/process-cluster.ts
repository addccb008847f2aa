import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Real Vigil processes on loopback, each with its own data directory: what `npm start`, the
 * benchmarks and the integration tests run. Signals go to processes by PID, never by name.
 */

export const vigilBin = fileURLToPath(new URL('../../packages/cli/bin/vigil.js', import.meta.url));

export interface ClusterNode {
  readonly id: number;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  proc: ChildProcess | null;
}

export interface NodeStatusJson {
  id: number;
  role: string;
  term: number;
  leaderId: number | null;
  commitIndex: number;
  appliedIndex: number;
  snapshotIndex: number;
  firstLogIndex: number;
  lastLogIndex: number;
  members: { id: number; role: string; matchIndex: number | null }[];
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Poll `check` until it returns a value (not undefined), or fail after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function fetchJson<T>(url: string, init?: RequestInit & { timeoutMs?: number }): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init?.timeoutMs ?? 2_000) });
  const text = await res.text();
  return { status: res.status, body: (text.length > 0 ? JSON.parse(text) : undefined) as T };
}

export interface ProcessClusterOptions {
  readonly size?: number;
  readonly extraArgs?: string[];
  readonly clusterId?: string;
  /** Data directory root; default a fresh temporary directory, removed by close(). */
  readonly root?: string;
  /** Fixed ports: client basePort+id-1, peer basePort+100+id-1; default free ports. */
  readonly basePort?: number;
  /** Node output to per-node log files under root (default) or to this process's stdio. */
  readonly output?: 'files' | 'inherit';
  readonly logLevel?: string;
  readonly tickMs?: number;
  /** Extra options for node itself (before the script), e.g. `--cpu-prof`. */
  readonly nodeArgs?: string[];
}

export class ProcessCluster {
  readonly nodes = new Map<number, ClusterNode>();
  private constructor(
    readonly root: string,
    readonly clusterId: string,
    private readonly options: ProcessClusterOptions,
    private readonly temporary: boolean,
  ) {}

  static async start(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const temporary = options.root === undefined;
    const root = options.root ?? (await mkdtemp(join(tmpdir(), 'vigil-it-')));
    const cluster = new ProcessCluster(root, options.clusterId ?? 'vigil-test', options, temporary);
    const size = options.size ?? 3;
    for (let id = 1; id <= size; id++) await cluster.define(id);
    for (let id = 1; id <= size; id++) cluster.spawn(id);
    return cluster;
  }

  /** Reserve ports and a data directory for member `id`. */
  async define(id: number): Promise<ClusterNode> {
    const base = this.options.basePort;
    const node: ClusterNode = {
      id,
      clientPort: base === undefined ? await freePort() : base + id - 1,
      peerPort: base === undefined ? await freePort() : base + 100 + id - 1,
      dataDir: join(this.root, this.temporary ? `n${id}` : String(id)),
      logPath: join(this.root, `n${id}.log`),
      proc: null,
    };
    this.nodes.set(id, node);
    return node;
  }

  peersArg(ids: readonly number[] = [...this.nodes.keys()]): string {
    return ids.map((id) => `${id}=127.0.0.1:${this.node(id).peerPort}`).join(',');
  }

  node(id: number): ClusterNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  url(id: number, path: string): string {
    return `http://127.0.0.1:${this.node(id).clientPort}${path}`;
  }

  /** Start member `id` as a process (again, after a kill). */
  spawn(id: number, options: { join?: boolean; peers?: string; args?: string[] } = {}): ChildProcess {
    const n = this.node(id);
    const args = [
      ...(this.options.nodeArgs ?? []),
      vigilBin, 'server',
      '--id', String(id),
      '--cluster-id', this.clusterId,
      '--data-dir', n.dataDir,
      '--client-listen', `127.0.0.1:${n.clientPort}`,
      '--peer-listen', `127.0.0.1:${n.peerPort}`,
      '--peers', options.peers ?? this.peersArg(),
      '--tick-ms', String(this.options.tickMs ?? 50),
      '--log-level', this.options.logLevel ?? 'info',
      ...(options.join === true ? ['--join'] : []),
      ...(this.options.extraArgs ?? []),
      ...(options.args ?? []),
    ];
    if (this.options.output === 'inherit') {
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
      n.proc = proc;
      return proc;
    }
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(n.logPath, { flags: 'a' });
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    n.proc = proc;
    return proc;
  }

  /** Send `signal` to member `id`'s process (by PID) and, for fatal signals, wait for it to exit. */
  async signal(id: number, signal: NodeJS.Signals): Promise<void> {
    const proc = this.node(id).proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      await exited;
      this.node(id).proc = null;
    }
  }

  kill(id: number): Promise<void> {
    return this.signal(id, 'SIGKILL');
  }

  /** SIGSTOP: the process is frozen (sockets open, nothing answered) until resume(). */
  pause(id: number): Promise<void> {
    return this.signal(id, 'SIGSTOP');
  }

  resume(id: number): Promise<void> {
    return this.signal(id, 'SIGCONT');
  }

  /** Graceful stop (SIGTERM), waiting for the exit. */
  stop(id: number): Promise<void> {
    return this.signal(id, 'SIGTERM');
  }

  async status(id: number): Promise<NodeStatusJson> {
    return (await fetchJson<NodeStatusJson>(this.url(id, '/status'))).body;
  }

  live(): number[] {
    return [...this.nodes.values()].filter((n) => n.proc !== null).map((n) => n.id);
  }

  /** The leader that every live member agrees on (polled until it exists). */
  async leader(among: readonly number[] = this.live(), timeoutMs = 15_000): Promise<number> {
    return waitFor(`a leader among ${among.join(',')}`, async () => {
      const statuses = await Promise.all(among.map((id) => this.status(id)));
      const leaders = statuses.filter((s) => s.role === 'leader');
      if (leaders.length !== 1) return undefined;
      const l = leaders[0]!;
      return statuses.every((s) => s.leaderId === l.id && s.term === l.term) ? l.id : undefined;
    }, timeoutMs);
  }

  /** Stop every process (SIGKILL, or SIGTERM when `graceful`); a temporary root is removed. */
  async close(options: { graceful?: boolean } = {}): Promise<void> {
    await Promise.all(
      [...this.nodes.values()].map(async (n) => {
        if (n.proc === null || n.proc.exitCode !== null || n.proc.signalCode !== null) return;
        n.proc.kill('SIGCONT');
        await (options.graceful === true ? this.stop(n.id) : this.kill(n.id));
      }),
    );
    if (this.temporary) await rm(this.root, { recursive: true, force: true });
  }
}
