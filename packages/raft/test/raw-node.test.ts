import { describe, expect, test } from 'vitest';
import { createPrng, RaftError, RawNode, type DurableState, type Message, type NodeId, type Ready } from '@vigil/raft';

function node(id: NodeId, durable: DurableState, extra: Partial<ConstructorParameters<typeof RawNode>[0]> = {}): RawNode {
  return new RawNode({ id, electionTicks: 10, heartbeatTicks: 1, prng: createPrng(id), ...extra }, durable);
}

/** Handle every Ready of `n` (persisting is the caller's business here) and collect its output. */
function drain(n: RawNode): { messages: Message[]; readies: Ready[] } {
  const messages: Message[] = [];
  const readies: Ready[] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    readies.push(rd);
    messages.push(...rd.earlyMessages, ...rd.messages);
    n.advance(rd);
  }
  return { messages, readies };
}

/** Deliver messages among `nodes` until nothing is left to say. */
function settle(nodes: Map<NodeId, RawNode>): void {
  for (let round = 0; round < 1000; round++) {
    const msgs: Message[] = [];
    for (const n of nodes.values()) msgs.push(...drain(n).messages);
    if (msgs.length === 0) return;
    for (const m of msgs) nodes.get(m.to)?.step(m);
  }
  throw new Error('did not settle');
}

function threeNodes(): Map<NodeId, RawNode> {
  const ids = [1, 2, 3];
  return new Map(ids.map((id) => [id, node(id, RawNode.bootstrap(ids))]));
}

