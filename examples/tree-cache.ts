// A tree cache: a local mirror of /examples/config-<pid>, kept current by one persistent watch.
// Another client changes the tree; the mirror follows, and answers reads from memory.
//
//   npm run example -- tree-cache
import { connect, TreeCache, type TreeCacheEvent } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const base = `/examples/config-${process.pid}`;
const writer = await connect({ endpoints });
const reader = await connect({ endpoints });
await writer.create(`${base}/db/url`, 'postgres://a', { createParents: true });

const cache = new TreeCache(reader, base);
const changes: TreeCacheEvent[] = [];
let caughtUp: (() => void) | null = null;
cache.on('change', (event) => {
  changes.push(event);
  if (event.type !== 'initialized' && event.type !== 'reloaded') console.log(`${event.type} ${event.path} at revision ${event.revision}`);
  if (event.type === 'created' && event.path === `${base}/done`) caughtUp?.();
});
await cache.start();
check(new TextDecoder().decode(cache.get(`${base}/db/url`)!.data) === 'postgres://a', 'the mirror starts with the tree');

const done = new Promise<void>((resolve) => (caughtUp = resolve));
await writer.set(`${base}/db/url`, 'postgres://b');
await writer.create(`${base}/feature`, 'on');
await writer.delete(`${base}/feature`);
await writer.create(`${base}/done`, '');
await done; // events arrive in revision order: everything before /done is in the mirror now

check(new TextDecoder().decode(cache.get(`${base}/db/url`)!.data) === 'postgres://b', 'the mirror follows a change');
check(cache.get(`${base}/feature`) === undefined, 'the mirror follows a deletion');
const revisions = changes.map((c) => c.revision);
check(revisions.every((r, i) => i === 0 || r >= revisions[i - 1]!), 'changes arrive in revision order');
cache.close();
await Promise.all([writer.close(), reader.close()]);
console.log('ok');
