/**
 * `npm start`: a local three-node Vigil cluster on loopback, data under ./data/<id>.
 * Prints each node's ports and writes ./data/<id>.pid; Ctrl-C (or SIGTERM, SIGHUP) stops all
 * three gracefully, a second Ctrl-C at once. `npm run cluster -- status|kill|pause|resume|stop <id>`
 * acts on it by PID. Logs are readable lines on a terminal and JSON lines otherwise.
 *
 *   npm start [-- --nodes 3 --data-dir ./data --base-port 8181 --log-level info --cluster-id vigil-local --secure]
 *
 * `--secure`: TLS on every port and `--auth` (docs/security.md): certificates made once under
 * <data-dir>/certs (`vigil certs`' code), the superuser's secret made once in <data-dir>/super.secret
 * (mode 0600); each start hashes it into `--superuser-hash`.
 *
 * Each node runs in a process group of its own: a terminal's Ctrl-C goes to the foreground group
 * (npm and this launcher), and this launcher sends each node one SIGTERM. Were the nodes in the
 * terminal's group, each would get SIGINT from the terminal and then SIGTERM from here, take the
 * second for an operator's "stop now" and skip its graceful shutdown.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeTestCerts } from '@vigil/cli';
import { hashSecret } from '@vigil/server';
import { ProcessCluster } from './cluster/process-cluster.js';

const usage = 'usage: npm start [-- --nodes <1-7>] [--data-dir <dir>] [--base-port <port>] [--log-level <level>] [--cluster-id <name>] [--secure]';
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
/** npm forwards the terminal's SIGINT to this process, which also got it from the terminal. */
const repeatedSignalMs = 1_000;

function fail(message: string): never {
  console.error(`npm start: ${message}`);
  console.error(usage);
  process.exit(2);
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) fail(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

let values: Record<string, string>;
try {
  ({ values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      'data-dir': { type: 'string', default: './data' },
      'base-port': { type: 'string', default: '8181' },
      'log-level': { type: 'string', default: 'info' },
      'cluster-id': { type: 'string', default: 'vigil-local' },
      secure: { type: 'boolean', default: false },
    },
  }) as unknown as { values: Record<string, string> });
} catch (err) {
  fail((err as Error).message);
}
const size = integer('nodes', values.nodes!, 1, 7);
const basePort = integer('base-port', values['base-port']!, 1, 65_535 - 200 - size);
if (!logLevels.includes(values['log-level']!)) fail(`--log-level must be one of ${logLevels.join(', ')}, got "${values['log-level']}"`);
const root = resolve(values['data-dir']!);
await mkdir(root, { recursive: true });
const secure = (values as Record<string, unknown>)['secure'] === true;

/** With --secure: the certificates and the superuser's secret (made on the first secure start, kept after). */
async function security(): Promise<{ tlsDir: string; secretFile: string; extraArgs: string[]; httpHeaders: Record<string, string> } | null> {
  if (!secure) return null;
  const tlsDir = join(root, 'certs');
  if (!existsSync(join(tlsDir, `node${size}.pem`))) await writeTestCerts({ out: tlsDir, nodes: size, hosts: ['127.0.0.1', 'localhost'], clients: [] });
  const secretFile = join(root, 'super.secret');
  if (!existsSync(secretFile)) await writeFile(secretFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  const secret = (await readFile(secretFile, 'utf8')).split('\n')[0] as string;
  const httpHeaders = { authorization: `Basic ${Buffer.from(`super:${secret}`).toString('base64')}` };
  return { tlsDir, secretFile, extraArgs: ['--auth', '--superuser-hash', await hashSecret(secret)], httpHeaders };
}
const secured = await security();
const cluster = await ProcessCluster.start({
  size,
  root,
  basePort,
  output: process.stdout.isTTY ? 'pretty' : 'inherit',
  detached: true,
  logLevel: values['log-level']!,
  clusterId: values['cluster-id']!,
  zookeeper: true,
  ...(secured === null ? {} : { tlsDir: secured.tlsDir, extraArgs: secured.extraArgs, httpHeaders: secured.httpHeaders }),
});

const exits = new Map<number, string>();
/** Each node's output fully read (its last log lines printed). */
const drained: Promise<unknown>[] = [];
let stoppingSinceMs: number | null = null;
for (const n of cluster.nodes.values()) {
  await writeFile(join(root, `${n.id}.pid`), `${n.proc!.pid}\n`);
  drained.push(once(n.proc!, 'close'));
  n.proc!.on('exit', (code, signal) => {
    exits.set(n.id, signal ?? String(code));
    if (stoppingSinceMs === null) console.error(`vigil: node ${n.id} exited (${signal ?? code}); the others keep running (Ctrl-C stops them)`);
  });
}
// The nodes do not share this process's fate by themselves any more: if it dies, stop them.
process.on('exit', () => {
  for (const n of cluster.nodes.values()) if (n.proc !== null && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
});

console.log(`vigil: ${cluster.nodes.size} nodes, data under ${root}${secured === null ? '' : ', TLS and --auth on'}`);
const [ws, http] = secured === null ? ['ws', 'http'] : ['wss', 'https'];
for (const n of cluster.nodes.values()) {
  const zookeeper = n.zookeeperPort === null ? '' : `  zookeeper 127.0.0.1:${n.zookeeperPort}`;
  console.log(`  node ${n.id}: clients ${ws}://127.0.0.1:${n.clientPort}  admin ${http}://127.0.0.1:${n.clientPort}/status  peers 127.0.0.1:${n.peerPort}${zookeeper}  pid ${n.proc!.pid}`);
}
if (secured === null) {
  console.log('  try: npx vigil shell   or: npx vigil status   stop: Ctrl-C');
  console.log(`  ZooKeeper clients: ${cluster.zookeeperConnectString()}`);
} else {
  const endpoints = [...cluster.nodes.values()].map((n) => `wss://127.0.0.1:${n.clientPort}`).join(',');
  console.log(`  try: npx vigil shell --endpoints ${endpoints} --ca ${join(secured.tlsDir, 'ca.pem')} --user super --secret-file ${secured.secretFile}`);
  console.log(`  ZooKeeper clients (TLS, trusting ${join(secured.tlsDir, 'ca.pem')}): ${cluster.zookeeperConnectString()}`);
  console.log('  stop: Ctrl-C');
}

async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stoppingSinceMs !== null) {
    if (Date.now() - stoppingSinceMs < repeatedSignalMs) return;
    // A second signal to a node means "now": it exits without finishing its shutdown.
    console.error('vigil: stopping the nodes at once');
    for (const n of cluster.nodes.values()) n.proc?.kill('SIGTERM');
    return;
  }
  stoppingSinceMs = Date.now();
  console.log(`vigil: ${signal}: stopping ${cluster.nodes.size} nodes gracefully (again to stop at once)`);
  await cluster.close({ graceful: true });
  await Promise.all(drained);
  for (const n of cluster.nodes.values()) await rm(join(root, `${n.id}.pid`), { force: true });
  const outcomes = [...cluster.nodes.keys()].map((id) => `node ${id} exit ${exits.get(id) ?? '?'}`);
  console.log(`vigil: all nodes stopped (${outcomes.join(', ')})`);
  process.exit([...exits.values()].every((e) => e === '0') ? 0 : 1);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));
