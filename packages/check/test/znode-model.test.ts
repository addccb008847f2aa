import { describe, expect, it } from 'vitest';
import { absent, explainRefusal, isModelled, stepZnode, type ZnodeState } from '../src/index.js';
import { history } from './history-text.js';

const one = (line: string) => history(line)[0]!;
const present = (value: string, version: number): ZnodeState => ({ value, version });
const after = (state: ZnodeState, line: string) => stepZnode(state, one(line));

describe('the versioned znode model', () => {
  it('creates at version 0 and refuses a create of a present znode', () => {
    expect(after(absent, 'p1 0-1 create a -> v0')).toEqual({ ok: true, state: present('a', 0) });
    expect(after(absent, 'p1 0-1 create a -> v1')).toEqual({ ok: false, refusal: 'wrong-version' });
    expect(after(present('a', 0), 'p1 0-1 create b -> ok')).toEqual({ ok: false, refusal: 'needs-absent' });
  });

  it('reads the data and version it holds, and answers NO_NODE only when absent', () => {
    expect(after(present('a', 2), 'p1 0-1 get -> a v2')).toEqual({ ok: true, state: present('a', 2) });
    expect(after(present('a', 2), 'p1 0-1 get -> a v1')).toEqual({ ok: false, refusal: 'wrong-version' });
    expect(after(present('a', 2), 'p1 0-1 get -> b v2')).toEqual({ ok: false, refusal: 'wrong-value' });
    expect(after(absent, 'p1 0-1 get -> a v0')).toEqual({ ok: false, refusal: 'needs-present' });
    expect(after(absent, 'p1 0-1 get -> NO_NODE')).toEqual({ ok: true, state: absent });
    expect(after(present('a', 0), 'p1 0-1 get -> NO_NODE')).toEqual({ ok: false, refusal: 'needs-absent' });
  });

  it('sets the next version, honouring an expected version, and answers BAD_VERSION only on a mismatch', () => {
    expect(after(present('a', 0), 'p1 0-1 set b -> v1')).toEqual({ ok: true, state: present('b', 1) });
    expect(after(present('a', 0), 'p1 0-1 set b if=-1 -> v1')).toEqual({ ok: true, state: present('b', 1) });
    expect(after(present('a', 3), 'p1 0-1 set b if=3 -> v4')).toEqual({ ok: true, state: present('b', 4) });
    expect(after(present('a', 3), 'p1 0-1 set b if=2 -> v3')).toEqual({ ok: false, refusal: 'version-mismatch' });
    expect(after(present('a', 3), 'p1 0-1 set b -> v3')).toEqual({ ok: false, refusal: 'wrong-version' });
    expect(after(present('a', 3), 'p1 0-1 set b if=2 -> BAD_VERSION')).toEqual({ ok: true, state: present('a', 3) });
    expect(after(present('a', 3), 'p1 0-1 set b if=3 -> BAD_VERSION')).toEqual({ ok: false, refusal: 'version-matches' });
    expect(after(present('a', 3), 'p1 0-1 set b -> BAD_VERSION')).toEqual({ ok: false, refusal: 'version-matches' });
    expect(after(absent, 'p1 0-1 set b -> NO_NODE')).toEqual({ ok: true, state: absent });
    expect(after(absent, 'p1 0-1 set b if=0 -> BAD_VERSION')).toEqual({ ok: false, refusal: 'needs-present' });
  });

  it('deletes with or without an expected version; NOT_EMPTY observes a present znode whose version matched', () => {
    expect(after(present('a', 1), 'p1 0-1 delete -> ok')).toEqual({ ok: true, state: absent });
    expect(after(present('a', 1), 'p1 0-1 delete if=1 -> ok')).toEqual({ ok: true, state: absent });
    expect(after(present('a', 1), 'p1 0-1 delete if=0 -> ok')).toEqual({ ok: false, refusal: 'version-mismatch' });
    expect(after(present('a', 1), 'p1 0-1 delete if=0 -> BAD_VERSION')).toEqual({ ok: true, state: present('a', 1) });
    expect(after(absent, 'p1 0-1 delete -> NO_NODE')).toEqual({ ok: true, state: absent });
    expect(after(present('a', 1), 'p1 0-1 delete -> NOT_EMPTY')).toEqual({ ok: true, state: present('a', 1) });
    expect(after(present('a', 1), 'p1 0-1 delete if=0 -> NOT_EMPTY')).toEqual({ ok: false, refusal: 'version-mismatch' });
  });

  it('treats an expected version below -1 as one no znode has: BAD_VERSION, as in ZooKeeper', () => {
    expect(after(present('a', 0), 'p1 0-1 set b if=-2 -> BAD_VERSION')).toEqual({ ok: true, state: present('a', 0) });
    expect(after(present('a', 0), 'p1 0-1 set b if=-2 -> v1')).toEqual({ ok: false, refusal: 'version-mismatch' });
    expect(after(present('a', 0), 'p1 0-1 delete if=-2 -> BAD_VERSION')).toEqual({ ok: true, state: present('a', 0) });
    expect(after(present('a', 0), 'p1 0-1 delete if=-2 -> ok')).toEqual({ ok: false, refusal: 'version-mismatch' });
    expect(after(absent, 'p1 0-1 delete if=-2 -> NO_NODE')).toEqual({ ok: true, state: absent });
  });

  it('applies an operation of unknown outcome as if it succeeded, without results to check', () => {
    expect(after(present('a', 1), 'p1 0-1 set b -> ?')).toEqual({ ok: true, state: present('b', 2) });
    expect(after(present('a', 1), 'p1 0-1 create b -> ?')).toEqual({ ok: false, refusal: 'needs-absent' });
  });

  it('leaves out what constrains nothing: failures, unknown reads, unknown error codes', () => {
    expect(history('p1 0-1 set a -> fail').map(isModelled)).toEqual([false]);
    expect(history('p1 0-1 get -> ?').map(isModelled)).toEqual([false]);
    expect(history('p1 0-1 get -> BAD_ARGUMENTS').map(isModelled)).toEqual([false]);
    expect(history('p1 0-1 create a -> NO_NODE').map(isModelled)).toEqual([true]);
    expect(history('p1 0-1 set a -> ?').map(isModelled)).toEqual([true]);
  });

  it('explains a refusal in words naming the state', () => {
    const op = one('p1 0-1 get -> b v2');
    expect(explainRefusal(present('a', 2), op, 'wrong-value')).toBe("read 'b', but the znode is 'a' v2");
    expect(explainRefusal(absent, one('p1 0-1 delete -> ok'), 'needs-present')).toBe('delete succeeded, but the znode is absent');
  });
});
