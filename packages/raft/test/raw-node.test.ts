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

/** Three nodes with node 1 elected and everything said. */
function threeWithLeader(): { nodes: Map<NodeId, RawNode>; leader: RawNode } {
  const nodes = threeNodes();
  settle(nodes);
  nodes.get(1)!.campaign();
  settle(nodes);
  return { nodes, leader: nodes.get(1)! };
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
    const { nodes } = threeWithLeader();
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
    const { nodes } = threeWithLeader();
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

  test('a snapshot read from elsewhere: the driver may swap the image for a reader of the same bytes, and a lagging follower gets its chunks from the reader', () => {
    const ids = [1, 2, 3];
    const nodes = new Map(ids.map((id) => [id, node(id, RawNode.bootstrap(ids), { snapshotChunkBytes: 300 })]));
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    const behind = nodes.get(3)!;
    nodes.delete(3);
    for (let i = 0; i < 5; i++) leader.propose(new Uint8Array([i]));
    settle(nodes);
    const index = leader.status().commit;
    const image = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    leader.setSnapshot(index, image.slice());
    leader.compactLog(index);
    const reads: [number, number][] = [];
    const reader = {
      length: image.length,
      subarray: (start: number, end: number): Uint8Array => {
        reads.push([start, end]);
        return image.slice(start, end);
      },
    };
    expect(leader.replaceSnapshotBytes(index - 1, reader)).toBe(false);
    expect(() => leader.replaceSnapshotBytes(index, { length: 999, subarray: () => new Uint8Array(0) })).toThrow();
    expect(leader.replaceSnapshotBytes(index, reader)).toBe(true);
    nodes.set(3, behind);
    const received: Uint8Array[] = [];
    for (let round = 0; round < 50 && received.length === 0; round++) {
      leader.tick();
      for (let step = 0; step < 100; step++) {
        const msgs: Message[] = [];
        for (const n of nodes.values()) {
          while (n.hasReady()) {
            const rd = n.ready();
            if (n === behind && rd.snapshot !== null) received.push(rd.snapshot.data);
            msgs.push(...rd.earlyMessages, ...rd.messages);
            n.advance(rd);
          }
        }
        if (msgs.length === 0) break;
        for (const m of msgs) nodes.get(m.to)?.step(m);
      }
    }
    expect(received).toHaveLength(1);
    expect(received[0]).toEqual(image);
    expect(reads.length).toBeGreaterThanOrEqual(4);
    expect(reads.every(([start, end]) => end - start <= 300)).toBe(true);
    expect(behind.status().snapshotIndex).toBe(index);
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

  test('a follower that answers heartbeats but is slow to acknowledge appends gets no more than the window, until it is stuck for an election timeout', () => {
    const nodes = new Map([1, 2, 3].map((id) => [id, node(id, RawNode.bootstrap([1, 2, 3]), { inflightMsgsMax: 2, appendBytesMax: 1 })]));
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    const slow = nodes.get(3)!;
    const matched = leader.status().progress.find((p) => p.id === 3)!.match;
    for (let i = 0; i < 10; i++) leader.propose(new Uint8Array(10));
    const appendsTo3: number[] = [];
    // Nine ticks (below the election timeout of 10): heartbeats answered, appends never acknowledged.
    for (let tick = 0; tick < 9; tick++) {
      leader.tick();
      for (const m of drain(leader).messages) {
        if (m.to === 3 && m.type === 'app') {
          if (m.entries.length > 0) appendsTo3.push(m.entries[0]!.index);
        } else if (m.to === 3) {
          slow.step(m);
        } else if (m.to === 2) nodes.get(2)!.step(m);
      }
      for (const id of [2, 3]) for (const m of drain(nodes.get(id)!).messages) if (m.type !== 'appResp' || id === 2) leader.step(m);
    }
    expect(appendsTo3).toHaveLength(2);
    // Stuck for an election timeout: the leader starts again from the match, probing once a heartbeat.
    for (let tick = 0; tick < 3; tick++) {
      leader.tick();
      for (const m of drain(leader).messages) {
        if (m.to === 3 && m.type === 'app' && m.entries.length > 0) appendsTo3.push(m.entries[0]!.index);
        else if (m.to === 3) slow.step(m);
        else if (m.to === 2) nodes.get(2)!.step(m);
      }
      for (const id of [2, 3]) for (const m of drain(nodes.get(id)!).messages) if (m.type !== 'appResp' || id === 2) leader.step(m);
    }
    expect(appendsTo3.length).toBeGreaterThan(2);
    expect(new Set(appendsTo3.slice(2))).toEqual(new Set([matched + 1]));
  });

  test('a leader resends to a reconnected follower at once, from where it last matched', () => {
    const { nodes, leader } = threeWithLeader();
    const matched = leader.status().progress.find((p) => p.id === 3)!.match;
    // Appends to 3 are lost (its connection dropped); 2 acknowledges, so the entries commit.
    for (let i = 0; i < 3; i++) leader.propose(new Uint8Array([i]));
    for (let round = 0; round < 5; round++) {
      for (const m of drain(leader).messages) if (m.to === 2) nodes.get(2)!.step(m);
      for (const m of drain(nodes.get(2)!).messages) leader.step(m);
    }
    expect(leader.hasReady()).toBe(false);
    leader.peerReconnected(3);
    // No tick: the resend does not wait for a heartbeat.
    const resent = drain(leader).messages.filter((m) => m.to === 3);
    expect(resent).toHaveLength(1);
    expect(resent[0]).toMatchObject({ type: 'app', prevIndex: matched });
    const app = resent[0]!;
    expect(app.type === 'app' ? app.entries.map((e) => e.index) : []).toEqual([matched + 1, matched + 2, matched + 3]);
    // Followers and unknown peers: nothing to do.
    nodes.get(2)!.peerReconnected(1);
    nodes.get(2)!.peerReconnected(9);
    expect(nodes.get(2)!.hasReady()).toBe(false);
  });

  test('a leader answers ReadIndex only after its own term has a committed entry and a heartbeat round', () => {
    const { nodes, leader } = threeWithLeader();
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
    const { nodes } = threeWithLeader();
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

  test('ticksSinceLeaderContact: 0 on a leader in touch with its followers, counts on a follower that stops hearing it, reset by a heartbeat', () => {
    const nodes = threeNodes();
    settle(nodes);
    expect(nodes.get(2)!.ticksSinceLeaderContact()).toBeUndefined();
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    const follower = nodes.get(2)!;
    expect(leader.ticksSinceLeaderContact()).toBe(0);
    expect(follower.ticksSinceLeaderContact()).toBe(0);
    // Cut off: the follower ticks without hearing the leader.
    for (let t = 0; t < 4; t++) follower.tick();
    expect(follower.ticksSinceLeaderContact()).toBe(4);
    leader.tick();
    for (const m of drain(leader).messages) if (m.to === 2) follower.step(m);
    expect(follower.ticksSinceLeaderContact()).toBe(0);
  });

  test('ticksSinceLeaderContact on the leader: the age of its majority\'s newest word — one silent follower of two costs nothing, two make it age', () => {
    const { nodes, leader } = threeWithLeader();
    const tickAndAnswer = (answering: readonly number[]): void => {
      leader.tick();
      for (const m of drain(leader).messages) {
        if (!answering.includes(m.to)) continue;
        const n = nodes.get(m.to)!;
        n.step(m);
        for (const r of drain(n).messages) if (r.to === 1) leader.step(r);
      }
      drain(leader);
    };
    // Follower 3 silent: follower 2 still completes a majority.
    for (let t = 0; t < 3; t++) tickAndAnswer([2]);
    expect(leader.ticksSinceLeaderContact()).toBeLessThanOrEqual(1);
    // Both silent (cut off, not yet at check-quorum's step-down): it ages tick by tick.
    const before = leader.ticksSinceLeaderContact()!;
    for (let t = 0; t < 3; t++) tickAndAnswer([]);
    expect(leader.status().role).toBe('leader');
    expect(leader.ticksSinceLeaderContact()).toBe(before + 3);
    // One answer from either follower brings it back.
    tickAndAnswer([3]);
    expect(leader.ticksSinceLeaderContact()).toBeLessThanOrEqual(1);
  });

  test('two pre-candidates of one round with equal logs: the lower id refuses the other and is elected, no split vote', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(3)!.campaign();
    settle(nodes);
    nodes.delete(3); // the leader is gone
    const [a, b] = [nodes.get(1)!, nodes.get(2)!];
    // Both election timers fire at once: each is a pre-candidate before it hears the other.
    for (let t = 0; t < 100 && (a.status().role !== 'preCandidate' || b.status().role !== 'preCandidate'); t++) {
      if (a.status().role !== 'preCandidate') a.tick();
      if (b.status().role !== 'preCandidate') b.tick();
    }
    expect([a.status().role, b.status().role]).toEqual(['preCandidate', 'preCandidate']);
    const termBefore = a.status().term;
    settle(nodes);
    expect(a.status().role).toBe('leader');
    expect(b.status().role).toBe('follower');
    expect(a.status().term).toBe(termBefore + 1);
  });
  test('a follower that loses its leader\'s connection stands within two ticks; losing another peer, or leading, changes nothing', () => {
    const { nodes, leader } = threeWithLeader();
    const [f2, f3] = [nodes.get(2)!, nodes.get(3)!];
    f2.peerDisconnected(3); // not its leader
    leader.peerDisconnected(2); // a leader does not stand
    for (let t = 0; t < 2; t++) {
      f2.tick();
      leader.tick();
    }
    expect(f2.status().role).toBe('follower');
    expect(leader.status().role).toBe('leader');
    drain(leader);
    f3.peerDisconnected(1);
    f3.tick();
    f3.tick();
    expect(f3.status().role).toBe('preCandidate');
    // Follower 2 still hears the leader: it ignores the pre-vote, and nothing is disrupted.
    for (const m of drain(f3).messages) nodes.get(m.to)!.step(m);
    expect(drain(f2).messages).toEqual([]);
    expect(leader.status().role).toBe('leader');
  });

  test('ticksSinceLeaderContact on a pre-candidate counts from the leader it doubts; a heartbeat brings it back to 0; a new term forgets the leader', () => {
    const { nodes, leader } = threeWithLeader();
    const f3 = nodes.get(3)!;
    f3.peerDisconnected(1);
    f3.tick();
    f3.tick();
    expect(f3.status().role).toBe('preCandidate');
    // Its pre-vote is a doubt, not proof that the leader is gone: the age goes on from its last word.
    expect(f3.ticksSinceLeaderContact()).toBe(2);
    drain(f3);
    leader.tick();
    for (const m of drain(leader).messages) if (m.to === 3) f3.step(m);
    expect(f3.status()).toMatchObject({ role: 'follower', leader: 1 });
    expect(f3.ticksSinceLeaderContact()).toBe(0);
    // Standing in a later term (here, at the leader's request) starts a term whose leader it has not heard.
    leader.transferLeadership(3);
    for (const m of drain(leader).messages) if (m.to === 3) f3.step(m);
    expect(f3.status()).toMatchObject({ role: 'candidate', term: leader.status().term + 1 });
    expect(f3.ticksSinceLeaderContact()).toBeUndefined();
  });

  /**
   * `first` stands while `second` still holds the lease of `leader` (gone) and ignores it; then
   * `second` learns that its connection to the leader closed and stands too. Their pre-votes to
   * each other are left in their outboxes.
   */
  function standInTurn(first: RawNode, second: RawNode, leader: number): void {
    for (let t = 0; t < 100 && first.status().role !== 'preCandidate'; t++) first.tick();
    for (const m of drain(first).messages) if (m.to === second.id) second.step(m);
    expect(drain(second).messages).toEqual([]);
    second.peerDisconnected(leader);
    for (let t = 0; t < 3 && second.status().role !== 'preCandidate'; t++) second.tick();
    expect(second.status().role).toBe('preCandidate');
  }

  test('a lower-id pre-candidate that refuses a standing peer asks it again for the pre-vote the peer ignored while it heard a leader', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(3)!.campaign();
    settle(nodes);
    nodes.delete(3); // the leader is gone
    const [a, b] = [nodes.get(1)!, nodes.get(2)!];
    // 1 refuses 2 (the lower id of the round) and asks again.
    standInTurn(a, b, 3);
    const termBefore = a.status().term;
    settle(nodes); // no more ticks: no second round of 1's timer
    expect(a.status().role).toBe('leader');
    expect(b.status().role).toBe('follower');
    expect(a.status().term).toBe(termBefore + 1);
  });
  test('a pre-candidate with the longer log that refuses a standing peer asks it again for the pre-vote the peer ignored while it heard a leader', () => {
    const nodes = threeNodes();
    settle(nodes);
    nodes.get(1)!.campaign();
    settle(nodes);
    const leader = nodes.get(1)!;
    // One more entry reaches 3 but not 2; then the leader is gone.
    leader.propose(new Uint8Array([1]));
    for (const m of drain(leader).messages) if (m.to === 3) nodes.get(3)!.step(m);
    drain(nodes.get(3)!);
    nodes.delete(1);
    const [two, three] = [nodes.get(2)!, nodes.get(3)!];
    // 3 refuses 2 (its log is behind) and asks again.
    standInTurn(three, two, 1);
    settle(nodes); // no more ticks: no second round of 3's timer
    expect(three.status().role).toBe('leader');
    expect(two.status().role).toBe('follower');
  });
});
