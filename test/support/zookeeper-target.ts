// The two servers the ZooKeeper-protocol tests run against: a real ZooKeeper 3.8 (Debian's
// package, standalone) and Vigil's ZooKeeper listener on a three-member cluster. The same
// assertions run against both (`describe.each(zookeeperTargets())`); VIGIL_ZK_TARGETS picks them.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fourLetterWord } from '../../scripts/bench/systems/zookeeper.js';
import { freePort, ProcessCluster, waitFor } from '../../scripts/cluster/process-cluster.js';

export type ZooKeeperTargetName = 'zookeeper' | 'vigil';

export interface ZooKeeperTarget {
  readonly name: ZooKeeperTargetName;
  /** `host:port[,host:port…]`, every member. */
  readonly connectString: string;
  /** The three-member Vigil cluster behind the listener (null for the standalone ZooKeeper). */
  readonly cluster: ProcessCluster | null;
  stop(): Promise<void>;
}

export const zookeeperJar = process.env['ZOOKEEPER_JAR'] ?? '/usr/share/java/zookeeper.jar';
export const javaBin = process.env['JAVA_BIN'] ?? 'java';
export const zkCliScript = process.env['ZKCLI'] ?? '/usr/share/zookeeper/bin/zkCli.sh';
/**
 * ZooKeeper grants sessions between 2 and 20 ticks by default; a 200 ms tick lets the tests ask
 * for 4 s sessions (an ended session is noticed within seconds) and min/max widen the range.
 */
const tickTimeMs = 200;
const sessionTimeoutMinMs = 400;
const sessionTimeoutMaxMs = 60_000;
const startDeadlineMs = 30_000;

/** The targets this run covers: env VIGIL_ZK_TARGETS, a comma list, default both. */
export function zookeeperTargetNames(): ZooKeeperTargetName[] {
  const names = (process.env['VIGIL_ZK_TARGETS'] ?? 'zookeeper,vigil').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) if (n !== 'zookeeper' && n !== 'vigil') throw new Error(`VIGIL_ZK_TARGETS: unknown target ${n} (zookeeper, vigil)`);
  return names as ZooKeeperTargetName[];
}

export function startTarget(name: ZooKeeperTargetName): Promise<ZooKeeperTarget> {
  return name === 'zookeeper'
    ? startRealZooKeeper().then((z) => ({ name, connectString: z.connectString, cluster: null, stop: () => z.stop() }))
    : startVigil().then((v) => ({ name, connectString: v.connectString, cluster: v.cluster, stop: () => v.stop() }));
}


/** The member of `cluster` whose ZooKeeper port is `port` (a client's `remotePort`, or the port of the server a Java client names). */
export function memberOnZooKeeperPort(cluster: ProcessCluster, port: number): number {
  const member = [...cluster.nodes.values()].find((n) => n.zookeeperPort === port);
  if (member === undefined) throw new Error(`no member serves ZooKeeper on port ${port}`);
  return member.id;
}

/**
 * Vigil only (a standalone ZooKeeper has no other member to fail over to; a no-op there): SIGKILL
 * the Raft leader, wait for the others to elect one, and restart the killed member.
 */
export async function killLeaderAndRestart(target: ZooKeeperTarget): Promise<void> {
  const cluster = target.cluster;
  if (cluster === null) return;
  await cluster.kill(await cluster.leader());
  await cluster.leader(cluster.live(), 20_000);
  await cluster.heal();
}

/** A standalone ZooKeeper 3.8 on a free loopback port with a temporary data directory. */
export async function startRealZooKeeper(): Promise<{ connectString: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-zk-'));
  const port = await freePort();
  await writeFile(join(dir, 'zoo.cfg'), [
    `tickTime=${tickTimeMs}`,
    `minSessionTimeout=${sessionTimeoutMinMs}`,
    `maxSessionTimeout=${sessionTimeoutMaxMs}`,
    `dataDir=${join(dir, 'data')}`,
    `clientPort=${port}`,
    'clientPortAddress=127.0.0.1',
    'maxClientCnxns=0',
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
    // Containers and TTL nodes are reaped by a task that runs every minute by default.
    'znode.container.checkIntervalMs=100',
    'extendedTypesEnabled=true',
    '',
  ].join('\n'));
  const log = createWriteStream(join(dir, 'server.log'));
  // The jar's manifest names its dependencies (Debian's /usr/share/java), so it is the whole classpath.
  const proc: ChildProcess = spawn(javaBin, [
    '-Xmx256m',
    '-Dzookeeper.extendedTypesEnabled=true',
    '-Dznode.container.checkIntervalMs=100',
    '-cp', zookeeperJar,
    'org.apache.zookeeper.server.ZooKeeperServerMain', join(dir, 'zoo.cfg'),
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    }
    log.end();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('ZooKeeper to answer ruok', async () => {
      if (proc.exitCode !== null) throw new Error(`ZooKeeper exited ${proc.exitCode} (see ${join(dir, 'server.log')})`);
      const answer = await fourLetterWord(port, 'ruok').catch(() => '');
      return answer === 'imok' ? true : undefined;
    }, startDeadlineMs, 100);
  } catch (err) {
    await stop();
    throw err;
  }
  return { connectString: `127.0.0.1:${port}`, stop };
}

/** A three-member Vigil cluster, each member serving ZooKeeper's protocol, with a leader. */
export async function startVigil(): Promise<{ cluster: ProcessCluster; connectString: string; stop(): Promise<void> }> {
  const cluster = await ProcessCluster.start({ size: 3, zookeeper: true });
  try {
    await cluster.leader();
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return { cluster, connectString: cluster.zookeeperConnectString(), stop: () => cluster.close() };
}
