import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pinoPretty from 'pino-pretty';

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
  /** The ZooKeeper-protocol port (`--zookeeper-listen`), when the cluster was started with `zookeeper: true`. */
  readonly zookeeperPort: number | null;
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

/**
 * Ports for test members. A port the kernel offers for `listen(0)` lies in its ephemeral range,
 * where any `connect()` on the machine may take it as a local port between our check and the
 * member's bind (seen in CI: `EADDRINUSE`). So ports are drawn below that range, each process
 * (vitest worker) from a slice of its own, checked free by binding, and never handed out twice.
 */
const handedOut = new Set<number>();
const portSlices = 8;
const lowestPort = 10_000;

function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

async function canBind(port: number): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
  } catch {
    return false;
  }
  server.close();
  await once(server, 'close');
  return true;
}

let slice: { start: number; end: number; next: number } | undefined;

/** A base port such that base + each offset is free (checked by binding) and not handed out before. */
export async function freePorts(offsets: readonly number[]): Promise<number> {
  const span = Math.max(...offsets) + 1;
  if (slice === undefined) {
    const size = Math.floor((ephemeralLow() - lowestPort) / portSlices);
    if (size < 4 * span) throw new Error(`the kernel's ephemeral port range starts too low (${ephemeralLow()}) for test ports below it`);
    const start = lowestPort + (Number(process.env.VITEST_POOL_ID ?? process.pid) % portSlices) * size;
    slice = { start, end: start + size, next: start + ((process.pid * 7919) % (size - span)) };
  }
  for (let tries = 0; tries < 10_000; tries++) {
    if (slice.next + span > slice.end) slice.next = slice.start;
    const base = slice.next++;
    const ports = offsets.map((o) => base + o);
    if (ports.some((p) => handedOut.has(p))) continue;
    if (!(await Promise.all(ports.map(canBind))).every(Boolean)) continue;
    for (const p of ports) handedOut.add(p);
    return base;
  }
  throw new Error('no free test ports below the ephemeral range');
}

/** A loopback port nobody listens on now, below the ephemeral range, never handed out before by this process. */
export async function freePort(): Promise<number> {
  return freePorts([0]);
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

/** `ca`: the PEM CA an https:// URL's certificate must chain to (global fetch takes no CA of its own). */
export async function fetchJson<T>(url: string, init?: RequestInit & { timeoutMs?: number; ca?: string }): Promise<{ status: number; body: T }> {
  const timeoutMs = init?.timeoutMs ?? 2_000;
  if (init?.ca !== undefined && url.startsWith('https:')) {
    const { status, text } = await httpsText(url, init, init.ca, timeoutMs);
    return { status, body: (text.length > 0 ? JSON.parse(text) : undefined) as T };
  }
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, body: (text.length > 0 ? JSON.parse(text) : undefined) as T };
}

function httpsText(url: string, init: RequestInit, ca: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = init.headers === undefined ? {} : Object.fromEntries(new Headers(init.headers));
    const req = httpsRequest(url, { method: init.method ?? 'GET', headers, ca, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(typeof init.body === 'string' ? init.body : undefined);
  });
}

/**
 * Node log lines (pino JSON) as one readable line each, on this process's stdout. One formatter
 * for all nodes, fed whole lines, so that lines of different nodes never interleave mid-line.
 */
let prettyStream: NodeJS.WritableStream | undefined;
function prettyLogs(from: NodeJS.ReadableStream): void {
  prettyStream ??= createPrettyStream();
  const target = prettyStream;
  createInterface({ input: from, crlfDelay: Infinity }).on('line', (line) => target.write(`${line}\n`));
}

function createPrettyStream(): NodeJS.WritableStream {
  const noColor = process.env.NO_COLOR;
  return pinoPretty({
    colorize: process.stdout.isTTY === true && (noColor === undefined || noColor === ''),
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname,nodeId,component',
    messageFormat: 'node {nodeId}{if component} {component}{end}: {msg}',
    singleLine: true,
    destination: process.stdout,
  });
}

