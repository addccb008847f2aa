/**
 * What the comparison scripts (compare.ts, recipes.ts) share: which systems to run and loading
 * them, one temporary root whose member processes and files go away on exit, failure or signal,
 * the machine description printed with the figures, and the file of raw figures.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { killAllSpawned } from './processes.js';
import type { System, RecipeSystemName, SystemName } from './system.js';

export const allSystems: readonly SystemName[] = ['vigil', 'vigil-secure', 'vigil-zk', 'etcd', 'zookeeper'];

/** `--systems a,b`; `explicit` when the option was given (a missing system is then a failure). */
/** The recipes benchmark compares recipe libraries: Vigil's SDK is the same with or without TLS and auth. */
export const recipeSystems: readonly RecipeSystemName[] = ['vigil', 'etcd', 'zookeeper'];

export function parseSystems<N extends SystemName = SystemName>(option: string | undefined, known: readonly N[] = allSystems as readonly N[]): { names: N[]; explicit: boolean } {
  const names = (option ?? known.join(',')).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const s of names) if (!known.includes(s as N)) throw new Error(`unknown system '${s}' (known: ${known.join(', ')})`);
  return { names: names as N[], explicit: option !== undefined };
}

/**
 * The system, or (a string) why it cannot run here. Each system's module is imported only when
 * selected, so the others run even while one of them cannot load.
 */
export async function loadSystem(name: SystemName): Promise<System | string> {
  try {
    const system = await (async (): Promise<System> => {
      switch (name) {
        case 'vigil': return new (await import('./systems/vigil.js')).VigilSystem();
        case 'vigil-secure': return new (await import('./systems/vigil.js')).VigilSystem({ secure: true });
        case 'vigil-zk': return new (await import('./systems/vigil.js')).VigilSystem({ zookeeper: true });
        case 'etcd': return new (await import('./systems/etcd.js')).EtcdSystem();
        case 'zookeeper': return new (await import('./systems/zookeeper.js')).ZooKeeperSystem();
      }
    })();
    const why = await system.unavailable();
    return why ?? system;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * A temporary root for the members' data. `cleanUp()` (also on SIGINT/SIGTERM) stops every system
 * started under it, SIGKILLs every process `spawnLogged` started, by PID, and removes the root;
 * at exit, whatever is still running is SIGKILLed.
 */
export class BenchRoot {
  private readonly started: System[] = [];
  private cleaned = false;

  private constructor(readonly path: string) {}

  static async create(): Promise<BenchRoot> {
    const root = new BenchRoot(await mkdtemp(join(os.tmpdir(), 'vigil-bench-')));
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: stopping every cluster member and removing ${root.path}`);
        void root.cleanUp().finally(() => process.exit(130));
      });
    }
    process.once('exit', killAllSpawned);
    return root;
  }

  /** Remember `system` so that `cleanUp()` stops it. */
  track(system: System): void {
    this.started.push(system);
  }

  async cleanUp(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    await Promise.all(this.started.map((s) => s.stop().catch(() => undefined)));
    killAllSpawned();
    await rm(this.path, { recursive: true, force: true });
  }
}

export function logTo(tag: string): (message: string) => void {
  return (message) => console.error(`[${tag} ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryMiB: number;
  os: string;
  node: string;
  dataFilesystem: string;
}

export async function describeMachine(dataDir: string): Promise<Machine> {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    dataFilesystem: await filesystemOf(dataDir),
  };
}

export function machineLine(machine: Machine): string {
  return `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryMiB} MiB, ${machine.os}, Node ${machine.node}; data on ${machine.dataFilesystem}, fsync on.`;
}

async function filesystemOf(dir: string): Promise<string> {
  try {
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').map((l) => l.split(' ')).filter((f) => f.length > 2);
    const best = mounts.filter((f) => dir.startsWith(f[1]!)).sort((a, b) => b[1]!.length - a[1]!.length)[0];
    return best === undefined ? 'unknown' : `${best[2]} on ${best[1]}`;
  } catch {
    return 'unknown';
  }
}

/** Writes `figures` to bench-results/<timestamp><suffix>.json and returns the path. */
export async function writeResults(suffix: string, figures: object): Promise<string> {
  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `${new Date().toISOString().replace(/[:.]/g, '-')}${suffix}.json`);
  await writeFile(file, `${JSON.stringify(figures, null, 2)}\n`);
  return file;
}

/** Cumulative stall times (µs) from Linux pressure stall information; null where there is none. */
export interface PressureTotals {
  readonly cpuSomeUs: number;
  readonly ioSomeUs: number;
  readonly atMs: number;
}

export async function pressureTotals(): Promise<PressureTotals | null> {
  try {
    const some = async (resource: string): Promise<number> => Number(/^some .*total=(\d+)/m.exec(await readFile(`/proc/pressure/${resource}`, 'utf8'))?.[1] ?? Number.NaN);
    return { cpuSomeUs: await some('cpu'), ioSomeUs: await some('io'), atMs: performance.now() };
  } catch {
    return null;
  }
}

/**
 * The share of the time between two readings in which some task waited for a CPU or for I/O, in
 * per cent: how loaded the machine was, by this benchmark and by anything else running on it.
 */
export function pressureBetween(from: PressureTotals | null, to: PressureTotals | null): { cpuSomePct: number; ioSomePct: number } | undefined {
  if (from === null || to === null || to.atMs <= from.atMs) return undefined;
  const spanUs = (to.atMs - from.atMs) * 1000;
  return { cpuSomePct: (100 * (to.cpuSomeUs - from.cpuSomeUs)) / spanUs, ioSomePct: (100 * (to.ioSomeUs - from.ioSomeUs)) / spanUs };
}
