import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fetchJson, vigilBin, type NodeStatusJson } from '../cluster/process-cluster.js';
import type { RunLedger } from './ledger.js';
import type { FaultNetwork, HostAddress } from './net.js';

/**
 * Vigil server processes, one per network namespace. The runner holds each process by PID (the
 * `ip netns exec` wrapper execs node in place), so signals reach exactly the member meant.
 */

export const clientPort = 7000;
export const peerPort = 7100;
/** An admin call or status poll that takes longer than this counts as unanswered. */
const adminTimeoutMs = 2_000;
/** How a member ends when its storage fails (packages/server vigil-node.ts: stop, lose nothing acknowledged). */
const fatalExitCode = 70;

export interface Member {
  readonly id: number;
  readonly host: HostAddress;
  readonly dataDir: string;
  readonly logPath: string;
  proc: ChildProcess | null;
  /** SIGSTOPped by the runner. */
  paused: boolean;
  /** Exits the runner did not cause (a crash), with how the process ended. */
  readonly unexpectedExits: string[];
  /** The runner has filled this member's disk (set through `Members.setDiskFull`). */
  diskFull: boolean;
  /** Fail-stops (exit 70, storage error) of processes that ran while the disk was full. */
  readonly diskFullExits: string[];
  /** The peers it was last started with, for a restart after a fail-stop that ended late. */
  peers: readonly number[];
}

export interface MembersOptions {
  readonly net: FaultNetwork;
  readonly root: string;
  readonly clusterId: string;
  /** Extra `vigil server` flags for every member (e.g. `--tick-ms 50`). */
  readonly serverArgs: readonly string[];
  /** Extra environment for every member (the known-bad switch). */
  readonly env: Readonly<Record<string, string>>;
  /** Where each member's PID is noted while it runs (reclaimed if the runner is killed). */
  readonly ledger: RunLedger;
}

export class Members {
  readonly all = new Map<number, Member>();
  private readonly expectedExit = new Set<ChildProcess>();
  /**
   * Processes that ran while their member's disk was full. Such a process may fail-stop (exit 70)
   * after the disk was freed: its graceful shutdown takes up to its deadline, and LevelDB keeps a
   * write error it met until it is reopened. That stop is the expected one, not a crash.
   */
  private readonly sawFullDisk = new WeakSet<ChildProcess>();

  constructor(private readonly options: MembersOptions) {}

  async define(id: number, dataDir?: string): Promise<Member> {
    const host = await this.options.net.addHost(id);
    const member: Member = {
      id,
      host,
      dataDir: dataDir ?? join(this.options.root, `n${id}`),
      logPath: join(this.options.root, `n${id}.log`),
      proc: null,
      paused: false,
      unexpectedExits: [],
      diskFull: false,
      diskFullExits: [],
      peers: [],
    };
    await mkdir(member.dataDir, { recursive: true });
    this.all.set(id, member);
    return member;
  }