export interface ProcessClusterOptions {
  readonly size?: number;
  readonly extraArgs?: string[];
  readonly clusterId?: string;
  /** Data directory root; default a fresh temporary directory, removed by close(). */
  readonly root?: string;
  /** Fixed ports: client basePort+id-1, peer basePort+100+id-1; default free ports. */
  readonly basePort?: number;
  /**
   * Node output to per-node log files under root (default), to this process's stdio as it is
   * (JSON lines), or to its stdout made readable by pino-pretty (for a terminal).
   */
  readonly output?: 'files' | 'inherit' | 'pretty';
  /**
   * Each node in a process group of its own, so that a terminal's Ctrl-C (SIGINT to the
   * foreground group) reaches only this process, which then stops every node once.
   */
  readonly detached?: boolean;
  readonly logLevel?: string;
  readonly tickMs?: number;
  /** Extra options for node itself (before the script), e.g. `--cpu-prof`. */
  readonly nodeArgs?: string[];
  /** Start the processes (default); false only defines the members, to prepare their data dirs first. */
  readonly spawn?: boolean;
  /** Extra environment for every member (e.g. a test-only switch such as VIGIL_POWER_LOSS). */
  readonly env?: Readonly<Record<string, string>>;
  /** Headers of the harness's own HTTP calls (`status`, `leader`): credentials for members run with --auth. */
  readonly httpHeaders?: Readonly<Record<string, string>>;
  /**
   * TLS on: a directory `vigil certs` wrote (`ca.pem`, `node<id>.pem`, `node<id>-key.pem`). Each
   * member gets its certificate, `url()` is https:// and the harness's own calls trust the CA.
   */
  readonly tlsDir?: string;
  /** Each member also serves ZooKeeper's protocol (`--zookeeper-listen`) on a port of its own: `node(id).zookeeperPort`. */
  readonly zookeeper?: boolean;
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
    if (options.spawn !== false) for (let id = 1; id <= size; id++) cluster.spawn(id);
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
      zookeeperPort: this.options.zookeeper !== true ? null : base === undefined ? await freePort() : base + 200 + id - 1,
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

  /** A ZooKeeper connection string naming these members' ZooKeeper ports (`host:port,host:port`). */
  zookeeperConnectString(ids: readonly number[] = [...this.nodes.keys()]): string {
    return ids.map((id) => {
      const port = this.node(id).zookeeperPort;
      if (port === null) throw new Error('the cluster was started without zookeeper: true');
      return `127.0.0.1:${port}`;
    }).join(',');
  }

  url(id: number, path: string): string {
    return `${this.options.tlsDir === undefined ? 'http' : 'https'}://127.0.0.1:${this.node(id).clientPort}${path}`;
  }

  /** The cluster's CA (PEM) when it runs TLS, for clients' `tls.ca` and `fetchJson`'s `ca`. */
  get ca(): string | undefined {
    const dir = this.options.tlsDir;
    if (dir === undefined) return undefined;
    // Read once: `status()` polls it, and the CA does not change under a running harness.
    this.#ca ??= readFileSync(join(dir, 'ca.pem'), 'utf8');
    return this.#ca;
  }
  #ca: string | undefined;

  /** What a member's own TLS settings are, from `tlsDir`. */
  private tlsArgs(id: number): string[] {
    const dir = this.options.tlsDir;
    if (dir === undefined) return [];
    return ['--tls-cert', join(dir, `node${id}.pem`), '--tls-key', join(dir, `node${id}-key.pem`), '--tls-ca', join(dir, 'ca.pem')];
  }

  /** The settings `vigil server` gets for member `id` (also what `vigil snapshot restore` needs). */
  settingsArgs(id: number, peers: string = this.peersArg()): string[] {
    const n = this.node(id);
    return [
      '--id', String(id),
      '--cluster-id', this.clusterId,
      '--data-dir', n.dataDir,
      '--client-listen', `127.0.0.1:${n.clientPort}`,
      '--peer-listen', `127.0.0.1:${n.peerPort}`,
      '--peers', peers,
      ...(n.zookeeperPort === null ? [] : ['--zookeeper-listen', `127.0.0.1:${n.zookeeperPort}`]),
    ];
  }

