import { type ChildProcess, execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3, type IOptions } from 'etcd3';
import { freePort, waitFor } from '../../cluster/process-cluster.js';
import { nowMs } from '../latency.js';
import { isRunning, killHard, msUntil, rssKiB, spawnLogged, withDeadline } from '../processes.js';
import type { ConnectOptions, Driver, ReadConsistency, StartOptions, System } from '../system.js';

/**
 * etcd 3.4 (Debian `etcd-server`) as three members on loopback with its production defaults:
 * fsync of the WAL on every commit, 100 ms heartbeat, 1000 ms election timeout.
 */

const etcdBin = process.env['ETCD_BIN'] ?? 'etcd';
/** Bounds a unary call (not a watch stream): failover must see a dead leader as an error. */
const unaryDeadlineMs = 5_000;
const statusDeadlineMs = 1_000;

interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly logPath: string;
  proc: ChildProcess | null;
}

export class EtcdSystem implements System {
  readonly name = 'etcd' as const;
  readonly semantics = [
    'create = txn (if create_revision == 0 then put), i.e. put-if-absent, one round trip like a znode create',
    'set = put; linearizable get = range (etcd default, ReadIndex); sequential get = serializable range (member-local)',
    'watch = one watch stream per client on the key',
    'each connection is an etcd3 client given all three endpoints (it picks a member per call, as etcd3 does)',
  ];
  private members: Member[] = [];
  private killed: Member | null = null;

  async unavailable(): Promise<string | null> {
    try {
      await promisify(execFile)(etcdBin, ['--version']);
      return null;
    } catch {
      return `no '${etcdBin}' binary (run scripts/bench/install-peers.sh, or set ETCD_BIN)`;
    }
  }

  async version(): Promise<string> {
    const { stdout } = await promisify(execFile)(etcdBin, ['--version']);
    return /etcd Version: (\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0]!;
  }

  /** etcd has no sessions; its lease floor is 1.5 election timeouts rounded up to seconds (2 s here), whatever is asked. */
  async start(dir: string, _options?: StartOptions): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (let i = 1; i <= 3; i++) {
      this.members.push({
        name: `n${i}`,
        clientPort: await freePort(),
        peerPort: await freePort(),
        dataDir: join(dir, `n${i}`),
        logPath: join(dir, `n${i}.log`),
        proc: null,
      });
    }
    for (const m of this.members) this.spawn(m);
    await this.leaderIndex();
    await this.assertAllRunning();
  }

  /** A member that exited by itself (port taken, crash) would leave a two-member cluster that fails over nowhere. */
  private async assertAllRunning(): Promise<void> {
    const dead = this.members.find((m) => !isRunning(m.proc));
    if (dead === undefined) return;
    const log = await readFile(dead.logPath, 'utf8').catch(() => '');
    throw new Error(`etcd ${dead.name} exited (exit ${String(dead.proc?.exitCode)}): ${log.slice(-800)}`);
  }

  private spawn(m: Member): void {
    const initialCluster = this.members.map((o) => `${o.name}=http://127.0.0.1:${o.peerPort}`).join(',');
    m.proc = spawnLogged({
      command: etcdBin,
      args: [
        '--name', m.name,
        '--data-dir', m.dataDir,
        '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
        '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
        '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', 'vigil-bench',
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      logPath: m.logPath,
    });
  }

  endpoints(options: ConnectOptions): string[] {
    return this.members.map((_, i) => `http://127.0.0.1:${this.members[(options.preferredMember + i) % this.members.length]!.clientPort}`);
  }

  /** The index of the member every live member names as leader, polled until there is one. */
  private async leaderIndex(timeoutMs = 30_000): Promise<number> {
    return waitFor('an etcd leader', async () => {
      const live = this.members.filter((m) => isRunning(m.proc));
      const statuses = await Promise.all(live.map((m) => memberStatus(m.clientPort)));
      const leader = statuses[0]?.leader;
      if (leader === undefined || leader === '0' || !statuses.every((s) => s.leader === leader)) return undefined;
      const index = this.members.findIndex((m) => statuses[live.indexOf(m)]?.memberId === leader);
      return index >= 0 ? index : undefined;
    }, timeoutMs, 100);
  }

  async connect(options: ConnectOptions): Promise<Driver> {
    const client = new Etcd3(clientOptions(this.endpoints(options)));
    // One round trip so that connection set-up is not measured as the first request's latency.
    await client.get('/bench').serializable(true).buffer();
    return new EtcdDriver(client);
  }

  async killLeader(): Promise<number> {
    const m = this.members[await this.leaderIndex()]!;
    const killedAt = nowMs();
    await killHard(m.proc);
    m.proc = null;
    this.killed = m;
    return killedAt;
  }

  async restartKilled(): Promise<number> {
    const m = this.killed;
    if (m === null) throw new Error('etcd: no member was killed');
    this.killed = null;
    const spawnedAt = nowMs();
    this.spawn(m);
    // A fresh client on the restarted member alone for each try (etcd3 backs off from a host that
    // failed, 5 s, which would be timed instead of etcd); a range is linearizable by default (ReadIndex).
    const servingMs = await msUntil('the restarted etcd member to serve', spawnedAt, async () => {
      const client = new Etcd3({ ...clientOptions([`http://127.0.0.1:${m.clientPort}`]), dialTimeout: 1_000 });
      try {
        await new EtcdDriver(client).get('/', 'linearizable');
      } finally {
        client.close();
      }
    });
    await waitFor('the restarted etcd member to follow', async () => {
      const statuses = await Promise.all(this.members.map((o) => memberStatus(o.clientPort)));
      const leader = statuses[0]!.leader;
      return leader !== '0' && statuses.every((s) => s.leader === leader) ? true : undefined;
    }, 30_000, 100);
    return servingMs;
  }

  async rssKiB(): Promise<number[]> {
    await this.assertAllRunning();
    return Promise.all(this.members.map((m) => rssKiB(m.proc?.pid)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      await killHard(m.proc);
      m.proc = null;
    }));
  }
}

/** How every etcd3 client of the benchmark is made: unary calls get a deadline, watch and lease streams none. */
export function clientOptions(hosts: readonly string[]): IOptions {
  return {
    hosts: [...hosts],
    dialTimeout: 2_000,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + unaryDeadlineMs }),
  };
}

async function memberStatus(clientPort: number): Promise<{ memberId: string; leader: string }> {
  const client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}`, dialTimeout: statusDeadlineMs });
  try {
    const status = await withDeadline(client.maintenance.status(), statusDeadlineMs, 'etcd status');
    return { memberId: String(status.header.member_id), leader: String(status.leader) };
  } finally {
    client.close();
  }
}

class EtcdDriver implements Driver {
  private closed = false;
  constructor(private readonly client: Etcd3) {}

  async create(path: string, data: Uint8Array): Promise<void> {
    const result = await this.client.if(path, 'Create', '==', 0).then(this.client.put(path).value(Buffer.from(data))).commit();
    if (!result.succeeded) throw new Error(`etcd: ${path} exists`);
  }

  async set(path: string, data: Uint8Array): Promise<void> {
    await this.client.put(path).value(Buffer.from(data));
  }

  async get(path: string, consistency: ReadConsistency): Promise<void> {
    await this.client.get(path).serializable(consistency === 'sequential').buffer();
  }

  async watch(path: string, onChange: () => void): Promise<() => void> {
    const watcher = await this.client.watch().key(path).create();
    watcher.on('put', onChange);
    return () => void watcher.cancel().catch(() => undefined);
  }

  async settled(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