  get(id: number): Member {
    const m = this.all.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  peersArg(ids: readonly number[]): string {
    return ids.map((id) => `${id}=${this.get(id).host.ip}:${peerPort}`).join(',');
  }

  clientEndpoint(id: number): string {
    return `ws://${this.get(id).host.ip}:${clientPort}`;
  }

  url(id: number, path: string): string {
    return `http://${this.get(id).host.ip}:${clientPort}${path}`;
  }

  running(): number[] {
    return [...this.all.values()].filter((m) => m.proc !== null).map((m) => m.id);
  }

  /**
   * Marks member `id`'s disk full or freed. The process running now (and any started while it is
   * full) may then fail-stop; one that ends after the disk was freed is restarted at once, as a
   * supervisor would.
   */
  setDiskFull(id: number, full: boolean): void {
    const m = this.get(id);
    m.diskFull = full;
    if (full && m.proc !== null) this.sawFullDisk.add(m.proc);
  }

  /** Starts member `id` with this peer list (a founding member, or `join` for a new one). */
  start(id: number, peers: readonly number[], options: { join?: boolean } = {}): void {
    const m = this.get(id);
    if (m.proc !== null) return;
    m.peers = [...peers];
    const args = [
      'netns', 'exec', m.host.namespace,
      process.execPath, vigilBin, 'server',
      '--id', String(id),
      '--cluster-id', this.options.clusterId,
      '--data-dir', m.dataDir,
      '--client-listen', `${m.host.ip}:${clientPort}`,
      '--peer-listen', `${m.host.ip}:${peerPort}`,
      '--peers', this.peersArg(peers),
      ...(options.join === true ? ['--join'] : []),
      ...this.options.serverArgs,
    ];
    const proc = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.options.env } });
    const log = createWriteStream(m.logPath, { flags: 'a' });
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    if (proc.pid !== undefined) this.options.ledger.addPid(proc.pid);
    if (m.diskFull) this.sawFullDisk.add(proc);
    proc.on('exit', (code, signal) => {
      if (proc.pid !== undefined) this.options.ledger.removePid(proc.pid);
      if (m.proc === proc) m.proc = null;
      m.paused = false;
      if (this.expectedExit.delete(proc)) return;
      const how = signal !== null ? `signal ${signal}` : `exit ${String(code)}`;
      // A member that cannot write stops rather than serve what it cannot make durable.
      if (code === fatalExitCode && this.sawFullDisk.has(proc)) {
        m.diskFullExits.push(how);
        if (!m.diskFull) this.start(id, m.peers);
      } else {
        m.unexpectedExits.push(how);
      }
    });
    m.proc = proc;
  }

  /** kill -9, waiting for the exit. */
  async kill(id: number): Promise<void> {
    await this.end(id, 'SIGKILL');
  }

  /** A graceful stop: SIGTERM, waiting for the exit (the node's own deadline bounds it). */
  async terminate(id: number): Promise<void> {
    await this.end(id, 'SIGTERM');
  }

  pause(id: number): void {
    const m = this.get(id);
    if (m.proc === null || m.paused) return;
    m.proc.kill('SIGSTOP');
    m.paused = true;
  }

  resume(id: number): void {
    const m = this.get(id);
    if (m.proc === null || !m.paused) return;
    m.proc.kill('SIGCONT');
    m.paused = false;
  }

  async wipe(id: number): Promise<void> {
    const m = this.get(id);
    await rm(m.dataDir, { recursive: true, force: true });
    await mkdir(m.dataDir, { recursive: true });
  }

  async status(id: number): Promise<NodeStatusJson | undefined> {
    if (this.get(id).proc === null) return undefined;
    try {
      const { status, body } = await fetchJson<NodeStatusJson>(this.url(id, '/status'), { timeoutMs: adminTimeoutMs });
      return status === 200 ? body : undefined;
    } catch {
      return undefined;
    }
  }

  /** The member that calls itself leader in the highest term, among those that answer. */
  async leader(): Promise<number | undefined> {
    const statuses = await Promise.all(this.running().map((id) => this.status(id)));
    let best: NodeStatusJson | undefined;
    for (const s of statuses) if (s !== undefined && s.role === 'leader' && (best === undefined || s.term > best.term)) best = s;
    return best?.id;
  }

  /** An admin call on the current leader: `{ ok, status, body }`, never throws. */
  async admin(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ ok: boolean; status: number; body: unknown }> {
    // Right after a fault an election may still be under way: give it a few seconds.
    let leader = await this.leader();
    for (const deadline = performance.now() + 5_000; leader === undefined && performance.now() < deadline; leader = await this.leader()) {
      await delay(100);
    }
    if (leader === undefined) return { ok: false, status: 0, body: 'no leader' };
    try {
      const init: RequestInit & { timeoutMs: number } = { method, timeoutMs: adminTimeoutMs * 3 };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      const res = await fetchJson<unknown>(this.url(leader, path), init);
      return { ok: res.status >= 200 && res.status < 300, status: res.status, body: res.body };
    } catch (err) {
      return { ok: false, status: 0, body: String(err) };
    }
  }

  /** Every process ends (SIGCONT first, so a paused one can die); idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.all.keys()].map((id) => this.end(id, 'SIGKILL')));
  }

  private async end(id: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const proc = this.get(id).proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    this.expectedExit.add(proc);
    const exited = once(proc, 'exit');
    proc.kill(signal);
    if (this.get(id).paused) proc.kill('SIGCONT');
    await exited;
  }
}
