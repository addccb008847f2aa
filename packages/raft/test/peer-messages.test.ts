import { describe, expect, test } from 'vitest';
import { createPrng, encodeConfChange, RawNode, type DurableState, type Message, type NodeId, type Ready } from '@vigil/raft';

/**
 * Messages no correct peer sends — well typed (the peer codec let them through) but inconsistent
 * with themselves or with what the receiver knows — are dropped with a reason and change nothing:
 * no throw, no state, no output. Afterwards the cluster still elects and commits.
 */

function node(id: NodeId, durable: DurableState): RawNode {
  return new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, prng: createPrng(id) }, durable);
}

function drain(n: RawNode): Message[] {
  const messages: Message[] = [];
  while (n.hasReady()) {
    const rd: Ready = n.ready();
    messages.push(...rd.earlyMessages, ...rd.messages);
    n.advance(rd);
  }
  return messages;
}

/** Delivers messages among `nodes` until nothing is left to say; every one must be taken. */
function settle(nodes: Map<NodeId, RawNode>): void {
  for (let round = 0; round < 1000; round++) {
    const msgs: Message[] = [];
    for (const n of nodes.values()) msgs.push(...drain(n));
    if (msgs.length === 0) return;
    for (const m of msgs) expect(nodes.get(m.to)?.step(m) ?? null, `${m.type} ${m.from}>${m.to}`).toBeNull();
  }
  throw new Error('did not settle');
}

/** Three voters, node 1 leading, one entry of its own committed everywhere. */
function cluster(): Map<NodeId, RawNode> {
  const ids = [1, 2, 3];
  const nodes = new Map(ids.map((id) => [id, node(id, RawNode.bootstrap(ids))]));
  settle(nodes);
  get(nodes, 1).campaign();
  settle(nodes);
  get(nodes, 1).propose(new Uint8Array([1]));
  settle(nodes);
  return nodes;
}

function get(nodes: Map<NodeId, RawNode>, id: NodeId): RawNode {
  const n = nodes.get(id);
  if (n === undefined) throw new Error(`no node ${id}`);
  return n;
}

/** Everything observable about a node: its status, its whole log, and whether it has output. */
function snapshotOf(n: RawNode): unknown {
  const s = n.status();
  return { status: s, log: n.entries(s.firstIndex, s.lastIndex), ready: n.hasReady() };
}

/** Steps `m` into `n`: it must be dropped with a reason matching `reason`, and change nothing. */
function expectDropped(n: RawNode, m: Message, reason: RegExp): void {
  const before = snapshotOf(n);
  let got: string | null = null;
  expect(() => {
    got = n.step(m);
  }, JSON.stringify(m)).not.toThrow();
  expect(snapshotOf(n), JSON.stringify(m)).toEqual(before);
  expect(got, JSON.stringify(m)).toMatch(reason);
}

const data = new Uint8Array([7]);
const confData = (change: object): Uint8Array => new TextEncoder().encode(JSON.stringify(change));

