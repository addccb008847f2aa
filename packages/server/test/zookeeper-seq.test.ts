import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { ClientFrame } from '@vigil/protocol';
import { openStore, type Command, type Store } from '@vigil/store';
import { ClientConnection, zookeeperSeqRange, type GatewayServices } from '../src/gateway/client-connection.js';
import type { Proposed } from '../src/gateway/leader-link.js';
import { gatewayServices, RecordingChannel } from './connection-support.js';

/**
 * A ZooKeeper connection numbers its session's writes itself (decision 60). A session's earlier
 * connection may still have writes on their way to the log when the client resumes the session
 * on a later one: whatever the order in which they land, a write of the later connection is
 * never answered with the earlier connection's result, and a late write of the earlier
 * connection never takes effect after one of the later connection. The log is the test's: each
 * proposal is applied to one store when the test lets it through.
 */

const sessionId = 7;
const secret = new Uint8Array(16).fill(3);
let store: Store;
let dir: string;
let index = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vigil-zkseq-'));
  store = await openStore({ path: dir });
  index = 0;
  await apply({ type: 'sessionOpen', sessionId, timeoutMs: 10_000, secret });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function apply(command: Command): Promise<Proposed> {
  index++;
  const [applied] = await store.apply([{ index, timeMs: 1_000 + index, command }]);
  return { index, result: applied!.result };
}

/** Proposals wait here until the test lets them into the log (or, when not held, go at once). */
class TestLog {
  held = false;
  readonly waiting: { command: Command; go: () => Promise<void> }[] = [];
  readonly proposed: Command[] = [];
  propose(command: Command): Promise<Proposed> {
    this.proposed.push(command);
    if (!this.held) return apply(command);
    return new Promise<Proposed>((resolve, reject) => {
      this.waiting.push({ command, go: () => apply(command).then(resolve, reject) });
    });
  }
  async release(): Promise<void> {
    for (const w of this.waiting.splice(0)) await w.go();
  }
}

function services(log: TestLog): GatewayServices {
  return gatewayServices(store, {
    link: { propose: (command: Command) => log.propose(command) } as unknown as GatewayServices['link'],
    sessions: { touch: () => undefined, open: () => Promise.reject(new Error('this test resumes its one session')), verify: () => true } as unknown as GatewayServices['sessions'],
    linearizableRead: async () => store.appliedIndex,
  });
}

/** A ZooKeeper connection that resumes the session, as a client does after losing its last one. */
async function resume(log: TestLog): Promise<{ channel: RecordingChannel; send: (frame: ClientFrame) => void }> {
  return (await resumeWhenLogged(log))();
}

/** Whether `path` exists in the store. */
function exists(path: string): boolean {
  const r = store.exists(path);
  return r.ok && r.value !== null;
}

/** Starts a resume and returns a function that waits for its welcome (its claim may be held in the log). */
async function resumeWhenLogged(log: TestLog): Promise<() => Promise<{ channel: RecordingChannel; send: (frame: ClientFrame) => void }>> {
  const channel = new RecordingChannel();
  new ClientConnection(channel, services(log), 'test', '127.0.0.1', null, true);
  const send = (frame: ClientFrame): void => channel.input?.receive({ ok: true, value: frame }, 16);
  send({ t: 'hello', protocolVersion: 1, sessionTimeoutMs: 10_000, session: { id: sessionId, secret, lastRevision: store.appliedIndex } });
  return async () => {
    await expect.poll(() => channel.frames).toContain('welcome');
    return { channel, send };
  };
}

async function untilWaiting(log: TestLog, n: number): Promise<void> {
  await expect.poll(() => log.waiting.length).toBe(n);
}

const create = (id: number, path: string): ClientFrame => ({ t: 'req', id, op: 'create', path, data: new Uint8Array(0), mode: 'persistent' });

