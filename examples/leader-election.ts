// Leader election: three candidates; the leader does the work while its signal says it leads,
// then resigns, and the next one takes over. An observer prints every change of leader.
//
//   npm run example -- leader-election
import { connect, LeaderElection, type LeaderInfo } from '@vigil/client';
import { check, endpoints } from './endpoints.js';

const path = `/examples/election-${process.pid}`;
const observerClient = await connect({ endpoints });
const seen: LeaderInfo[] = [];
// observe() reports who leads now, so a term that begins and ends between two of its looks is not
// reported: here each leader waits until the observer has seen it before it works and hands over.
const sightings = new Map<string, () => void>();
const sighted = (id: string): Promise<void> =>
  seen.some((l) => l.id === id) ? Promise.resolve() : new Promise((resolve) => sightings.set(id, resolve));
const observing = (async () => {
  for await (const leader of new LeaderElection(observerClient, path).observe()) {
    console.log(leader === null ? 'observer: no leader' : `observer: ${leader.id} leads (token ${leader.token}, value ${leader.value})`);
    if (leader !== null) {
      seen.push(leader);
      sightings.get(leader.id)?.();
    } else if (seen.length === 3) break; // all three had their term
  }
})();

const terms: string[] = [];
await Promise.all(
  ['alpha', 'beta', 'gamma'].map(async (id) => {
    const client = await connect({ endpoints });
    const election = new LeaderElection(client, path, { id });
    // One term each: do the work while leading, then hand over (recampaign: false).
    await election.runAsLeader(
      async (signal) => {
        terms.push(id);
        await sighted(id);
        for (let step = 0; step < 3 && !signal.aborted; step++) await client.sync();
      },
      { value: `${id}@${process.pid}`, recampaign: false },
    );
    await client.close();
  }),
);

await observing;
const leaders = seen.map((l) => l.id);
check(terms.length === 3, 'every candidate led once');
check(JSON.stringify(leaders) === JSON.stringify(terms), `the observer saw every leader in order (${leaders.join(',')} vs ${terms.join(',')})`);
await observerClient.close();
console.log('ok');
