// A fenced lock: three workers of one process (three sessions) take turns incrementing a counter
// that only the lock's holder may write. The fence makes each write conditional on the lease.
//
//   npm run example -- lock
import { connect, Lock } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const base = `/examples/lock-${process.pid}`;
const clients = await Promise.all([1, 2, 3].map(() => connect({ endpoints })));
await clients[0]!.create(`${base}/counter`, '0', { createParents: true });

const tokens: number[] = [];
await Promise.all(
  clients.map(async (client, worker) => {
    const lock = new Lock(client, `${base}/lock`);
    for (let turn = 0; turn < 5; turn++) {
      const lease = await lock.acquire({ timeoutMs: 10_000 });
      try {
        const { data, stat } = await client.get(`${base}/counter`);
        const next = Number(new TextDecoder().decode(data)) + 1;
        // Commits only while this lease is held, and only over the value just read.
        await client.multi([lease.fence(), { op: 'set', path: `${base}/counter`, data: String(next), version: stat.version }]);
        tokens.push(lease.token);
        console.log(`worker ${worker} turn ${turn}: counter ${next} under token ${lease.token}`);
      } finally {
        await lease.release();
      }
    }
  }),
);

const final = Number(new TextDecoder().decode((await clients[0]!.get(`${base}/counter`)).data));
check(final === 15, `15 increments, got ${final}`);
check(tokens.every((t, i) => i === 0 || t > tokens[i - 1]!), 'fencing tokens increase from holder to holder');
await Promise.all(clients.map((c) => c.close()));
console.log('ok');
