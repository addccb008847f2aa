// Histories valid by construction: processes issue operations over random, overlapping intervals;
// each operation takes effect on a real znode at a random instant inside its interval (an unknown
// outcome: at any instant after its call, or never), in the order of those instants.

import type { ZnodeOp } from '../src/index.js';
import { createPrng } from './prng.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface SimulationOptions {
  readonly seed: number;
  readonly processes: number;
  readonly ops: number;
  readonly keys: number;
  /** Chance that an operation's outcome is unknown to its client (default 0.05). */
  readonly infoRate?: number;
  /** Chance that an operation certainly failed (default 0.05). */
  readonly failRate?: number;
}

interface Planned {
  readonly op: Mutable<ZnodeOp>;
  /** When it takes effect; undefined: never. */
  readonly atMs: number | undefined;
}

export function simulateHistory(options: SimulationOptions): ZnodeOp[] {
  const random = createPrng(options.seed);
  const infoRate = options.infoRate ?? 0.05;
  const failRate = options.failRate ?? 0.05;
  const clockMs = Array.from({ length: options.processes }, () => random.float() * 5);
  const planned: Planned[] = [];
  for (let n = 0; n < options.ops; n++) {
    const process = random.int(options.processes);
    const invokeMs = clockMs[process]! + random.float() * 3;
    const completeMs = invokeMs + 0.1 + random.float() * 10;
    clockMs[process] = completeMs;
    const roll = random.float();
    const outcome = roll < infoRate ? 'info' : roll < infoRate + failRate ? 'fail' : 'ok';
    const f = random.pick(['create', 'get', 'get', 'get', 'set', 'set', 'delete'] as const);
    const op: Mutable<ZnodeOp> = { process, key: `/k${random.int(options.keys)}`, f, outcome, invokeMs, completeMs };
    if (f === 'create' || f === 'set') op.value = `v${n}`;
    let atMs: number | undefined = invokeMs + random.float() * (completeMs - invokeMs);
    if (outcome === 'fail') atMs = undefined;
    // An unknown outcome may land after the client gave up, or never.
    if (outcome === 'info') atMs = random.float() < 0.5 ? undefined : invokeMs + random.float() * 3 * (completeMs - invokeMs);
    planned.push({ op, atMs });
  }

  const state = new Map<string, { value: string; version: number }>();
  let revision = 0;
  const effective = planned.filter((p): p is Planned & { atMs: number } => p.atMs !== undefined).sort((a, b) => a.atMs - b.atMs);
  for (const { op } of effective) {
    const current = state.get(op.key);
    // A conditional write names the current version, a stale one, or none.
    if ((op.f === 'set' || op.f === 'delete') && current !== undefined) {
      const choice = random.int(3);
      if (choice === 1) op.expectedVersion = current.version;
      if (choice === 2) op.expectedVersion = current.version + 1;
    }
    const versionOk = op.expectedVersion === undefined || op.expectedVersion === current?.version;
    let error: string | undefined;
    switch (op.f) {
      case 'create':
        if (current !== undefined) error = 'NODE_EXISTS';
        else {
          state.set(op.key, { value: op.value ?? '', version: 0 });
          op.resultVersion = 0;
        }
        break;
      case 'get':
        if (current === undefined) error = 'NO_NODE';
        else {
          op.resultValue = current.value;
          op.resultVersion = current.version;
        }
        break;
      case 'set':
        if (current === undefined) error = 'NO_NODE';
        else if (!versionOk) error = 'BAD_VERSION';
        else {
          state.set(op.key, { value: op.value ?? '', version: current.version + 1 });
          op.resultVersion = current.version + 1;
        }
        break;
      case 'delete':
        if (current === undefined) error = 'NO_NODE';
        else if (!versionOk) error = 'BAD_VERSION';
        else state.delete(op.key);
        break;
    }
    if (error === undefined && op.f !== 'get') revision++;
    if (op.outcome === 'info') {
      delete op.resultValue;
      delete op.resultVersion;
      continue;
    }
    op.revision = revision;
    if (error !== undefined) {
      op.outcome = 'error';
      op.error = error;
    }
  }
  for (const { op } of planned) {
    if (op.outcome === 'info') op.error = 'TIMEOUT';
    if (op.outcome === 'fail') op.error = 'NOT_LEADER';
  }
  return planned.map((p) => p.op);
}
