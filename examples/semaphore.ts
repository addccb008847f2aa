// A semaphore with two permits: five workers, never more than two inside at once.
//
//   npm run example -- semaphore
import { connect, Semaphore } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const path = `/examples/semaphore-${process.pid}`;
const clients = await Promise.all([1, 2, 3, 4, 5].map(() => connect({ endpoints })));
let inside = 0;
let most = 0;
await Promise.all(
  clients.map(async (client, worker) => {
    const lease = await new Semaphore(client, path, { permits: 2 }).acquire({ timeoutMs: 10_000 });
    inside++;
    most = Math.max(most, inside);
    console.log(`worker ${worker} holds a permit (token ${lease.token}); ${inside} inside`);
    await client.sync(); // some work, under the permit
    inside--;
    await lease.release();
  }),
);
check(most <= 2, `at most two holders at once (saw ${most})`);
await Promise.all(clients.map((c) => c.close()));
console.log('ok');
