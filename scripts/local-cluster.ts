/**
 * `npm start`: a local three-node Vigil cluster on loopback, data under ./data/<id>.
 * Prints each node's ports and writes ./data/<id>.pid; Ctrl-C (or SIGTERM) stops all three
 * gracefully. `npm run cluster -- status|kill|pause|resume|stop <id>` acts on it by PID.
 *
 *   npm start [-- --nodes 3 --data-dir ./data --base-port 8181 --log-level info]
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessCluster } from './cluster/process-cluster.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '3' },
    'data-dir': { type: 'string', default: './data' },
    'base-port': { type: 'string', default: '8181' },
    'log-level': { type: 'string', default: 'info' },
    'cluster-id': { type: 'string', default: 'vigil-local' },
  },
});
const root = resolve(values['data-dir']);
await mkdir(root, { recursive: true });
const cluster = await ProcessCluster.start({
  size: Number(values.nodes),
  root,
  basePort: Number(values['base-port']),
  output: 'inherit',
  logLevel: values['log-level'],
  clusterId: values['cluster-id'],
});

for (const n of cluster.nodes.values()) {
  await writeFile(join(root, `${n.id}.pid`), `${n.proc!.pid}\n`);
  n.proc!.on('exit', (code, signal) => {
    if (!stopping) console.error(`vigil: node ${n.id} exited (${signal ?? code}); the others keep running (Ctrl-C stops them)`);
  });
}
console.log(`vigil: ${cluster.nodes.size} nodes, data under ${root}`);
for (const n of cluster.nodes.values()) {
  console.log(`  node ${n.id}: clients ws://127.0.0.1:${n.clientPort}  admin http://127.0.0.1:${n.clientPort}/status  peers 127.0.0.1:${n.peerPort}  pid ${n.proc!.pid}`);
}
console.log('  try: curl -s http://127.0.0.1:%d/status | jq .   stop: Ctrl-C', cluster.node(1).clientPort);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await cluster.close({ graceful: true });
  for (const n of cluster.nodes.values()) await rm(join(root, `${n.id}.pid`), { force: true });
  console.log('vigil: all nodes stopped');
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
