import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type ConnectOptions as SdkOptions } from '@vigil/client';
import { writeTestCerts } from '@vigil/cli';
import { hashSecret } from '@vigil/server';
import { fetchJson, ProcessCluster } from '../../cluster/process-cluster.js';
import { nowMs } from '../latency.js';
import { msUntil, rssKiB } from '../processes.js';
import type { ConnectOptions, Driver, ReadConsistency, StartOptions, System } from '../system.js';
import { openSession, restartProbeSpinDelayMs, sessionTimeoutMs as zooKeeperSessionTimeoutMs, ZooKeeperDriver } from './zookeeper.js';

/**
 * Vigil as three `vigil server` processes (ProcessCluster: fsync on, 50 ms tick), driven through
 * the SDK over WebSocket. Kept in its own module, imported only when Vigil is selected, so the
 * etcd and ZooKeeper comparisons run even while the SDK is unfinished.
 */

const sessionTimeoutMs = 10_000;
/** `vigil server --session-timeout-min-ms` default. */
const sessionTimeoutMinMsDefault = 1_000;

type VigilClient = Awaited<ReturnType<typeof connect>>;

export class VigilSystem implements System {
  readonly name: 'vigil' | 'vigil-secure' | 'vigil-zk';
  readonly semantics = [
    "create = create(mode 'persistent'); set = set; get = get with consistency 'linearizable' or 'sequential'",
    'watch = persistent data watch (SDK watch())',
    'each connection is one SDK session given all three endpoints, the preferred one first',
  ];
  private cluster: ProcessCluster | null = null;
  private killed: number | null = null;
  private readonly secure: boolean;
  /** Clients speak ZooKeeper's protocol to each member's ZooKeeper port, through ZooKeeper's driver. */
  private readonly zookeeper: boolean;
  /** With `secure`: what every session connects with (a user of its own, the cluster's CA). */
  private security: Pick<SdkOptions, 'auth' | 'tls'> = {};

  /**
   * `secure`: TLS on every port (certificates from `vigil certs`' code) and `--auth`; every session
   * authenticates as the user `bench` (not the superuser, so each operation is checked against the
   * ACLs: the nodes it creates are `user:bench`'s alone).
   */
  constructor(options: { secure?: boolean; zookeeper?: boolean } = {}) {
    this.secure = options.secure === true;
    this.zookeeper = options.zookeeper === true;
    this.name = this.secure ? 'vigil-secure' : this.zookeeper ? 'vigil-zk' : 'vigil';
    if (this.secure) this.semantics.push('TLS on the client and peer ports; --auth: every session authenticates as user bench, and every op is checked against its nodes\' ACL (user:bench)');
    if (this.zookeeper) {
      this.semantics.splice(0, this.semantics.length,
        'the ZooKeeper driver (node-zookeeper-client, as for ZooKeeper) on each member\'s --zookeeper-listen port',
        'linearizable get = sync + getData pipelined (a read waits for the sync before it); sequential get = getData, served from the member\'s state as in ZooKeeper',
        'watch = getData watch, re-armed by a new getData after each event',
      );
    }
  }
  async unavailable(): Promise<string | null> {
    return typeof connect === 'function' ? null : '@vigil/client exports no connect()';
  }

  async version(): Promise<string> {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../packages/server/package.json') as { version: string };
    return pkg.version;
  }