describe('RawNode', () => {
  test('a single voter elects itself and commits only what it has made durable', () => {
    const n = node(1, RawNode.bootstrap([1]));
    drain(n); // apply the bootstrap entry: now a voter
    n.campaign();
    drain(n);
    expect(n.status().role).toBe('leader');
    const { index } = n.propose(new Uint8Array([7]));
    const rd = n.ready();
    expect(rd.entries.map((e) => e.index)).toContain(index);
    expect(rd.committedEntries.map((e) => e.index)).not.toContain(index);
    n.advance(rd);
    const next = n.ready();
    expect(next.committedEntries.map((e) => e.index)).toContain(index);
    n.advance(next);
    expect(n.status().applied).toBe(index);
  });

  test('a follower refuses proposals with NOT_LEADER', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    expect(() => nodes.get(2)!.propose(new Uint8Array(1))).toThrowError(RaftError);
    try {
      nodes.get(2)!.propose(new Uint8Array(1));
    } catch (err) {
      expect((err as RaftError).code).toBe('NOT_LEADER');
    }
  });

  test('a vote is granted in the same Ready that persists it', () => {
    const nodes = threeNodes();
    settle(nodes);
    const candidate = nodes.get(1)!;
    candidate.campaign();
    const pre = drain(candidate).messages.filter((m) => m.to === 2);
    const voter = nodes.get(2)!;
    for (const m of pre) voter.step(m);
    for (const m of drain(voter).messages) candidate.step(m);
    const votes = drain(candidate).messages.filter((m) => m.to === 2 && m.type === 'vote');
    expect(votes).toHaveLength(1);
    voter.step(votes[0]!);
    const rd = voter.ready();
    expect(rd.earlyMessages).toEqual([]); // a vote changes the hard state: nothing leaves early
    const grant = rd.messages.find((m) => m.type === 'voteResp');
    expect(grant).toMatchObject({ reject: false });
    expect(rd.hardState).toMatchObject({ vote: 1, term: votes[0]!.term });
    expect(rd.mustSync).toBe(true);
    voter.advance(rd);
  });

  test('replicates to every follower and commits by majority', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const { index } = nodes.get(1)!.propose(new Uint8Array([1, 2, 3]));
    settle(nodes);
    for (const n of nodes.values()) expect(n.status().applied).toBeGreaterThanOrEqual(index);
  });

  test('a restarted node does not hand out applied entries again and keeps its membership', () => {
    const n = node(1, RawNode.bootstrap([1]));
    drain(n);
    n.campaign();
    drain(n);
    const { index } = n.propose(new Uint8Array([9]));
    drain(n);
    const status = n.status();
    const restarted = node(1, {
      hardState: { term: status.term, vote: status.vote, commit: status.commit },
      snapshot: null,
      entries: n.entries(1, status.lastIndex),
      applied: index,
    });
    expect(restarted.status().conf.voters).toEqual([1]);
    const rd = restarted.ready();
    expect(rd.committedEntries).toHaveLength(0);
  });

  test('the leader refuses proposals beyond its uncommitted byte bound', () => {
    const nodes = new Map([1, 2, 3].map((id) => [id, node(id, RawNode.bootstrap([1, 2, 3]), { uncommittedBytesMax: 1000 })]));
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    let refused: string | undefined;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        leader.propose(new Uint8Array(100));
      } catch (err) {
        refused = (err as RaftError).code;
      }
    }
    expect(refused).toBe('PROPOSAL_BACKPRESSURE');
    expect(leader.status().uncommittedBytes).toBeLessThanOrEqual(1000);
  });

  test('replication to a silent follower stops at the in-flight bound', () => {
    const nodes = new Map([1, 2, 3].map((id) => [id, node(id, RawNode.bootstrap([1, 2, 3]), { inflightMsgsMax: 2, appendBytesMax: 1 })]));
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    for (let i = 0; i < 10; i++) leader.propose(new Uint8Array(10));
    const appendsTo3: number[] = [];
    for (let round = 0; round < 20; round++) {
      const { messages } = drain(leader);
      for (const m of messages) {
        if (m.to === 3 && m.type === 'app' && m.entries.length > 0) appendsTo3.push(m.entries[0]!.index);
        else if (m.to === 2) nodes.get(2)!.step(m);
      }
      for (const m of drain(nodes.get(2)!).messages) leader.step(m);
    }
    expect(appendsTo3.length).toBeLessThanOrEqual(2);
    expect(leader.status().progress.find((p) => p.id === 3)!.inflightMsgs).toBeLessThanOrEqual(2);
  });

  test('a leader answers ReadIndex only after its own term has a committed entry and a heartbeat round', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    leader.readIndex(42);
    const rd = leader.ready();
    expect(rd.readStates).toHaveLength(0);
    const sent = [...rd.earlyMessages, ...rd.messages];
    expect(sent.filter((m) => m.type === 'heartbeat')).toHaveLength(2);
    leader.advance(rd);
    const states: number[] = [];
    for (const m of sent) nodes.get(m.to)!.step(m);
    for (const id of [2, 3]) for (const m of drain(nodes.get(id)!).messages) leader.step(m);
    for (const r of drain(leader).readies) for (const s of r.readStates) if (s.ok) states.push(s.ctx);
    expect(states).toEqual([42]);
  });

  test('a follower forwards ReadIndex to the leader and gets a read point', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const follower = nodes.get(2)!;
    follower.readIndex(7);
    const seen: { ctx: number; ok: boolean; index: number }[] = [];
    for (let round = 0; round < 10; round++) {
      for (const n of nodes.values()) {
        while (n.hasReady()) {
          const rd = n.ready();
          if (n === follower) seen.push(...rd.readStates);
          for (const m of [...rd.earlyMessages, ...rd.messages]) nodes.get(m.to)!.step(m);
          n.advance(rd);
        }
      }
    }
    expect(seen).toEqual([{ ctx: 7, ok: true, index: nodes.get(1)!.status().commit }]);
  });

  test('the PRNG is deterministic per seed and stays in range', () => {
    const a = createPrng(5);
    const b = createPrng(5);
    const xs = Array.from({ length: 100 }, () => a.nextInt(10));
    expect(Array.from({ length: 100 }, () => b.nextInt(10))).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 10)).toBe(true);
    expect(new Set(xs).size).toBe(10);
  });
});
