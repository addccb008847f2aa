// Worker thread of `npm run bench:scale` (scripts/bench/scale.ts): holds a share of the sessions
// and their watches on an event loop of its own, so that thousands of clients resuming after a
// failover do not delay the main thread's own measurements. Plain JavaScript against the built
// @vigil/client, so that workers need no TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@vigil/client';

/** @type {{ endpoints: string[]; sessions: { first: number; watches: string[] }[]; sessionTimeoutMs: number; openInFlight: number }} */
const job = workerData;
const clients = [];
for (let i = 0; i < job.sessions.length; i += job.openInFlight) {
  const batch = await Promise.all(job.sessions.slice(i, i + job.openInFlight).map(async ({ first, watches }) => {
    const endpoints = job.endpoints.map((_, j) => job.endpoints[(first + j) % job.endpoints.length]);
    const client = await connect({ endpoints, sessionTimeoutMs: job.sessionTimeoutMs });
    for (const path of watches) client.watch(path, {}, () => undefined);
    // Answered after the watches' own requests on this connection: they are armed.
    if (watches.length > 0) await client.sync();
    return client;
  }));
  clients.push(...batch);
}
parentPort.postMessage({ opened: clients.length });
parentPort.once('message', async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  parentPort.postMessage({ closed: clients.length });
});