  async start(dir: string, options: StartOptions = {}): Promise<void> {
    await mkdir(dir, { recursive: true });
    // The server's floor (1 s) also sets how often it looks for expired sessions: left alone unless lower is asked for.
    const floorMs = options.sessionTimeoutMinMs;
    const extraArgs = floorMs !== undefined && floorMs < sessionTimeoutMinMsDefault ? ['--session-timeout-min-ms', String(floorMs)] : [];
    if (!this.secure) {
      this.cluster = await ProcessCluster.start({ root: dir, logLevel: 'warn', extraArgs, zookeeper: this.zookeeper });
      await this.cluster.leader();
      return;
    }
    const tlsDir = join(dir, 'certs');
    await writeTestCerts({ out: tlsDir, nodes: 3, hosts: ['127.0.0.1', 'localhost'], clients: [] });
    const superSecret = randomBytes(18).toString('base64');
    const basic = (user: string, secret: string): Record<string, string> => ({ authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` });
    extraArgs.push('--auth', '--superuser-hash', await hashSecret(superSecret));
    this.cluster = await ProcessCluster.start({ root: dir, logLevel: 'warn', extraArgs, tlsDir, httpHeaders: basic('super', superSecret) });
    const leader = await this.cluster.leader();
    const secret = randomBytes(18).toString('base64');
    const ca = this.cluster.ca as string;
    const put = await fetchJson(this.cluster.url(leader, '/admin/users/bench'), {
      method: 'PUT',
      headers: { ...basic('super', superSecret), 'content-type': 'application/json' },
      body: JSON.stringify({ secret, roles: [] }),
      ca,
    });
    if (put.status !== 200) throw new Error(`vigil-secure: adding the bench user answered ${put.status} ${JSON.stringify(put.body)}`);
    this.security = { auth: { user: 'bench', secret }, tls: { ca } };
  }

  private get nodes(): ProcessCluster {
    if (this.cluster === null) throw new Error('vigil: not started');
    return this.cluster;
  }

  /** The member processes, for what only Vigil has (its admin API, its data directories). */
  members(): ProcessCluster {
    return this.nodes;
  }

  endpoints(options: ConnectOptions): string[] {
    if (this.zookeeper) {
      const ports = [...this.nodes.nodes.values()].map((n) => n.zookeeperPort as number);
      return ports.map((_, i) => `127.0.0.1:${ports[(options.preferredMember + i) % ports.length]!}`);
    }
    const ports = [...this.nodes.nodes.values()].map((n) => n.clientPort);
    const scheme = this.secure ? 'wss' : 'ws';
    return ports.map((_, i) => `${scheme}://127.0.0.1:${ports[(options.preferredMember + i) % ports.length]!}`);
  }

  async connect(options: ConnectOptions): Promise<Driver> {
    if (this.zookeeper) {
      const servers = this.endpoints(options).join(',');
      return new ZooKeeperDriver(await openSession(servers), () => openSession(servers));
    }
    return new VigilDriver(await connect({ endpoints: this.endpoints(options), sessionTimeoutMs, ...this.security }));
  }

  async killLeader(): Promise<number> {
    const leader = await this.nodes.leader();
    const killedAt = nowMs();
    await this.nodes.kill(leader);
    this.killed = leader;
    return killedAt;
  }

  async restartKilled(): Promise<number> {
    const id = this.killed;
    if (id === null) throw new Error('vigil: no member was killed');
    this.killed = null;
    const spawnedAt = nowMs();
    this.nodes.spawn(id);
    if (this.zookeeper) {
      const server = `127.0.0.1:${this.nodes.node(id).zookeeperPort as number}`;
      const driver = new ZooKeeperDriver(await openSession(server, zooKeeperSessionTimeoutMs, restartProbeSpinDelayMs), () => openSession(server));
      try {
        const servingMs = await msUntil('the restarted vigil member to serve ZooKeeper clients', spawnedAt, () => driver.get('/', 'linearizable'));
        await this.nodes.leader([...this.nodes.nodes.keys()], 30_000);
        return servingMs;
      } finally {
        await driver.close();
      }
    }
    // One client on the restarted member alone, redialing every few ms until it is up.
    const endpoint = `${this.secure ? 'wss' : 'ws'}://127.0.0.1:${this.nodes.node(id).clientPort}`;
    const client = await connect({ endpoints: [endpoint], sessionTimeoutMs, connectTimeoutMs: 60_000, reconnectBackoff: { baseMs: 5, maxMs: 20 }, ...this.security });
    try {
      const servingMs = await msUntil('the restarted vigil member to serve', spawnedAt, async () => void (await client.get('/', { consistency: 'linearizable' })));
      await this.nodes.leader([...this.nodes.nodes.keys()], 30_000);
      return servingMs;
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  async rssKiB(): Promise<number[]> {
    return Promise.all([...this.nodes.nodes.values()].map((n) => rssKiB(n.proc?.pid)));
  }

  async stop(): Promise<void> {
    // The benchmark's temporary root (which holds `dir`) is removed by the caller.
    await this.cluster?.close();
  }
}

class VigilDriver implements Driver {
  private closed = false;
  constructor(private readonly client: VigilClient) {}

  async create(path: string, data: Uint8Array): Promise<void> {
    await this.client.create(path, data, { mode: 'persistent' });
  }

  async set(path: string, data: Uint8Array): Promise<void> {
    await this.client.set(path, data);
  }

  async get(path: string, consistency: ReadConsistency): Promise<void> {
    await this.client.get(path, { consistency });
  }

  async watch(path: string, onChange: () => void): Promise<() => void> {
    const unsubscribe = this.client.watch(path, {}, () => onChange());
    return () => void unsubscribe();
  }

  async settled(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}
