/**
 * The two ports every compared system implements: `System` runs a three-member cluster on loopback
 * as real processes, `Driver` is one client connection (a session, for Vigil and ZooKeeper) of that
 * system's own client library. The workloads in `workloads.ts` see only these two interfaces, so the
 * same code, in the same process, drives every system.
 */

export type ReadConsistency = 'linearizable' | 'sequential';

export interface Driver {
  /** Create `path` with `data`; rejects if it exists. */
  create(path: string, data: Uint8Array): Promise<void>;
  /** Overwrite the data of `path` unconditionally. */
  set(path: string, data: Uint8Array): Promise<void>;
  get(path: string, consistency: ReadConsistency): Promise<void>;
  /**
   * A persistent watch on the data of `path`: `onChange` runs for every change until the returned
   * function is called. Resolves once the watch is registered with the server as far as the client
   * library can tell (the watch workload also runs warm-up rounds before it measures).
   */
  watch(path: string, onChange: () => void): Promise<() => void>;
  /** Resolves once every watch of this connection is armed again (ZooKeeper re-arms one-shot watches). */
  settled(): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * The shortest session timeout (ZooKeeper, Vigil) the cluster must grant; default each system's
   * own floor. etcd needs nothing: its leases' floor follows from its election timeout.
   */
  readonly sessionTimeoutMinMs?: number;
}

export interface ConnectOptions {
  /** Index (0-based) of the member listed first; each client library still applies its own policy. */
  readonly preferredMember: number;
}

export interface System {
  readonly name: SystemName;
  /** How the common operations map onto this system, printed with the report. */
  readonly semantics: readonly string[];
  /** Why the system cannot run here (binary missing), or null when it can. */
  unavailable(): Promise<string | null>;
  version(): Promise<string>;
  /** Start three members on free loopback ports with data under `dir`; resolves once a leader serves. */
  start(dir: string, options?: StartOptions): Promise<void>;
  connect(options: ConnectOptions): Promise<Driver>;
  /**
   * The member addresses in the form this system's client library takes them (Vigil `ws://…`,
   * etcd `http://…`, ZooKeeper `host:port`), the preferred member first: for clients that are not
   * a `Driver`, such as the recipes' sessions and the candidate processes of recipes.ts.
   */
  endpoints(options: ConnectOptions): string[];
  /**
   * Find the leader, kill -9 its process and return once it is dead, with the time (`nowMs()`)
   * just before the signal, so that leader discovery is not counted as failover time.
   */
  killLeader(): Promise<number>;
  /**
   * Restart the killed member; resolve, once all three members are back with one leader, with
   * the time from its spawn until it first answered a linearizable read through its own client
   * endpoint (a client given that endpoint alone): how long a restarted member takes to serve.
   */
  restartKilled(): Promise<number>;
  /** VmRSS of the three member processes, KiB, in member order. */
  rssKiB(): Promise<number[]>;
  /** Idempotent: SIGKILL every member process still running. */
  stop(): Promise<void>;
}

/**
 * `vigil-secure`: Vigil with TLS everywhere and `--auth` (clients authenticate, ACLs are checked).
 * `vigil-zk`: Vigil driven through its ZooKeeper-protocol port by ZooKeeper's driver (the same
 * client library, node-zookeeper-client, as `zookeeper`).
 */
export type SystemName = 'vigil' | 'vigil-secure' | 'vigil-zk' | 'etcd' | 'zookeeper';
export type RecipeSystemName = Exclude<SystemName, 'vigil-secure' | 'vigil-zk'>;
