import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Applied, type Command, type Store } from '../src/index.js';
import { bytes, scratchStore } from './support.js';

// `ephemeralsMax` on a write: the most ephemeral nodes its session may own once it is applied,
// stamped by the member that took the write (its --ephemerals-per-session-max), checked at apply.

let store: Store;
let run: (command: Command, timeMs?: number) => Promise<Applied>;
let dispose: () => Promise<void>;

const session = 7;
const other = 8;

beforeEach(async () => {
  ({ store, run, dispose } = await scratchStore());
  await run({ type: 'sessionOpen', sessionId: session, timeoutMs: 10_000 });
  await run({ type: 'sessionOpen', sessionId: other, timeoutMs: 10_000 });
});
afterEach(async () => {
  await dispose();
});

type Create = Extract<Command, { type: 'create' }>;
const ephemeral = (path: string, owner = session): Create & { sessionId: number } => ({ type: 'create', path, data: bytes('x'), mode: 'ephemeral', sessionId: owner });
const bounded = <C extends Command>(command: C, ephemeralsMax: number): C => ({ ...command, ephemeralsMax });
const code = (a: Applied): string | undefined => (a.result.ok ? undefined : a.result.error.code);

describe('ephemeralsMax', () => {
  it('refuses the create that would pass it, TOO_MANY_EPHEMERALS, and allows one again after a delete', async () => {
    expect(code(await run(bounded(ephemeral('/a'), 2)))).toBeUndefined();
    expect(code(await run(bounded(ephemeral('/b'), 2)))).toBeUndefined();
    const refused = await run(bounded(ephemeral('/c'), 2));
    expect(refused.result).toMatchObject({ ok: false, error: { code: 'TOO_MANY_EPHEMERALS', path: '/c' } });
    expect(store.exists('/c')).toMatchObject({ ok: true, value: null });
    expect(store.session(session)?.ephemerals).toEqual(['/a', '/b']);
    // Other sessions and persistent nodes are not counted.
    expect(code(await run(bounded(ephemeral('/o', other), 2)))).toBeUndefined();
    expect(code(await run(bounded({ type: 'create', path: '/p', data: bytes(''), mode: 'persistent', sessionId: session }, 2)))).toBeUndefined();
    expect(code(await run({ type: 'delete', path: '/a', sessionId: session }))).toBeUndefined();
    expect(code(await run(bounded(ephemeral('/c'), 2)))).toBeUndefined();
  });

  it('counts a multi’s own creates and deletes, and refuses it whole', async () => {
    await run(bounded(ephemeral('/a'), 3));
    const tooMany = await run(bounded({ type: 'multi', sessionId: session, ops: [ephemeral('/b'), ephemeral('/c'), ephemeral('/d')] }, 3));
    expect(tooMany.result).toMatchObject({ ok: false, error: { code: 'TOO_MANY_EPHEMERALS', opIndex: 2 } });
    expect(store.exists('/b')).toMatchObject({ ok: true, value: null });
    // Deleting one in the same multi makes room for the third.
    const fits = await run(bounded({ type: 'multi', sessionId: session, ops: [ephemeral('/b'), { type: 'delete', path: '/a' }, ephemeral('/c'), ephemeral('/d')] }, 3));
    expect(fits.result.ok).toBe(true);
    expect(store.session(session)?.ephemerals).toEqual(['/b', '/c', '/d']);
  });

  it('answers a resent write with its recorded result, not a new count', async () => {
    const first = await run({ ...bounded(ephemeral('/a'), 1), seq: 1, seqFloor: 1 });
    expect(first.result.ok).toBe(true);
    const resent = await run({ ...bounded(ephemeral('/a'), 1), seq: 1, seqFloor: 1 });
    expect(resent.result).toEqual(first.result);
  });

  it('binds nothing when absent', async () => {
    for (let i = 0; i < 5; i++) expect(code(await run(ephemeral(`/n${i}`)))).toBeUndefined();
  });
});
