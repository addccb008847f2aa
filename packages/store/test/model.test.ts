import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, openStore, type Applied, type Command, type CreateMode, type Entry, type Op } from '../src/index.js';
import { ReferenceModel } from './reference-model.js';
import { tempDir } from './support.js';

// A small path universe so that ops collide: existing nodes, missing parents, sequential siblings.
const segment = fc.constantFrom('a', 'a', 'b', 'é');
const pathOfDepth = (n: number) => fc.array(segment, { minLength: n, maxLength: n }).map((s) => `/${s.join('/')}`);
const path = fc.oneof({ weight: 3, arbitrary: pathOfDepth(1) }, { weight: 4, arbitrary: pathOfDepth(2) }, { weight: 1, arbitrary: pathOfDepth(3) });
const anyPath = fc.oneof({ weight: 20, arbitrary: path }, { weight: 1, arbitrary: fc.constantFrom('/', 'bad', '/a/', '/a/../b') });
const data = fc.uint8Array({ maxLength: 8 });
// -2 and 2^31 - 1 are versions no node has: BAD_VERSION, as in ZooKeeper.
const version = fc.constantFrom(undefined, undefined, undefined, -1, 0, 1, -2, 2 ** 31 - 1);
const mode = fc.constantFrom<CreateMode>('persistent', 'persistent', 'ephemeral', 'persistent-sequential', 'ephemeral-sequential', 'container', 'container', 'container', 'ttl', 'persistent-sequential-ttl');
const sessionId = fc.integer({ min: 1, max: 3 });
const withVersion = <T extends object>(o: T, v: number | undefined): T => (v === undefined ? o : { ...o, version: v });

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ path: anyPath, data, mode, parents: fc.boolean(), ttl: fc.constantFrom(undefined, 500, 3_000) }).map(
    ({ path, data, mode, parents, ttl }): Op => ({
      type: 'create', path, data, mode,
      ...(ttl === undefined || !mode.includes('ttl') ? {} : { ttlMs: ttl }),
      ...(parents ? { createParents: true } : {}),
    }),
  ) },
  { weight: 2, arbitrary: fc.tuple(anyPath, data, version).map(([path, data, v]): Op => withVersion({ type: 'set', path, data }, v)) },
  { weight: 3, arbitrary: fc.tuple(anyPath, version).map(([path, v]): Op => withVersion({ type: 'delete', path }, v)) },
  { weight: 1, arbitrary: fc.tuple(anyPath, version).map(([path, v]): Op => withVersion({ type: 'check', path }, v)) },
);

const onBehalf = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: sessionId });
const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  { weight: 10, arbitrary: fc.tuple(op, onBehalf).map(([o, s]): Command => (s === undefined ? o : { ...o, sessionId: s })) },
  { weight: 3, arbitrary: fc.tuple(fc.array(op, { maxLength: 5 }), onBehalf).map(([ops, s]): Command => (s === undefined ? { type: 'multi', ops } : { type: 'multi', ops, sessionId: s })) },
  { weight: 3, arbitrary: fc.tuple(sessionId, fc.constantFrom(1_000, 5_000), fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined })).map(([id, t, secret]): Command => ({ type: 'sessionOpen', sessionId: id, timeoutMs: t, ...(secret === undefined ? {} : { secret }) })) },
  { weight: 1, arbitrary: sessionId.map((id): Command => ({ type: 'sessionClose', sessionId: id })) },
  { weight: 1, arbitrary: sessionId.map((id): Command => ({ type: 'sessionExpire', sessionId: id })) },
  { weight: 1, arbitrary: fc.array(sessionId, { maxLength: 3 }).map((ids): Command => ({ type: 'sessionHeartbeat', sessionIds: ids })) },
  { weight: 1, arbitrary: fc.array(anyPath, { maxLength: 4 }).map((paths): Command => ({ type: 'sweep', paths })) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'noop' }) },
  // A node replaced in one multi (deleted, then created again, maybe of another kind or owner).
  { weight: 4, arbitrary: fc.tuple(pathOfDepth(1), data, mode, sessionId, fc.boolean()).map(([p, d, m, id, onBehalf]): Command => {
    const s = onBehalf ? id : undefined;
    const ops: Op[] = [{ type: 'delete', path: p }, { type: 'create', path: p, data: d, mode: m, ...(m.includes('ttl') ? { ttlMs: 500 } : {}) }];
    return s === undefined ? { type: 'multi', ops } : { type: 'multi', ops, sessionId: s };
  }) },
  // Container churn in a tiny corner of the tree, so emptied containers are reaped often.
  { weight: 2, arbitrary: fc.constantFrom('/k', '/k/j').map((p): Command => ({ type: 'create', path: p, data: new Uint8Array(0), mode: 'container' })) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('/k/x', '/k/y', '/k/j/x', '/k/j/y'), fc.boolean(), sessionId).map(([p, eph, s]): Command =>
    eph ? { type: 'create', path: p, data: new Uint8Array(0), mode: 'ephemeral', sessionId: s } : { type: 'create', path: p, data: new Uint8Array(0), mode: 'persistent' }) },
  { weight: 3, arbitrary: fc.constantFrom('/k/x', '/k/y', '/k/j/x', '/k/j/y', '/k/j').map((p): Command => ({ type: 'delete', path: p })) },
  // Resolved when the entry is built, like a leader would: sweep whatever TTL nodes are due.
  { weight: 2, arbitrary: fc.constant<Command>({ type: 'sweep', paths: ['<due>'] }) },
);

