import { ProcessCluster } from './cluster/process-cluster.js';
const cluster = await ProcessCluster.start({ logLevel: 'warn', });
const leader = await cluster.leader();
const port = cluster.node(leader).clientPort;
const value = Buffer.alloc(100, 'v').toString('base64');
let n = 0, ok = 0;
const end = performance.now() + 4000;
await Promise.all(Array.from({ length: 256 }, async () => {
  while (performance.now() < end) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/znodes/p${n++}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: value }) });
    await res.arrayBuffer(); if (res.status === 201) ok++;
  }
}));
console.log('writes/s', ok / 4, 'leader', leader);
for (const id of [1,2,3]) { const t = await (await fetch(`http://127.0.0.1:${cluster.node(id).clientPort}/metrics`)).text(); console.log(id, t.split('\n').filter((l) => /^vigil_(fsync_seconds_(sum|count)|apply_seconds_(sum|count)|applied_entries_total|proposals_total)/.test(l)).join(' | ')); }
await cluster.close({ graceful: true });
