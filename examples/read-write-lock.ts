// A read-write lock: readers share, a writer holds alone, and a writer queued behind readers is
// not overtaken by readers that come after it.
//
//   npm run example -- read-write-lock
import { connect, ReadWriteLock } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const path = `/examples/rwlock-${process.pid}`;
const [r1, r2, w, r3] = await Promise.all([1, 2, 3, 4].map(() => connect({ endpoints })));
const first = await new ReadWriteLock(r1!, path).readLock.acquire();
const second = await new ReadWriteLock(r2!, path).readLock.acquire();
console.log(`two readers hold together (tokens ${first.token}, ${second.token})`);

const writing = new ReadWriteLock(w!, path).writeLock.acquire({ timeoutMs: 10_000 });
// Wait (on a children watch) until the writer is in the queue.
for (;;) {
  let changed: () => void = () => undefined;
  const next = new Promise<void>((resolve) => (changed = resolve));
  const { names } = await r3!.children(path, { watch: () => changed() });
  if (names.some((name) => name.startsWith('write-'))) break;
  await next;
}
const lateReader = new ReadWriteLock(r3!, path).readLock;
check((await lateReader.tryAcquire()) === null, 'a reader arriving after a queued writer waits behind it');

await first.release();
await second.release();
const write = await writing;
console.log(`the writer holds alone (token ${write.token})`);
check(write.token > second.token, 'the writer’s token is above the readers’');
await write.release();
const read = await lateReader.acquire({ timeoutMs: 10_000 });
await read.release();
await Promise.all([r1, r2, w, r3].map((c) => c!.close()));
console.log('ok');