describe('writes of two connections of one session', () => {
  // One write: on decision 60's numbering the later write met the earlier one's seq recorded and
  // was answered with its result, never applied (an acknowledged write lost). Three: it was refused.
  test.each([1, 3])('the earlier connection\'s %i writes land first: the later connection\'s write takes effect and gets its own answer', async (n) => {
    const log = new TestLog();
    const first = await resume(log);
    log.held = true;
    for (let i = 1; i <= n; i++) first.send(create(i, `/first-${i}`));
    // The client loses the first connection before any answer and resumes on another.
    log.held = false;
    const second = await resume(log);
    log.held = true;
    await log.release();
    log.held = false;
    second.send(create(1, '/second'));
    await expect.poll(() => second.channel.answers.size).toBe(1);
    expect(second.channel.answers.get(1)).toMatchObject({ result: { op: 'create', path: '/second' } });
    expect(exists('/second')).toBe(true);
    // The first connection's writes landed after the second claimed its range: none took effect.
    expect([...first.channel.answers.values()]).toEqual(Array.from({ length: n }, () => expect.objectContaining({ error: expect.objectContaining({ name: 'STALE_SEQUENCE' }) })));
    expect(Array.from({ length: n }, (_, i) => exists(`/first-${i + 1}`))).toEqual(Array.from({ length: n }, () => false));
  });

  test('the earlier connection\'s writes land last: none of them takes effect after the later connection\'s write', async () => {
    const log = new TestLog();
    const first = await resume(log);
    log.held = true;
    for (let i = 1; i <= 3; i++) first.send(create(i, `/first-${i}`));
    const late = log.waiting.splice(0);
    log.held = false;
    const second = await resume(log);
    second.send(create(1, '/second'));
    await expect.poll(() => second.channel.answers.size).toBe(1);
    expect(second.channel.answers.get(1)).toMatchObject({ result: { op: 'create', path: '/second' } });
    for (const w of late) await w.go();
    await expect.poll(() => first.channel.answers.size).toBe(3);
    for (let i = 1; i <= 3; i++) {
      expect(first.channel.answers.get(i)).toMatchObject({ error: { name: 'STALE_SEQUENCE' } });
      expect(exists(`/first-${i}`)).toBe(false);
    }
  });

  test('two resumes whose claims meet: the second claims again, above the first connection\'s range, and that connection\'s writes are refused (the session moved)', async () => {
    const log = new TestLog();
    log.held = true;
    const [a, b] = await Promise.all([resumeWhenLogged(log), resumeWhenLogged(log), untilWaiting(log, 2)]);
    // Both read the same record, so both claimed the same seq.
    expect(log.waiting.map((w) => w.command).map((c) => ('seq' in c ? c.seq : 0))).toEqual([zookeeperSeqRange + 1, zookeeperSeqRange + 1]);
    log.held = false;
    await log.release();
    const [first, second] = await Promise.all([a(), b()]);
    const claims = log.proposed.filter((c) => c.type === 'check').map((c) => ('seq' in c ? c.seq ?? 0 : 0));
    expect(claims).toEqual([zookeeperSeqRange + 1, zookeeperSeqRange + 1, 2 * (zookeeperSeqRange + 1)]);
    first.send(create(1, '/a'));
    second.send(create(1, '/b'));
    await expect.poll(() => first.channel.answers.size + second.channel.answers.size).toBe(2);
    expect(first.channel.answers.get(1)).toMatchObject({ error: { name: 'STALE_SEQUENCE' } });
    expect(second.channel.answers.get(1)).toMatchObject({ result: { op: 'create', path: '/b' } });
    expect([exists('/a'), exists('/b')]).toEqual([false, true]);
  });
});

describe('the store', () => {
  test('a write sent once (seqOnce) that meets its seq recorded is refused, where a resend gets the recorded answer', async () => {
    const write = (path: string, seqOnce: boolean): Command => ({ type: 'create', path, data: new Uint8Array(0), mode: 'persistent', sessionId, seq: 5, seqFloor: 5, ...(seqOnce ? { seqOnce: true as const } : {}) });
    expect((await apply(write('/one', true))).result).toMatchObject({ ok: true, value: { path: '/one' } });
    expect((await apply(write('/two', false))).result).toMatchObject({ ok: true, value: { path: '/one' } });
    expect((await apply(write('/two', true))).result).toMatchObject({ ok: false, error: { code: 'STALE_SEQUENCE' } });
    expect(exists('/two')).toBe(false);
  });
});
