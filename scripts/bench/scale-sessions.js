// Worker thread of `npm run bench:scale` (scripts/bench/scale.ts): holds a share of the sessions
// and their watches on an event loop of its own, so that thousands of clients resuming after a
// failover do not delay the main thread's own measurements. Plain JavaScript against the built
// @vigil/client, so that workers need no TypeScript loader.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { clearInterval, setInterval } from 'node:timers';
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@vigil/client';

/** @type {{ endpoints: string[]; sessions: { first: number; watches: string[] }[]; sessionTimeoutMs: number; openInFlight: number }} */
const job = workerData;
const clients = [];
/** Session state changes since the last report (suspended, reconnected, expired…). */
let states = {};
for (let i = 0; i < job.sessions.length; i += job.openInFlight) {
  const batch = await Promise.all(job.sessions.slice(i, i + job.openInFlight).map(async ({ first, watches }) => {
    const endpoints = job.endpoints.map((_, j) => job.endpoints[(first + j) % job.endpoints.length]);
    const client = await connect({ endpoints, sessionTimeoutMs: job.sessionTimeoutMs });
    client.on('state', (state) => void (states[state] = (states[state] ?? 0) + 1));
    for (const path of watches) client.watch(path, {}, () => undefined);
    // Answered after the watches' own requests on this connection: they are armed.
    if (watches.length > 0) await client.sync();
    return client;
  }));
  clients.push(...batch);
}
parentPort.postMessage({ opened: clients.length });
// Every 10 s: the state changes, and how late this thread's own event loop ran (a saturated
// worker delays its sessions' pings, which would make the cluster expire them).
const delay = monitorEventLoopDelay({ resolution: 20 });
delay.enable();
const report = setInterval(() => {
  parentPort.postMessage({ states, loopDelayMaxMs: Math.round(delay.max / 1e6) });
  states = {};
  delay.reset();
}, 10_000);
report.unref();
parentPort.once('message', async () => {
  clearInterval(report);
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  parentPort.postMessage({ closed: clients.length });
});
