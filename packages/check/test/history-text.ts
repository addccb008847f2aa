// A small notation for hand-made histories, one operation a line, so that a test reads like the
// timeline it describes:
//
//   p1 0-10 create a -> ok          p2 5-15 get -> a v0 @r3        p3 0-40 set b if=0 -> ?
//   p1 20-30 get -> NO_NODE         p4 1-2 delete key=/x -> fail
//
// Left of `->`: process, invoke-complete (ms), function, then the value (create/set) and options
// `if=<version>`, `key=<path>` (default /k), `s=<sessionId>`. Right: `ok`, get's `<value> v<n>`,
// create/set's `v<n>`, an error code (NO_NODE …), `?` (unknown, optionally with a code) or
// `fail`; `@r<n>` anywhere on the right is the response's revision.

import type { ZnodeOp } from '../src/index.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export function history(text: string): ZnodeOp[] {
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line !== '')
    .map(parseLine);
}

function parseLine(line: string): ZnodeOp {
  const [left, right] = line.split('->').map((s) => s.trim());
  if (left === undefined || right === undefined) throw new Error(`no '->' in: ${line}`);
  const [processText, interval, f, ...args] = left.split(/\s+/);
  const [invokeText, completeText] = (interval ?? '').split('-');
  if (f !== 'create' && f !== 'get' && f !== 'set' && f !== 'delete') throw new Error(`bad function in: ${line}`);
  const op: Mutable<ZnodeOp> = {
    process: Number((processText ?? '').replace(/^p/, '')),
    key: '/k',
    f,
    outcome: 'ok',
    invokeMs: Number(invokeText),
    completeMs: Number(completeText),
  };
  for (const arg of args) {
    if (arg.startsWith('if=')) op.expectedVersion = Number(arg.slice(3));
    else if (arg.startsWith('key=')) op.key = arg.slice(4);
    else if (arg.startsWith('s=')) op.sessionId = Number(arg.slice(2));
    else op.value = arg;
  }
  const results = right.split(/\s+/).filter((token) => {
    if (!token.startsWith('@r')) return true;
    op.revision = Number(token.slice(2));
    return false;
  });
  const [first, second] = results;
  if (first === '?') {
    op.outcome = 'info';
    op.error = second ?? 'TIMEOUT';
  } else if (first === 'fail') {
    op.outcome = 'fail';
    op.error = second ?? 'NOT_LEADER';
  } else if (first !== undefined && /^[A-Z_]+$/.test(first)) {
    op.outcome = 'error';
    op.error = first;
  } else if (first !== undefined && first !== 'ok') {
    for (const token of results) {
      if (/^v\d+$/.test(token)) op.resultVersion = Number(token.slice(1));
      else op.resultValue = token;
    }
  }
  if (Number.isNaN(op.process) || Number.isNaN(op.invokeMs) || Number.isNaN(op.completeMs)) throw new Error(`bad line: ${line}`);
  return op;
}
