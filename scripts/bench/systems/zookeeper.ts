import { type ChildProcess, execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import zookeeper, { type Client, type ZkException } from 'node-zookeeper-client';
import jute from 'node-zookeeper-client/lib/jute/index.js';
import { freePort, waitFor } from '../../cluster/process-cluster.js';
import { nowMs } from '../latency.js';
import { isRunning, killHard, msUntil, rssKiB, spawnLogged, withDeadline } from '../processes.js';
import type { ConnectOptions, Driver, ReadConsistency, StartOptions, System } from '../system.js';

/**
 * ZooKeeper 3.8 (Debian `zookeeper`) as three members on loopback, run with `java` directly. The
 * configuration is the sample zoo.cfg's (tickTime 2000, initLimit 10, syncLimit 5) with the defaults
 * left alone, so forceSync=yes: the transaction log is fsynced before a write is acknowledged.
 * The admin server is off (it would want port 8080) and `srvr` is whitelisted to find the leader.
 * Only a caller that needs sessions shorter than 4 s (recipes.ts) gets a shorter tick.
 */

const zookeeperJar = process.env['ZOOKEEPER_JAR'] ?? '/usr/share/java/zookeeper.jar';
const javaBin = process.env['JAVA_BIN'] ?? 'java';
/** Upstream zkEnv.sh's ZK_SERVER_HEAP default (1000 MB); Debian's packaging sets none. */
const javaHeapArg = '-Xmx1000m';
export const sessionTimeoutMs = 10_000;
/** The sample zoo.cfg's tick. */
const tickTimeMsDefault = 2_000;
/**
 * node-zookeeper-client waits `spinDelay` (default 1000 ms) before trying the next server; the Java
 * client waits a random 0–1000 ms. 100 ms keeps the client library from dominating failover.
 */
const spinDelayMs = 100;
/** The restart probe's client redials this often, so that its figure is not rounded up to spinDelayMs. */
export const restartProbeSpinDelayMs = 10;
const fourLetterDeadlineMs = 1_000;
const connectDeadlineMs = 15_000;

interface Member {
  readonly id: number;
  readonly clientPort: number;
  readonly quorumPort: number;
  readonly electionPort: number;
  readonly dir: string;
  proc: ChildProcess | null;
}

export class ZooKeeperSystem implements System {
  readonly name = 'zookeeper' as const;
  readonly semantics = [
    'create = create (persistent); set = setData(version -1)',
    'linearizable get = sync + getData pipelined on the session (ZooKeeper orders a session\'s requests, so the read waits for the sync); sequential get = getData',
    'watch = getData watch, re-armed by a new getData after each event (node-zookeeper-client has no persistent watches)',
    `JVM heap ${javaHeapArg}; client spinDelay ${spinDelayMs} ms`,
    'each connection is one session given all three servers (the client shuffles them)',
  ];
  private members: Member[] = [];
  private killed: Member | null = null;
  /** The tick of the running cluster (zoo.cfg `tickTime`). */
  tickTimeMs = tickTimeMsDefault;

  async unavailable(): Promise<string | null> {
    try {
      await access(zookeeperJar);
      await promisify(execFile)(javaBin, ['-version']);
      return null;
    } catch {
      return `no ${zookeeperJar} or no java (run scripts/bench/install-peers.sh, or set ZOOKEEPER_JAR/JAVA_BIN)`;
    }
  }

  async version(): Promise<string> {
    try {
      const { stdout } = await promisify(execFile)('dpkg-query', ['-W', '-f=${Version}', 'zookeeper']);
      return stdout.trim();
    } catch {
      return 'unknown';
    }
  }

  /**
   * ZooKeeper grants no session shorter than two ticks: a `sessionTimeoutMinMs` below 4 s shortens
   * the tick to half of it (initLimit and syncLimit, counted in ticks, shrink with it).
   */
  async start(dir: string, options: StartOptions = {}): Promise<void> {
    this.tickTimeMs = Math.min(tickTimeMsDefault, Math.floor((options.sessionTimeoutMinMs ?? Number.POSITIVE_INFINITY) / 2));
    for (let id = 1; id <= 3; id++) {
      this.members.push({
        id,
        clientPort: await freePort(),
        quorumPort: await freePort(),
        electionPort: await freePort(),
        dir: join(dir, `n${id}`),
        proc: null,
      });
    }
    const servers = this.members.map((m) => `server.${m.id}=127.0.0.1:${m.quorumPort}:${m.electionPort}`);
    for (const m of this.members) {
      await mkdir(join(m.dir, 'data'), { recursive: true });
      await writeFile(join(m.dir, 'data', 'myid'), `${m.id}\n`);
      await writeFile(join(m.dir, 'zoo.cfg'), [
        `tickTime=${this.tickTimeMs}`,
        'initLimit=10',
        'syncLimit=5',
        `dataDir=${join(m.dir, 'data')}`,
        `clientPort=${m.clientPort}`,
        'clientPortAddress=127.0.0.1',
        'maxClientCnxns=0',
        'admin.enableServer=false',
        '4lw.commands.whitelist=srvr,ruok',
        ...servers,
        '',
      ].join('\n'));
    }
    for (const m of this.members) this.spawn(m);
    await this.waitForQuorum(this.members);
  }

  private spawn(m: Member): void {
    m.proc = spawnLogged({
      command: javaBin,
      args: [javaHeapArg, '-cp', zookeeperJar, 'org.apache.zookeeper.server.quorum.QuorumPeerMain', join(m.dir, 'zoo.cfg')],
      logPath: join(m.dir, 'server.log'),
      cwd: m.dir,
    });
  }

  /** Every member of `among` serving as leader or follower, exactly one leader; its index. */
  private async waitForQuorum(among: readonly Member[], timeoutMs = 60_000): Promise<number> {
    return waitFor('a ZooKeeper quorum', async () => {
      const modes = await Promise.all(among.map((m) => fourLetterWord(m.clientPort, 'srvr').then((out) => /Mode: (\w+)/.exec(out)?.[1])));
      if (!modes.every((mode) => mode === 'leader' || mode === 'follower')) return undefined;
      if (modes.filter((mode) => mode === 'leader').length !== 1) return undefined;
      return this.members.indexOf(among[modes.indexOf('leader')]!);
    }, timeoutMs, 100);
  }

  endpoints(options: ConnectOptions): string[] {
    return this.members.map((_, i) => `127.0.0.1:${this.members[(options.preferredMember + i) % this.members.length]!.clientPort}`);
  }

  async connect(options: ConnectOptions): Promise<Driver> {
    const servers = this.endpoints(options).join(',');
    return new ZooKeeperDriver(await openSession(servers), () => openSession(servers));
  }

  async killLeader(): Promise<number> {
    const m = this.members[await this.waitForQuorum(this.members.filter((o) => isRunning(o.proc)))]!;
    const killedAt = nowMs();
    await killHard(m.proc);
    m.proc = null;
    this.killed = m;
    return killedAt;
  }

  async restartKilled(): Promise<number> {
    const m = this.killed;
    if (m === null) throw new Error('zookeeper: no member was killed');
    this.killed = null;
    const spawnedAt = nowMs();
    this.spawn(m);
    // A session on the restarted member alone (the client redials every spinDelay until it is up);
    // a linearizable read is sync + getData, as the driver does it.
    const session = await openSession(`127.0.0.1:${m.clientPort}`, sessionTimeoutMs, restartProbeSpinDelayMs);
    const driver = new ZooKeeperDriver(session, () => openSession(`127.0.0.1:${m.clientPort}`));
    try {
      const servingMs = await msUntil('the restarted ZooKeeper member to serve', spawnedAt, () => driver.get('/', 'linearizable'));
      await this.waitForQuorum(this.members);
      return servingMs;
    } finally {
      await driver.close();
    }
  }

  async rssKiB(): Promise<number[]> {
    return Promise.all(this.members.map((m) => rssKiB(m.proc?.pid)));
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      await killHard(m.proc);
      m.proc = null;
    }));
  }
}

