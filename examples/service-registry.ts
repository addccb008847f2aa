// Service discovery: two instances of "api" register as ephemeral nodes; a watcher sees the set
// change when one of them goes away (its client closes, as a crashed process's session expires).
//
//   npm run example -- service-registry
import { connect, ServiceRegistry, type ServiceInstance } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const basePath = `/examples/services-${process.pid}`;
const a = await connect({ endpoints });
const b = await connect({ endpoints });
const watcher = await connect({ endpoints });

await new ServiceRegistry(a, basePath).register('api', { id: 'a', address: '10.0.0.1', port: 8080, metadata: { zone: 'eu-1' } });
await new ServiceRegistry(b, basePath).register('api', { id: 'b', address: '10.0.0.2', port: 8080, metadata: { zone: 'eu-2' } });

const registry = new ServiceRegistry(watcher, basePath);
const found = await registry.discover('api');
console.log(`discovered: ${found.map((i) => `${i.id}@${i.address}:${i.port}`).join(', ')}`);
check(found.map((i) => i.id).join() === 'a,b', 'both instances are discovered');

const onlyA = new Promise<ServiceInstance[]>((resolve) => {
  const stop = registry.watch('api', (instances) => {
    console.log(`watch: ${instances.map((i) => i.id).join(', ') || '(none)'}`);
    if (instances.length === 1) {
      stop();
      resolve(instances);
    }
  });
});
await b.close(); // b's ephemeral node goes with its session
check((await onlyA)[0]?.id === 'a', 'the watcher sees b leave');

await Promise.all([a.close(), watcher.close()]);
console.log('ok');
