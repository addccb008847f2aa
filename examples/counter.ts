// A shared counter: three clients add concurrently; every add is counted exactly once, and each
// caller learns the value its own add produced.
//
//   npm run example -- counter
import { connect, Counter } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const path = `/examples/counter-${process.pid}`;
const clients = await Promise.all([1, 2, 3].map(() => connect({ endpoints })));
const results = (await Promise.all(clients.map((c) => Promise.all([1, 2, 3, 4].map(() => new Counter(c, path).add(1)))))).flat();
const total = await new Counter(clients[0]!, path).get();
console.log(`12 adds → ${total}; the values the adds produced: ${[...results].sort((a, b) => a - b).join(',')}`);
check(total === 12, 'every add counted once');
check(new Set(results).size === 12, 'each add saw its own new value');
check(await new Counter(clients[0]!, path).compareAndSet(12, 100), 'compare-and-set from the current value succeeds');
check(!(await new Counter(clients[1]!, path).compareAndSet(12, 200)), 'compare-and-set from a stale value fails');
await Promise.all(clients.map((c) => c.close()));
console.log('ok');