/** A connected session of node-zookeeper-client on `connectionString` (`host:port,…`). */
export async function openSession(connectionString: string, sessionTimeout = sessionTimeoutMs, spinDelay = spinDelayMs): Promise<Client> {
  const client = zookeeper.createClient(connectionString, { sessionTimeout, spinDelay, retries: 0 });
  const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
  client.connect();
  try {
    await withDeadline(connected, connectDeadlineMs, 'ZooKeeper session');
  } catch (err) {
    client.close();
    throw err;
  }
  return client;
}

/** Send a four-letter word to a client port on loopback and read the reply until the server closes (bounded). */
export function fourLetterWord(port: number, word: string): Promise<string> {
  return withDeadline(new Promise<string>((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk: string) => (out += chunk));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(fourLetterDeadlineMs, () => socket.destroy(new Error(`${word} on ${port} timed out`)));
  }), fourLetterDeadlineMs + 100, `${word} on ${port}`);
}

/** A node-zookeeper-client callback that settles a promise. */
export function settle<T>(resolve: (value: T) => void, reject: (err: Error) => void, value: T) {
  return (error: ZkException | null): void => (error === null ? resolve(value) : reject(error));
}

export class ZooKeeperDriver implements Driver {
  private closed = false;
  private rearming = new Set<Promise<void>>();
  private watches = new Set<{ active: boolean }>();

