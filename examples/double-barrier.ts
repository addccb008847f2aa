// A double barrier for three workers: nobody starts before all three have entered, and nobody
// finishes before all three have left. A barrier (set / wait / remove) starts them together.
//
//   npm run example -- double-barrier
import { Barrier, connect, DoubleBarrier } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const base = `/examples/barrier-${process.pid}`;
const coordinator = await connect({ endpoints });
const gate = new Barrier(coordinator, `${base}/gate`);
await gate.set();

const clients = await Promise.all([1, 2, 3].map(() => connect({ endpoints })));
const entered: number[] = [];
let startedBeforeAllEntered = false;
const workers = clients.map(async (client, i) => {
  await new Barrier(client, `${base}/gate`).wait({ timeoutMs: 10_000 }); // held until the gate is removed
  const group = new DoubleBarrier(client, `${base}/group`, { count: 3, id: `worker-${i}` });
  entered.push(i);
  await group.enter({ timeoutMs: 10_000 });
  if (entered.length < 3) startedBeforeAllEntered = true;
  console.log(`worker ${i} passed enter`);
  await group.leave({ timeoutMs: 10_000 });
  console.log(`worker ${i} passed leave`);
});
await gate.remove();
await Promise.all(workers);
check(!startedBeforeAllEntered, 'no worker passed enter before all three entered');
await Promise.all([coordinator, ...clients].map((c) => c.close()));
console.log('ok');