/** The inconsistent messages for follower `f` (led by node 1) and for leader 1, built from their state. */
function inconsistent(nodes: Map<NodeId, RawNode>): { to: NodeId; what: string; m: Message; reason: RegExp }[] {
  const f = get(nodes, 2).status();
  const T = f.term;
  const L = f.lastIndex;
  const prev = { prevIndex: L, prevTerm: get(nodes, 2).termAt(L) ?? 0 };
  const app = { type: 'app', from: 1, to: 2, term: T, ...prev, commit: f.commit } as const;
  const entry = (index: number, term = T, kind: 'normal' | 'conf' = 'normal', d: Uint8Array = data) => ({ index, term, kind, data: d });
  const snap = { type: 'snap', from: 1, to: 2, term: T, offset: 0, totalBytes: 4, chunk: new Uint8Array(4), meta: { index: L + 20, term: T, conf: { voters: [1, 2, 3], learners: [] } } } as const;
  const leader = get(nodes, 1).status();
  return [
    // Appends whose entries do not follow prevIndex one by one, or go back in term.
    { to: 2, what: 'entries that skip an index', m: { ...app, entries: [entry(L + 2)] }, reason: /does not follow/ },
    { to: 2, what: 'entries that repeat an index', m: { ...app, entries: [entry(L + 1), entry(L + 1)] }, reason: /does not follow/ },
    { to: 2, what: 'entries that start before prevIndex', m: { ...app, entries: [entry(L)] }, reason: /does not follow/ },
    { to: 2, what: 'entries with decreasing terms', m: { ...app, entries: [entry(L + 1, T), entry(L + 2, T - 1)] }, reason: /after term/ },
    { to: 2, what: 'an entry older than prevTerm', m: { ...app, prevTerm: T, prevIndex: L, entries: [entry(L + 1, T - 1)] }, reason: /after term|does not follow|beyond/ },
    { to: 2, what: 'an entry of term 0', m: { ...app, prevIndex: 0, prevTerm: 0, entries: [entry(1, 0)] }, reason: /after term/ },
    { to: 2, what: 'an entry from a future term', m: { ...app, entries: [entry(L + 1, T + 1)] }, reason: /beyond the message's term/ },
    { to: 2, what: 'a prevTerm from a future term', m: { ...app, prevTerm: T + 1, entries: [] }, reason: /prevTerm/ },
    { to: 2, what: 'a conf entry that is not a ConfChange', m: { ...app, entries: [entry(L + 1, T, 'conf', new Uint8Array([0xff]))] }, reason: /conf entry/ },
    { to: 2, what: 'a conf entry naming no node', m: { ...app, entries: [entry(L + 1, T, 'conf', confData({ type: 'removeNode', node: -3 }))] }, reason: /conf entry/ },
    { to: 2, what: 'a second bootstrap', m: { ...app, entries: [entry(L + 1, T, 'conf', confData({ type: 'bootstrap', voters: [7] }))] }, reason: /bootstrap/ },
    { to: 2, what: 'a conf entry of an unknown kind', m: { ...app, entries: [entry(L + 1, T, 'conf', confData({ type: 'merge', node: 4 }))] }, reason: /conf entry/ },
    // A heartbeat commits min(match, commit): never beyond what the follower holds.
    { to: 2, what: 'a heartbeat committing beyond the last index', m: { type: 'heartbeat', from: 1, to: 2, term: T, commit: L + 5, readRound: 0 }, reason: /commit/ },
    { to: 2, what: 'the same at a higher term', m: { type: 'heartbeat', from: 1, to: 2, term: T + 1, commit: L + 1, readRound: 0 }, reason: /commit/ },
    // Snapshot chunks whose metadata does not hold together.
    { to: 2, what: 'a snapshot from a future term', m: { ...snap, meta: { ...snap.meta, term: T + 1 } }, reason: /snapshot term/ },
    { to: 2, what: 'a snapshot at index 0', m: { ...snap, meta: { ...snap.meta, index: 0 } }, reason: /empty log/ },
    { to: 2, what: 'a snapshot without voters', m: { ...snap, meta: { ...snap.meta, conf: { voters: [], learners: [3] } } }, reason: /no voters/ },
    { to: 2, what: 'a snapshot with a node both voter and learner', m: { ...snap, meta: { ...snap.meta, conf: { voters: [1, 2], learners: [2] } } }, reason: /both voter and learner/ },
    { to: 2, what: 'a snapshot with a repeated voter', m: { ...snap, meta: { ...snap.meta, conf: { voters: [1, 1], learners: [] } } }, reason: /lists of node ids/ },
    { to: 2, what: 'an empty snapshot', m: { ...snap, totalBytes: 0, chunk: new Uint8Array(0) }, reason: /empty snapshot/ },
    { to: 2, what: 'a chunk beyond the snapshot', m: { ...snap, offset: 2, totalBytes: 4, chunk: new Uint8Array(3) }, reason: /beyond the snapshot/ },
    // Not for this node, or not from a peer.
    { to: 2, what: 'a message to another node', m: { type: 'timeoutNow', from: 1, to: 3, term: T }, reason: /addressed to node 3/ },
    { to: 2, what: 'a message from this node itself', m: { type: 'heartbeat', from: 2, to: 2, term: T, commit: 0, readRound: 0 }, reason: /this node/ },
    // Answers to questions nobody asked, and leaders that are not.
    { to: 2, what: 'a vote for a term the node did not stand in', m: { type: 'voteResp', from: 3, to: 2, term: T, reject: false }, reason: /did not stand/ },
    { to: 2, what: 'a vote for a future term', m: { type: 'voteResp', from: 3, to: 2, term: T + 5, reject: false }, reason: /did not stand/ },
    { to: 2, what: 'a pre-vote for a term never asked for', m: { type: 'preVoteResp', from: 3, to: 2, term: T + 7, reject: false }, reason: /did not ask/ },
    { to: 2, what: 'a transfer request from a follower', m: { type: 'timeoutNow', from: 3, to: 2, term: T }, reason: /does not lead/ },
    { to: 2, what: 'a read point from a follower', m: { type: 'readIndexResp', from: 3, to: 2, term: T, ctx: 1, index: L, reject: false }, reason: /does not lead/ },
    { to: 1, what: 'an acknowledgement beyond the leader\'s log', m: { type: 'appResp', from: 2, to: 1, term: leader.term, index: leader.lastIndex + 10, reject: false, rejectHint: 0, hintTerm: 0 }, reason: /beyond the leader's last index/ },
    { to: 1, what: 'a read round the leader never sent', m: { type: 'heartbeatResp', from: 2, to: 1, term: leader.term, readRound: 1_000 }, reason: /read round/ },
  ];
}

/** One valid message of each type from 1 to 2, and the fields of each that hold counts. */
const templates: { m: Message; counts: string[] }[] = [
  { m: { type: 'vote', from: 1, to: 2, term: 9, lastIndex: 1, lastTerm: 1, transfer: false }, counts: ['term', 'lastIndex', 'lastTerm'] },
  { m: { type: 'preVote', from: 1, to: 2, term: 9, lastIndex: 1, lastTerm: 1, transfer: false }, counts: ['term', 'lastIndex', 'lastTerm'] },
  { m: { type: 'voteResp', from: 1, to: 2, term: 1, reject: true }, counts: ['term'] },
  { m: { type: 'preVoteResp', from: 1, to: 2, term: 1, reject: true }, counts: ['term'] },
  { m: { type: 'app', from: 1, to: 2, term: 9, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] }, counts: ['term', 'prevIndex', 'prevTerm', 'commit'] },
  { m: { type: 'appResp', from: 1, to: 2, term: 1, index: 1, reject: false, rejectHint: 0, hintTerm: 0 }, counts: ['term', 'index', 'rejectHint', 'hintTerm'] },
  { m: { type: 'heartbeat', from: 1, to: 2, term: 9, commit: 0, readRound: 0 }, counts: ['term', 'commit', 'readRound'] },
  { m: { type: 'heartbeatResp', from: 1, to: 2, term: 1, readRound: 0 }, counts: ['term', 'readRound'] },
  { m: { type: 'snap', from: 1, to: 2, term: 9, offset: 0, totalBytes: 1, chunk: new Uint8Array(1), meta: { index: 50, term: 9, conf: { voters: [1, 2, 3], learners: [] } } }, counts: ['term', 'offset', 'totalBytes'] },
  { m: { type: 'snapResp', from: 1, to: 2, term: 1, snapshotIndex: 1, offset: 0 }, counts: ['term', 'snapshotIndex', 'offset'] },
  { m: { type: 'timeoutNow', from: 1, to: 2, term: 1 }, counts: ['term'] },
  { m: { type: 'readIndex', from: 1, to: 2, term: 1, ctx: 1 }, counts: ['term', 'ctx'] },
  { m: { type: 'readIndexResp', from: 1, to: 2, term: 1, ctx: 1, index: 1, reject: true }, counts: ['term', 'ctx', 'index'] },
];

/** What a count must never be: negative, not a number, not an integer, not exact. */
const badCounts: unknown[] = [-1, Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 53, '1', null, undefined];

describe('inconsistent peer messages', () => {
  test('each is dropped with a reason and changes nothing; afterwards the cluster still elects and commits', () => {
    const nodes = cluster();
    const cases = inconsistent(nodes);
    for (const c of cases) expectDropped(get(nodes, c.to), c.m, c.reason);
    // And while a read waits at the leader for its heartbeat round, a reply claiming a round it
    // never sent does not confirm it.
    const leader = get(nodes, 1);
    leader.readIndex(42);
    const round = drain(leader).find((m) => m.type === 'heartbeat');
    expect(round?.type === 'heartbeat' && round.readRound).toBeGreaterThan(0);
    const readRound = round?.type === 'heartbeat' ? round.readRound : 0;
    expectDropped(leader, { type: 'heartbeatResp', from: 2, to: 1, term: leader.status().term, readRound: readRound + 1 }, /read round/);
    expect(leader.hasReady()).toBe(false);

    // Still working: the read is confirmed by the real round, the leader commits, and another
    // member can be elected and commit too.
    settle(nodes);
    const { index } = leader.propose(new Uint8Array([2]));
    settle(nodes);
    for (const n of nodes.values()) expect(n.status().applied).toBeGreaterThanOrEqual(index);
    leader.transferLeadership(3);
    settle(nodes);
    const three = get(nodes, 3);
    expect(three.status().role).toBe('leader');
    const next = three.propose(new Uint8Array([3]));
    settle(nodes);
    for (const n of nodes.values()) {
      expect(n.status().applied).toBeGreaterThanOrEqual(next.index);
      expect(n.entries(1, next.index)).toEqual(three.entries(1, next.index));
    }
  });

  test('negative, fractional, unsafe and non-numeric indexes and terms are dropped, whatever the message', () => {
    const nodes = cluster();
    const follower = get(nodes, 2);
    let checked = 0;
    for (const { m, counts } of templates) {
      for (const field of counts) {
        for (const bad of badCounts) {
          expectDropped(follower, { ...m, [field]: bad } as Message, new RegExp(`${field} is not a non-negative integer`));
          checked++;
        }
      }
    }
    // Entries, snapshot metadata and node ids too.
    const app = templates[4]!.m;
    for (const bad of badCounts) {
      expectDropped(follower, { ...app, entries: [{ term: 9, index: bad, kind: 'normal', data }] } as Message, /entry index/);
      expectDropped(follower, { ...app, entries: [{ term: bad, index: 1, kind: 'normal', data }] } as Message, /entry term/);
      expectDropped(follower, { ...templates[8]!.m, meta: { index: bad, term: 1, conf: { voters: [1], learners: [] } } } as Message, /meta index/);
      expectDropped(follower, { ...templates[10]!.m, from: bad } as Message, /from is not a node id/);
      expectDropped(follower, { ...templates[10]!.m, to: bad } as Message, /to is not a node id/);
      checked += 5;
    }
    expectDropped(follower, { ...app, entries: [{ term: 9, index: 1, kind: 'other', data }] } as unknown as Message, /unknown kind/);
    expectDropped(follower, { ...app, entries: [{ term: 9, index: 1, kind: 'normal', data: 'x' }] } as unknown as Message, /not bytes/);
    expectDropped(follower, { ...app, entries: 'x' } as unknown as Message, /not an array/);
    expectDropped(follower, { ...templates[2]!.m, reject: 'no' } as unknown as Message, /reject is not a boolean/);
    expectDropped(follower, { ...templates[10]!.m, type: 'gossip' } as unknown as Message, /unknown message type/);
    expect(checked).toBeGreaterThan(200);
    // The node is untouched: it still follows and commits.
    const { index } = get(nodes, 1).propose(new Uint8Array([2]));
    settle(nodes);
    expect(follower.status().applied).toBeGreaterThanOrEqual(index);
  });

  test('an append whose commit reaches beyond its entries commits only what it carries', () => {
    // The leader sends its own commit index, which may be ahead of the entries in one append:
    // that is not inconsistent, and the follower commits no further than what matched.
    const nodes = cluster();
    const follower = get(nodes, 2);
    const s = follower.status();
    const taken = follower.step({
      type: 'app', from: 1, to: 2, term: s.term, prevIndex: s.lastIndex, prevTerm: follower.termAt(s.lastIndex) ?? 0,
      entries: [{ term: s.term, index: s.lastIndex + 1, kind: 'normal', data }], commit: s.lastIndex + 100,
    });
    expect(taken).toBeNull();
    expect(follower.status()).toMatchObject({ lastIndex: s.lastIndex + 1, commit: s.lastIndex + 1 });
  });

  test('snapshot chunks from two leaders are never mixed, even for the same index and term', () => {
    // Two leaders' snapshots of the same entry need not be the same bytes (each encodes its own).
    const fresh = node(3, RawNode.bootstrap([1, 2, 3]));
    drain(fresh);
    const meta = { index: 10, term: 2, conf: { voters: [1, 2, 3], learners: [] } };
    const a = new Uint8Array([0xa, 0xa, 0xa, 0xa, 0xa, 0xa]);
    const b = new Uint8Array([0xb, 0xb, 0xb, 0xb, 0xb, 0xb]);
    const chunk = (from: NodeId, term: number, bytes: Uint8Array, offset: number): Message =>
      ({ type: 'snap', from, to: 3, term, meta, offset, totalBytes: 6, chunk: bytes.subarray(offset, offset + 3) });
    expect(fresh.step(chunk(1, 2, a, 0))).toBeNull();
    // Leader 1 is gone; leader 2 of term 3 sends its own snapshot of the same entry from the start.
    expect(fresh.step(chunk(2, 3, b, 0))).toBeNull();
    expect(fresh.step(chunk(2, 3, b, 3))).toBeNull();
    const rd = fresh.ready();
    expect(rd.snapshot?.meta).toEqual(meta);
    expect([...(rd.snapshot?.data ?? [])]).toEqual([...b]);
    fresh.advance(rd);
  });

  test('a snapshot chunk that disagrees with the transfer under way about its size is dropped', () => {
    const fresh = node(3, RawNode.bootstrap([1, 2, 3]));
    drain(fresh);
    const meta = { index: 10, term: 2, conf: { voters: [1, 2, 3], learners: [] } };
    expect(fresh.step({ type: 'snap', from: 1, to: 3, term: 2, meta, offset: 0, totalBytes: 6, chunk: new Uint8Array(3) })).toBeNull();
    expectDropped(fresh, { type: 'snap', from: 1, to: 3, term: 2, meta, offset: 3, totalBytes: 3, chunk: new Uint8Array(0) }, /6 bytes/);
  });

  test('a conf entry carrying a valid membership change is taken', () => {
    // The checks above refuse malformed conf entries, not conf entries.
    const nodes = cluster();
    const follower = get(nodes, 2);
    const s = follower.status();
    const change = encodeConfChange({ type: 'addLearner', node: 4, context: '{"peer":"h:1"}' });
    expect(follower.step({
      type: 'app', from: 1, to: 2, term: s.term, prevIndex: s.lastIndex, prevTerm: follower.termAt(s.lastIndex) ?? 0,
      entries: [{ term: s.term, index: s.lastIndex + 1, kind: 'conf', data: change }], commit: s.commit,
    })).toBeNull();
    expect(follower.status().lastIndex).toBe(s.lastIndex + 1);
  });
});