  /**
   * An expired session is over for good in ZooKeeper; like Curator, the driver then opens a new one
   * (its watches are not carried over, which the benchmark never needs after a failover).
   */
  constructor(
    private client: Client,
    private readonly reopen: () => Promise<Client>,
  ) {
    this.onExpiry(client);
  }

  private onExpiry(client: Client): void {
    client.once('expired', () => {
      client.close();
      if (this.closed) return;
      void this.reopen().then((fresh) => {
        if (this.closed) fresh.close();
        else {
          this.client = fresh;
          this.onExpiry(fresh);
        }
      }, () => this.onExpiry(client));
    });
  }

  create(path: string, data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.client.create(path, toBuffer(data), zookeeper.CreateMode.PERSISTENT, settle(resolve, reject, undefined)));
  }

  set(path: string, data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.client.setData(path, toBuffer(data), -1, settle(resolve, reject, undefined)));
  }

  async get(path: string, consistency: ReadConsistency): Promise<void> {
    // Both requests go out at once: the session's FIFO order holds the getData back until the sync is answered.
    const synced = consistency === 'linearizable' ? this.sync(path) : undefined;
    const read = new Promise<void>((resolve, reject) => this.client.getData(path, settle(resolve, reject, undefined)));
    await Promise.all([synced, read]);
  }

  /**
   * ZooKeeper's sync(path), which node-zookeeper-client 1.x lacks. SyncRequest and GetACLRequest
   * are both `{ ustring path }` on the wire, so a GetACLRequest payload goes out under the SYNC
   * op code. The header reports DELETE to the client's response decoder, which then expects no
   * body, as the SyncResponse's path is not needed (the client frames replies by length, so the
   * unread bytes are harmless).
   */
  private sync(path: string): Promise<void> {
    const header = new jute.protocol.RequestHeader();
    header.type = jute.OP_CODES.DELETE;
    const serialize = header.serialize.bind(header);
    header.serialize = (buffer: Buffer, offset: number): number => {
      header.type = jute.OP_CODES.SYNC;
      try {
        return serialize(buffer, offset);
      } finally {
        header.type = jute.OP_CODES.DELETE;
      }
    };
    const payload = new jute.protocol.GetACLRequest();
    payload.path = path;
    return new Promise((resolve, reject) => this.client.connectionManager.queue(new jute.Request(header, payload), settle(resolve, reject, undefined)));
  }

  async watch(path: string, onChange: () => void): Promise<() => void> {
    const watch = { active: true };
    this.watches.add(watch);
    const arm = (): Promise<void> => new Promise<void>((resolve, reject) => {
      this.client.getData(path, () => {
        if (!watch.active) return;
        onChange();
        const rearm = arm().catch(() => undefined);
        this.rearming.add(rearm);
        void rearm.finally(() => this.rearming.delete(rearm));
      }, settle(resolve, reject, undefined));
    });
    await arm();
    return () => {
      watch.active = false;
      this.watches.delete(watch);
    };
  }

  async settled(): Promise<void> {
    while (this.rearming.size > 0) await Promise.all(this.rearming);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.active = false;
    const disconnected = new Promise<void>((resolve) => this.client.once('disconnected', () => resolve()));
    this.client.close();
    await withDeadline(disconnected, 2_000, 'ZooKeeper close').catch(() => undefined);
  }
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
