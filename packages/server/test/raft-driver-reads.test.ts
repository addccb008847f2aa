import { afterEach, describe, expect, test } from 'vitest';
import type { Message, NodeId } from '@vigil/raft';
import { silentLogger } from '../src/node/logger.js';
import { driverCluster, member, type DriverMember } from './driver-support.js';

/**
 * Reads through three RaftDrivers that nothing ticks (driver-support.ts): every step (an election,
 * a transfer) happens because the test asked for it, and nothing times out.
 */

const ids: NodeId[] = [1, 2, 3];
const deadlineMs = 10_000;

type Member = DriverMember;

/** What every member's core says, for a timeout's message. */
let describeMembers: () => unknown[] = () => [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function cluster(drop: (m: Message) => boolean): Promise<Map<NodeId, Member>> {
  const members = await driverCluster({
    ids,
    route: (msgs, all) => {
      for (const m of msgs) if (!drop(m)) setImmediate(() => all.get(m.to)?.driver.receive([m]));
    },
    logger: () => silentLogger(),
    onFatal: (err) => {
      throw err;
    },
    cleanups,
  });
  describeMembers = () => [...members.values()].map((x) => ({ id: x.raw.id, ...x.raw.summary(), storeApplied: x.store.appliedIndex }));
  return members;
}

/** Polls `check` on the event loop (no timers involved) until it holds. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(describeMembers())}`);
    await new Promise((r) => setImmediate(r));
  }
}

/** Member `id` campaigns now; resolves once every member follows it with its no-op applied. */
async function elect(members: Map<NodeId, Member>, id: NodeId): Promise<void> {
  // A member votes once it has applied the bootstrap entry that makes it one.
  for (const x of members.values()) x.driver.receive([]);
  await until('the bootstrap entry to be applied', () => [...members.values()].every((x) => x.store.appliedIndex >= 1));
  const m = member(members, id);
  m.raw.campaign();
  m.driver.receive([]); // wakes its Ready loop
  await until(`${id} to lead and commit its no-op`, () => [...members.values()].every((x) => x.raw.summary().leader === id) && m.raw.summary().commit > 1);
  // A follower that acknowledged after the commit learns of it from the next heartbeat.
  await until('every member to hold the no-op', () => m.raw.status().progress.every((p) => p.match >= m.raw.summary().commit));
  m.raw.tick();
  m.driver.receive([]);
  await until('the no-op to be applied everywhere', () => [...members.values()].every((x) => x.store.appliedIndex >= m.raw.summary().commit));
}

describe('RaftDriver linearizable reads', () => {
  test('a read waiting at a leader that hands leadership away is asked again, never answered NOT_LEADER', async () => {
    // While `holdConfirmations`, the leader never hears heartbeat answers: a read stays pending
    // there, unconfirmed, until the leader steps down and refuses it.
    let holdConfirmations = false;
    let readRoundOut = false;
    const members = await cluster((m) => {
      if (holdConfirmations && m.type === 'heartbeat' && m.from === 1 && m.readRound > 0) readRoundOut = true;
      return holdConfirmations && m.type === 'heartbeatResp' && m.to === 1;
    });
    await elect(members, 1);
    const committed = member(members, 1).raw.summary().commit;

    holdConfirmations = true;
    const follower = member(members, 2);
    const read = follower.driver.linearizableRead(AbortSignal.timeout(deadlineMs));
    const outcome = read.then((index) => ({ index }), (err: { code?: string }) => ({ failed: err.code }));
    // The read reached the leader, whose confirming round is out and will not be answered.
    await until('the read to wait at the leader', () => readRoundOut);

    // Leadership moves to 3: 1 steps down and refuses the read it could not confirm.
    const transferred = member(members, 1).driver.transferLeadership(3, deadlineMs);
    await until('3 to lead', () => member(members, 3).raw.summary().role === 'leader');
    holdConfirmations = false;
    expect(await transferred).toBe(3);

    const answer = await outcome;
    expect(answer).toEqual({ index: expect.any(Number) });
    // A read point of the new leader: everything the old one had committed, and its own no-op.
    expect((answer as { index: number }).index).toBeGreaterThan(committed);
  });

  test('a read with no leader to ask waits for one, then is served', async () => {
    const members = await cluster(() => false);
    const follower = member(members, 2);
    expect(follower.raw.summary().leader).toBe(0);
    const read = follower.driver.linearizableRead(AbortSignal.timeout(deadlineMs));
    const outcome = read.then((index) => ({ index }), (err: { code?: string }) => ({ failed: err.code }));
    await elect(members, 3);
    const answer = await outcome;
    expect(answer).toEqual({ index: expect.any(Number) });
    expect((answer as { index: number }).index).toBeGreaterThan(1);
  });

  test('a read that no leader confirms before its deadline fails NO_LEADER, not NOT_LEADER', async () => {
    const members = await cluster(() => false);
    // Refused at once (no leader), then waiting for one until the caller's deadline ends it.
    const read = member(members, 2).driver.linearizableRead(AbortSignal.timeout(1_000));
    await expect(read).rejects.toMatchObject({ code: 'NO_LEADER' });
  });
});