/** Commands with entry times that advance by a random step, in random write batches. */
const script = fc.record({
  steps: fc.array(fc.tuple(commandArbitrary, fc.integer({ min: 0, max: 1_500 })), { minLength: 50, maxLength: 250 }),
  batchSizes: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
  reopenAt: fc.integer({ min: 0, max: 250 }),
});

const withoutMessage = (a: Applied) => {
  if (a.result.ok) return a;
  const { message: _message, ...error } = a.result.error;
  return { ...a, result: { ok: false, error } };
};

const stats: { ok: number; failed: number; swept: number; reaped: number }[] = [];

describe('the LevelDB store against the reference model', () => {
  it('agrees on every result, event and digest over long random histories, across reopen and snapshot/restore', async () => {
    const dir = await tempDir();
    let runNo = 0;
    try {
      await fc.assert(
        fc.asyncProperty(script, async ({ steps, batchSizes, reopenAt }) => {
          const location = `${dir.path}/run-${runNo++}`;
          let store = await openStore({ path: location });
          const model = new ReferenceModel();
          let timeMs = 1_000;
          try {
            let at = 0;
            let batchNo = 0;
            const outcomes = { ok: 0, failed: 0, swept: 0, reaped: 0 };
            while (at < steps.length) {
              if (at >= reopenAt && reopenAt >= 0) {
                await store.close();
                store = await openStore({ path: location });
                reopenAt = -1;
              }
              const size = batchSizes[batchNo++ % batchSizes.length] as number;
              const batch: Entry[] = [];
              const expected = [];
              for (const [c, dt] of steps.slice(at, at + size)) {
                timeMs += dt;
                let commandNow = c;
                if (c.type === 'sweep' && c.paths[0] === '<due>') {
                  commandNow = { type: 'sweep', paths: model.ttlDue(timeMs) };
                  outcomes.swept += commandNow.paths.length;
                }
                const entry: Entry = { index: at + batch.length + 1, timeMs, command: commandNow };
                batch.push(entry);
                expected.push(model.apply(entry));
              }
              at += batch.length;
              const applied = await store.apply(batch);
              expect(applied.map(withoutMessage)).toEqual(expected);
              for (const a of applied) outcomes[a.result.ok ? 'ok' : 'failed']++;
            }
            outcomes.reaped = model.containersReaped;
            stats.push(outcomes);
            for (const p of ['/', '/a', '/b', '/a/b', '/a/é', '/k', '/k/j']) {
              const page = store.children(p);
              if (page.ok) expect(page.value.names).toEqual(model.childrenOf(p));
              else expect(model.nodes.has(p)).toBe(false);
            }
            // Each session's ephemerals, as the store indexes them, are the nodes it owns.
            const owned = (id: number): string[] =>
              [...model.nodes].filter(([, n]) => n.kind === 'ephemeral' && n.ephemeralOwner === id).map(([p]) => p).sort(compareCodePoints);
            expect(store.sessions().map((x) => [x.sessionId, x.ephemerals])).toEqual([...model.sessions.keys()].sort((a, b) => a - b).map((id) => [id, owned(id)]));
            const modelDigest = model.digest();
            expect(store.memoryDigest()).toBe(modelDigest);
            expect(await store.digest()).toBe(modelDigest);

            const copy = await openStore({ path: `${location}-restored` });
            await copy.restoreSnapshot(store.snapshotStream());
            expect(await copy.digest()).toBe(modelDigest);
            expect(copy.sessions()).toEqual(store.sessions());
            await copy.close();
          } finally {
            await store.close();
          }
        }),
        { numRuns: 40 },
      );
      // The generator must keep producing histories where many commands do something: about 35 % of
      // them succeed (ok/failed 0.53–0.57 over six runs of 40 histories); a bound at ok > failed / 2
      // sat within that spread and failed one CI run in the random draw, so it is set well below it:
      // a generator that broke (bad paths, no sessions) would fall far under a fifth.
      const total = stats.reduce((t, s) => ({ ok: t.ok + s.ok, failed: t.failed + s.failed, swept: t.swept + s.swept, reaped: t.reaped + s.reaped }));
      expect(total.ok).toBeGreaterThan(total.failed / 4);
      expect(total.swept).toBeGreaterThan(0);
      expect(total.reaped).toBeGreaterThan(0);
    } finally {
      await dir.remove();
    }
  });
});