  /** Start member `id` as a process (again, after a kill). */
  spawn(id: number, options: { join?: boolean; peers?: string; args?: string[]; env?: Readonly<Record<string, string>> } = {}): ChildProcess {
    const n = this.node(id);
    const args = [
      ...(this.options.nodeArgs ?? []),
      vigilBin, 'server',
      ...this.settingsArgs(id, options.peers),
      '--tick-ms', String(this.options.tickMs ?? 50),
      '--log-level', this.options.logLevel ?? 'info',
      ...(options.join === true ? ['--join'] : []),
      ...this.tlsArgs(id),
      ...(this.options.extraArgs ?? []),
      ...(options.args ?? []),
    ];
    const detached = this.options.detached === true;
    if (this.options.output === 'inherit') {
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], detached, env: this.env(options.env) });
      n.proc = proc;
      return proc;
    }
    if (this.options.output === 'pretty') {
      const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached, env: this.env(options.env) });
      prettyLogs(proc.stdout!);
      n.proc = proc;
      return proc;
    }
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached, env: this.env(options.env) });
    const log = createWriteStream(n.logPath, { flags: 'a' });
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    n.proc = proc;
    return proc;
  }

  private env(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv | undefined {
    return this.options.env === undefined && extra === undefined ? undefined : { ...process.env, ...this.options.env, ...extra };
  }

  /** Resolves when member `id`'s process ends by itself (how it ended), marking it not running. */
  async exited(id: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const n = this.node(id);
    const proc = n.proc;
    if (proc === null) throw new Error(`member ${id} is not running`);
    if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
    n.proc = null;
    return { code: proc.exitCode, signal: proc.signalCode };
  }

  /** Send `signal` to member `id`'s process (by PID) and, for fatal signals, wait for it to exit. */
  async signal(id: number, signal: NodeJS.Signals): Promise<void> {
    const proc = this.node(id).proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && signal !== 'SIGINT') {
      proc.kill(signal);
      return;
    }
    // Only a fatal signal is waited for (a listener per SIGSTOP/SIGCONT would pile up).
    const exited = once(proc, 'exit');
    proc.kill(signal);
    await exited;
    this.node(id).proc = null;
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
    const headers = this.options.httpHeaders;
    const ca = this.ca;
    return (await fetchJson<NodeStatusJson>(this.url(id, '/status'), { ...(headers === undefined ? {} : { headers: { ...headers } }), ...(ca === undefined ? {} : { ca }) })).body;
  }

  /** Restarts every member that is not running (killed, or ended by itself) and waits for a leader all of them agree on. */
  async heal(): Promise<number> {
    for (const n of this.nodes.values()) {
      if (n.proc !== null && n.proc.exitCode === null && n.proc.signalCode === null) continue;
      n.proc = null;
      this.spawn(n.id);
    }
    return this.leader();
  }

  live(): number[] {
    return [...this.nodes.values()].filter((n) => n.proc !== null).map((n) => n.id);
  }

  /** The leader that every live member agrees on (polled until it exists). */
  async leader(among: readonly number[] = this.live(), timeoutMs = 15_000): Promise<number> {
    try {
      return await waitFor(`a leader among ${among.join(',')}`, async () => {
        const statuses = await Promise.all(among.map((id) => this.status(id)));
        const leaders = statuses.filter((s) => s.role === 'leader');
        if (leaders.length !== 1) return undefined;
        const l = leaders[0]!;
        return statuses.every((s) => s.leaderId === l.id && s.term === l.term) ? l.id : undefined;
      }, timeoutMs);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${await this.describe(among)}`);
    }
  }

  /** What each member is doing, for a failure's message: its status or why it has none, and its log's last lines. */
  async describe(ids: readonly number[] = [...this.nodes.keys()]): Promise<string> {
    const lines: string[] = [];
    for (const id of ids) {
      const n = this.node(id);
      const exited = n.proc === null ? 'not started' : n.proc.exitCode !== null ? `exited ${n.proc.exitCode}` : n.proc.signalCode !== null ? `killed by ${n.proc.signalCode}` : `pid ${n.proc.pid}`;
      const status = await this.status(id).then((s) => `${s.role} term ${s.term} leader ${s.leaderId} commit ${s.commitIndex} applied ${s.appliedIndex}`, (e: unknown) => `no status (${String(e)})`);
      const tail = await readFile(n.logPath, 'utf8').then((t) => t.trimEnd().split('\n').slice(-8).join('\n    '), () => '(no log file)');
      lines.push(`member ${id}: ${exited}; ${status}\n    ${tail}`);
    }
    return lines.join('\n');
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
