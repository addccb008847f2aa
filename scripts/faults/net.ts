import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * The fault runner's network: one Linux network namespace per member on a bridge the runner
 * creates, clients in the root namespace. Faults are iptables rules inside the members'
 * namespaces, so they touch nothing outside them; the one root-namespace rule (a FORWARD accept
 * for the bridge, needed where Docker set FORWARD's policy to DROP) is removed by close().
 * Every command has a deadline; close() is idempotent and runs even after a failure.
 */

const run = promisify(execFile);
const commandTimeoutMs = 10_000;

/** Names stay within Linux's 15-character interface limit for any run number 0..255. */
export interface HostAddress {
  readonly id: number;
  readonly namespace: string;
  readonly ip: string;
}

export class FaultNetwork {
  private readonly hosts = new Map<number, HostAddress>();
  private forwardRule = false;
  private closed = false;

  private constructor(
    /** 0..255: this run's subnet (10.213.<run>.0/24) and the prefix of its names. */
    readonly run: number,
  ) {}

  get bridge(): string {
    return `vf${this.run}b`;
  }

  get bridgeIp(): string {
    return `10.213.${this.run}.254`;
  }

  /** Creates the bridge; the caller must close() it, also when anything after this fails. */
  static async create(run: number): Promise<FaultNetwork> {
    if (!Number.isInteger(run) || run < 0 || run > 255) throw new Error(`run number 0..255, not ${run}`);
    const net = new FaultNetwork(run);
    try {
      await net.removeLeftovers();
      await sh('ip', 'link', 'add', net.bridge, 'type', 'bridge');
      await sh('ip', 'addr', 'add', `${net.bridgeIp}/24`, 'dev', net.bridge);
      await sh('ip', 'link', 'set', net.bridge, 'up');
      // Bridged frames pass the root namespace's FORWARD chain when br_netfilter is loaded;
      // Docker leaves that chain's policy at DROP.
      await sh('iptables', '-w', '-I', 'FORWARD', '1', '-i', net.bridge, '-o', net.bridge, '-j', 'ACCEPT');
      net.forwardRule = true;
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** A namespace for member `id` (1..250), plugged into the bridge at 10.213.<run>.<id>. */
  async addHost(id: number): Promise<HostAddress> {
    const existing = this.hosts.get(id);
    if (existing !== undefined) return existing;
    if (!Number.isInteger(id) || id < 1 || id > 250) throw new Error(`host id 1..250, not ${id}`);
    const host: HostAddress = { id, namespace: `vf${this.run}n${id}`, ip: `10.213.${this.run}.${id}` };
    this.hosts.set(id, host);
    const outside = `vf${this.run}h${id}`;
    await sh('ip', 'netns', 'add', host.namespace);
    await sh('ip', 'link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.namespace);
    await sh('ip', 'link', 'set', outside, 'master', this.bridge);
    await sh('ip', 'link', 'set', outside, 'up');
    await inNs(host, 'ip', 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
    await inNs(host, 'ip', 'link', 'set', 'eth0', 'up');
    await inNs(host, 'ip', 'link', 'set', 'lo', 'up');
    return host;
  }

  host(id: number): HostAddress {
    const h = this.hosts.get(id);
    if (h === undefined) throw new Error(`no host ${id}`);
    return h;
  }

  /** `to` stops hearing `from` (a one-way cut: `from` still hears `to`). */
  async dropFrom(to: number, from: number): Promise<void> {
    await inNs(this.host(to), 'iptables', '-w', '-A', 'INPUT', '-s', this.host(from).ip, '-j', 'DROP');
  }

  /** Every member of `a` and every member of `b` stop hearing each other. */
  async cut(a: readonly number[], b: readonly number[]): Promise<void> {
    for (const x of a) {
      for (const y of b) {
        await this.dropFrom(x, y);
        await this.dropFrom(y, x);
      }
    }
  }

  /** Each member drops this fraction of all packets it receives (peers and clients alike). */
  async loss(ids: readonly number[], probability: number): Promise<void> {
    for (const id of ids) {
      await inNs(this.host(id), 'iptables', '-w', '-A', 'INPUT', '-m', 'statistic', '--mode', 'random', '--probability', String(probability), '-j', 'DROP');
    }
  }

  /** Removes every fault rule. */
  async heal(): Promise<void> {
    for (const host of this.hosts.values()) await inNs(host, 'iptables', '-w', '-F', 'INPUT');
  }

  /** The namespaces, veths, bridge and root rule go; safe to call twice and after a failure. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const host of this.hosts.values()) await shQuiet('ip', 'netns', 'del', host.namespace);
    await shQuiet('ip', 'link', 'del', this.bridge);
    if (this.forwardRule) await shQuiet('iptables', '-w', '-D', 'FORWARD', '-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT');
  }

  /** A run killed before its close() left these behind: same names, so remove them first. */
  private async removeLeftovers(): Promise<void> {
    const { stdout } = await run('ip', ['netns', 'list'], { timeout: commandTimeoutMs });
    const prefix = `vf${this.run}n`;
    for (const line of stdout.split('\n')) {
      const name = line.split(' ')[0] ?? '';
      if (name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length))) await shQuiet('ip', 'netns', 'del', name);
    }
    // A veth whose namespace went away goes with it, but one left half-made may not have.
    const links = await run('ip', ['-o', 'link', 'show'], { timeout: commandTimeoutMs });
    const vethPrefix = `vf${this.run}h`;
    for (const line of links.stdout.split('\n')) {
      const name = (line.split(': ')[1] ?? '').split('@')[0] ?? '';
      if (name.startsWith(vethPrefix) && /^\d+$/.test(name.slice(vethPrefix.length))) await shQuiet('ip', 'link', 'del', name);
    }
    await shQuiet('ip', 'link', 'del', this.bridge);
    while (await shQuiet('iptables', '-w', '-D', 'FORWARD', '-i', this.bridge, '-o', this.bridge, '-j', 'ACCEPT'));
  }
}

/** Why this machine cannot run the fault suite, or undefined when it can. */
export async function faultSuiteUnavailable(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'network namespaces and iptables need root (run as root, as CI does)';
  const tools = [
    ['iproute2', 'ip', '-V'],
    ['iptables', 'iptables', '--version'],
    ['util-linux', 'mount', '--version'],
    ['util-linux', 'fallocate', '--version'],
  ] as const;
  for (const [debianPackage, tool, ...args] of tools) {
    try {
      await run(tool, args, { timeout: commandTimeoutMs });
    } catch {
      return `\`${tool}\` is not installed (Debian: apt-get install ${debianPackage})`;
    }
  }
  return undefined;
}

async function sh(command: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: commandTimeoutMs });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

async function shQuiet(command: string, ...args: string[]): Promise<boolean> {
  try {
    await run(command, args, { timeout: commandTimeoutMs });
    return true;
  } catch {
    return false;
  }
}

function inNs(host: HostAddress, ...command: string[]): Promise<string> {
  return sh('ip', 'netns', 'exec', host.namespace, ...command);
}
