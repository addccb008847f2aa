import { afterEach, describe, expect, test } from 'vitest';
import { encodeConfChange, type Message, type NodeId } from '@vigil/raft';
import { driverCluster, member, type DriverMember } from './driver-support.js';
import { capturedLogs, levels, until, type LogLine } from './peer-support.js';

/**
 * Well-typed Raft messages that no correct peer sends, handed to a running RaftDriver as the
 * transport would: each is dropped with a warning that says why, nothing throws, the node does not
 * stop (onFatal) and its state does not move; afterwards the cluster still commits and elects.
 * Three drivers that nothing ticks (driver-support.ts): every step happens because the test asked.
 */

const ids: NodeId[] = [1, 2, 3];
/** A member this cluster removed earlier (drivers are told so): its messages are refused. */
const removedId = 9;
const deadlineMs = 10_000;

interface Member extends DriverMember {
  readonly logs: ReturnType<typeof capturedLogs>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function cluster(): Promise<{ members: Map<NodeId, Member>; fatal: unknown[]; quiet: () => boolean }> {
  const fatal: unknown[] = [];
  const logs = new Map<NodeId, ReturnType<typeof capturedLogs>>();
  let inFlight = 0;
  const drivers = await driverCluster({
    ids,
    route: (msgs, all) => {
      for (const m of msgs) {
        inFlight += 1;
        setImmediate(() => {
          inFlight -= 1;
          all.get(m.to)?.driver.receive([m]);
        });
      }
    },
    logger: (id) => {
      const captured = capturedLogs();
      logs.set(id, captured);
      return captured.logger;
    },
    removed: new Set([removedId]),
    onFatal: (err) => fatal.push(err),
    cleanups,
  });
  const members = new Map([...drivers].map(([id, m]) => [id, { ...m, logs: logs.get(id)! }]));
  const quiet = (): boolean => inFlight === 0 && [...members.values()].every((x) => !x.raw.hasReady());
  return { members, fatal, quiet };
}

/** Member `id` campaigns now; resolves once every member follows it with its no-op applied. */
async function elect(members: Map<NodeId, Member>, id: NodeId): Promise<void> {
  for (const x of members.values()) x.driver.receive([]);
  await until(() => [...members.values()].every((x) => x.store.appliedIndex >= 1), 'the bootstrap entry to be applied', deadlineMs);
  const m = member(members, id);
  m.raw.campaign();
  m.driver.receive([]);
  await until(() => [...members.values()].every((x) => x.raw.summary().leader === id) && m.raw.summary().commit > 1, `${id} to lead`, deadlineMs);
}

/** Proposes on `leader` and waits until every member has applied the entry. */
async function commitEverywhere(members: Map<NodeId, Member>, leader: NodeId): Promise<void> {
  const applied = await member(members, leader).driver.propose({ type: 'noop' }, AbortSignal.timeout(deadlineMs));
  const m = member(members, leader);
  // Followers learn the commit from the next append or heartbeat.
  await until(() => m.raw.status().progress.every((p) => p.match >= applied.index), 'every member to hold the entry', deadlineMs);
  m.raw.tick();
  m.driver.receive([]);
  await until(() => [...members.values()].every((x) => x.store.appliedIndex >= applied.index), 'every member to apply the entry', deadlineMs);
}

const text = new TextEncoder();

describe('inconsistent peer messages at a running node', () => {
  test('are dropped with a warning, never stop the node or move its state; the cluster then commits and elects', async () => {
    const { members, fatal, quiet } = await cluster();
    await elect(members, 1);
    await commitEverywhere(members, 1);
    await until(quiet, 'the cluster to go quiet', deadlineMs);

    const leader = member(members, 1);
    const follower = member(members, 2);
    const f = follower.raw.status();
    const T = f.term;
    const L = f.lastIndex;
    const prev = { prevIndex: L, prevTerm: follower.raw.termAt(L) ?? 0 };
    const conf = (change: object): { index: number; term: number; kind: 'conf'; data: Uint8Array } =>
      ({ index: L + 1, term: T, kind: 'conf', data: text.encode(JSON.stringify(change)) });
    const cases: { to: Member; what: string; m: Message; reason: RegExp }[] = [
      { to: follower, what: 'an append whose entries skip an index', m: { type: 'app', from: 1, to: 2, term: T, ...prev, commit: L, entries: [{ index: L + 2, term: T, kind: 'normal', data: new Uint8Array(1) }] }, reason: /does not follow/ },
      { to: follower, what: 'an append whose terms go back', m: { type: 'app', from: 1, to: 2, term: T, ...prev, commit: L, entries: [{ index: L + 1, term: T, kind: 'noop', data: new Uint8Array(0) }, { index: L + 2, term: T - 1, kind: 'noop', data: new Uint8Array(0) }] }, reason: /after term/ },
      { to: follower, what: 'a heartbeat committing beyond the log', m: { type: 'heartbeat', from: 1, to: 2, term: T, commit: L + 3, readRound: 0 }, reason: /beyond this node's last index/ },
      { to: follower, what: 'a NaN term', m: { type: 'heartbeat', from: 1, to: 2, term: Number.NaN, commit: 0, readRound: 0 }, reason: /term is not/ },
      { to: follower, what: 'a fractional index', m: { type: 'app', from: 1, to: 2, term: T, prevIndex: L - 0.5, prevTerm: 1, commit: L, entries: [] }, reason: /prevIndex is not/ },
      { to: follower, what: 'a snapshot from a future term', m: { type: 'snap', from: 1, to: 2, term: T, offset: 0, totalBytes: 1, chunk: new Uint8Array(1), meta: { index: L + 9, term: T + 1, conf: { voters: [1, 2, 3], learners: [] } } }, reason: /snapshot term/ },
      { to: follower, what: 'an empty snapshot', m: { type: 'snap', from: 1, to: 2, term: T, offset: 0, totalBytes: 0, chunk: new Uint8Array(0), meta: { index: L + 9, term: T, conf: { voters: [1, 2, 3], learners: [] } } }, reason: /empty snapshot/ },
      { to: follower, what: 'a message for another node', m: { type: 'timeoutNow', from: 1, to: 3, term: T }, reason: /addressed to node 3/ },
      { to: follower, what: 'a transfer request from a follower', m: { type: 'timeoutNow', from: 3, to: 2, term: T }, reason: /does not lead/ },
      { to: follower, what: 'a vote nobody asked for', m: { type: 'voteResp', from: 3, to: 2, term: T + 1, reject: false }, reason: /did not stand/ },
      { to: follower, what: 'a message from a removed member', m: { type: 'heartbeat', from: removedId, to: 2, term: T + 5, commit: 0, readRound: 0 }, reason: /removed/ },
      { to: follower, what: 'an answer to a read never asked', m: { type: 'readIndexResp', from: 1, to: 2, term: T, ctx: 77, index: L, reject: false }, reason: /never asked/ },
      { to: follower, what: 'a conf entry whose addresses are not JSON', m: { type: 'app', from: 1, to: 2, term: T, ...prev, commit: L, entries: [conf({ type: 'addVoter', node: 4, context: '{peer' })] }, reason: /not JSON/ },
      { to: follower, what: 'a conf entry whose address is not one', m: { type: 'app', from: 1, to: 2, term: T, ...prev, commit: L, entries: [conf({ type: 'addLearner', node: 4, context: '{"peer":5}' })] }, reason: /not a member address/ },
      { to: leader, what: 'an acknowledgement beyond the leader\'s log', m: { type: 'appResp', from: 2, to: 1, term: T, index: L + 10, reject: false, rejectHint: 0, hintTerm: 0 }, reason: /beyond the leader's last index/ },
    ];
    for (const c of cases) {
      const before = c.to.raw.status();
      const mark = c.to.logs.lines.length;
      expect(() => c.to.driver.receive([c.m]), c.what).not.toThrow();
      const dropped = c.to.logs.lines.slice(mark).filter((l: LogLine) => l.msg === 'peer message dropped');
      expect(dropped, c.what).toHaveLength(1);
      expect(dropped[0], c.what).toMatchObject({ level: levels.warn, peer: c.m.from, type: c.m.type });
      expect(String(dropped[0]?.reason), c.what).toMatch(c.reason);
      expect(c.to.raw.status(), c.what).toEqual(before);
      expect(fatal, c.what).toEqual([]);
    }

    // Not even a message (no transport lets one through, but the driver does not rely on that).
    const mark = follower.logs.lines.length;
    expect(() => follower.driver.receive([null as unknown as Message])).not.toThrow();
    expect(follower.logs.lines.slice(mark).filter((l) => l.msg === 'peer message dropped')).toMatchObject([{ reason: 'not a message' }]);
    expect(fatal).toEqual([]);

    // Still a working cluster: the leader commits, leadership moves, the new leader commits.
    await commitEverywhere(members, 1);
    expect(await leader.driver.transferLeadership(3, deadlineMs)).toBe(3);
    await until(() => [...members.values()].every((x) => x.raw.summary().leader === 3), 'every member to follow 3', deadlineMs);
    await commitEverywhere(members, 3);
    expect(fatal).toEqual([]);
    for (const x of members.values()) expect(x.logs.lines.filter((l) => l.level >= levels.error)).toEqual([]);
  });

  test('a conf entry with valid member addresses is taken', async () => {
    // The driver refuses addresses it could not apply, not membership changes.
    const { members, fatal, quiet } = await cluster();
    await elect(members, 1);
    await until(quiet, 'the cluster to go quiet', deadlineMs);
    const follower = member(members, 2);
    const s = follower.raw.status();
    const data = encodeConfChange({ type: 'addLearner', node: 4, context: JSON.stringify({ peer: '127.0.0.1:7004', client: null }) });
    follower.driver.receive([{
      type: 'app', from: 1, to: 2, term: s.term, prevIndex: s.lastIndex, prevTerm: follower.raw.termAt(s.lastIndex) ?? 0, commit: s.commit,
      entries: [{ index: s.lastIndex + 1, term: s.term, kind: 'conf', data }],
    }]);
    expect(follower.raw.status().lastIndex).toBe(s.lastIndex + 1);
    expect(follower.logs.lines.filter((l) => l.msg === 'peer message dropped')).toEqual([]);
    expect(fatal).toEqual([]);
  });
});
