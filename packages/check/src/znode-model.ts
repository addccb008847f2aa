// The sequential specification the linearizability search checks against: one versioned znode, as
// packages/store applies create, get (getData), set (setData) and delete to it.

import { isAnyVersion, quote, type ZnodeOp } from './history.js';

/** The znode is absent. */
export const absent = 'absent';

/** The state of one znode: absent, or its data and version (the number of sets since its create). */
export type ZnodeState = typeof absent | { readonly value: string; readonly version: number };

/** Why an operation cannot take effect (or be observed) in a state. */
export type ZnodeRefusal =
  | 'needs-absent' // create ok, or a NO_NODE answer, while the znode exists
  | 'needs-present' // get/set/delete ok, or NODE_EXISTS/BAD_VERSION/NOT_EMPTY, while it is absent
  | 'version-mismatch' // set/delete ok (or NOT_EMPTY) whose expected version is not the znode's
  | 'version-matches' // BAD_VERSION although the expected version is the znode's (or any version)
  | 'wrong-value' // get ok read other data than the znode holds
  | 'wrong-version'; // the version an ok answer reports is not the one the znode has (or gets)

/** The result of applying one operation to a state. */
export type ZnodeStep = { readonly ok: true; readonly state: ZnodeState } | { readonly ok: false; readonly refusal: ZnodeRefusal };

/** The error answers the model knows, per function, as observations of the state. */
const modelledErrors: Readonly<Record<ZnodeOp['f'], readonly string[]>> = {
  // create answers NO_NODE when the parent is missing, so the znode is certainly absent.
  create: ['NODE_EXISTS', 'NO_NODE'],
  get: ['NO_NODE'],
  set: ['NO_NODE', 'BAD_VERSION'],
  delete: ['NO_NODE', 'BAD_VERSION', 'NOT_EMPTY'],
};

/**
 * Whether an operation constrains the znode: 'fail' operations never took effect, an 'info' read
 * observed nothing anyone saw, and an error code the model does not know says nothing about it.
 */
export function isModelled(op: ZnodeOp): boolean {
  switch (op.outcome) {
    case 'ok':
      return true;
    case 'fail':
      return false;
    case 'info':
      return op.f !== 'get';
    case 'error':
      return op.error !== undefined && modelledErrors[op.f].includes(op.error);
  }
}

// Preallocated refusals: the search calls stepZnode millions of times.
const refused: Readonly<Record<ZnodeRefusal, ZnodeStep>> = {
  'needs-absent': { ok: false, refusal: 'needs-absent' },
  'needs-present': { ok: false, refusal: 'needs-present' },
  'version-mismatch': { ok: false, refusal: 'version-mismatch' },
  'version-matches': { ok: false, refusal: 'version-matches' },
  'wrong-value': { ok: false, refusal: 'wrong-value' },
  'wrong-version': { ok: false, refusal: 'wrong-version' },
};

const unchanged = (state: ZnodeState): ZnodeStep => ({ ok: true, state });

/**
 * Applies `op` to `state` at one instant. An 'ok' operation takes effect and its recorded results
 * must match; an 'error' answer is an observation that leaves the state as it is; an 'info'
 * operation is applied as if it succeeded (had it failed, it would have changed nothing, which is
 * the same as never taking effect). Result fields left undefined are not constrained.
 */
export function stepZnode(state: ZnodeState, op: ZnodeOp): ZnodeStep {
  if (op.outcome === 'error') return observeError(state, op);
  const checked = op.outcome === 'ok';
  switch (op.f) {
    case 'create': {
      if (state !== absent) return refused['needs-absent'];
      if (checked && op.resultVersion !== undefined && op.resultVersion !== 0) return refused['wrong-version'];
      return { ok: true, state: { value: op.value ?? '', version: 0 } };
    }
    case 'get': {
      if (state === absent) return refused['needs-present'];
      if (checked && op.resultValue !== undefined && op.resultValue !== state.value) return refused['wrong-value'];
      if (checked && op.resultVersion !== undefined && op.resultVersion !== state.version) return refused['wrong-version'];
      return unchanged(state);
    }
    case 'set': {
      if (state === absent) return refused['needs-present'];
      if (!isAnyVersion(op.expectedVersion) && op.expectedVersion !== state.version) return refused['version-mismatch'];
      const version = state.version + 1;
      if (checked && op.resultVersion !== undefined && op.resultVersion !== version) return refused['wrong-version'];
      return { ok: true, state: { value: op.value ?? '', version } };
    }
    case 'delete': {
      if (state === absent) return refused['needs-present'];
      if (!isAnyVersion(op.expectedVersion) && op.expectedVersion !== state.version) return refused['version-mismatch'];
      return { ok: true, state: absent };
    }
  }
}

function observeError(state: ZnodeState, op: ZnodeOp): ZnodeStep {
  switch (op.error) {
    case 'NO_NODE':
      return state === absent ? unchanged(state) : refused['needs-absent'];
    case 'NODE_EXISTS':
      return state === absent ? refused['needs-present'] : unchanged(state);
    case 'BAD_VERSION':
      if (state === absent) return refused['needs-present'];
      return isAnyVersion(op.expectedVersion) || op.expectedVersion === state.version ? refused['version-matches'] : unchanged(state);
    case 'NOT_EMPTY':
      // The store checks the version before the children (packages/store znode-tree.ts).
      if (state === absent) return refused['needs-present'];
      return isAnyVersion(op.expectedVersion) || op.expectedVersion === state.version ? unchanged(state) : refused['version-mismatch'];
    default:
      // isModelled() keeps these out of the search; alone, an unknown error observes nothing.
      return unchanged(state);
  }
}

/** The state as a string, equal for equal states: the search's memo key. */
export function znodeStateKey(state: ZnodeState): string {
  return state === absent ? '-' : `${state.version}:${state.value}`;
}

/** The state for reports: `absent` or `'x' v2`. */
export function describeZnodeState(state: ZnodeState): string {
  return state === absent ? 'absent' : `${quote(state.value)} v${state.version}`;
}

/** Why `op` does not fit `state`, in words, for a violation report. */
export function explainRefusal(state: ZnodeState, op: ZnodeOp, refusal: ZnodeRefusal): string {
  const holds = `the znode is ${describeZnodeState(state)}`;
  switch (refusal) {
    case 'needs-absent':
      return `${op.outcome === 'error' ? `answered ${op.error ?? 'an error'}` : `${op.f} succeeded`}, but ${holds}`;
    case 'needs-present':
      return `${op.outcome === 'error' ? `answered ${op.error ?? 'an error'}` : `${op.f} succeeded`}, but the znode is absent`;
    case 'version-mismatch':
      return `${op.f} required v${op.expectedVersion}, but ${holds}`;
    case 'version-matches':
      return `answered BAD_VERSION for ${isAnyVersion(op.expectedVersion) ? 'any version' : `v${op.expectedVersion}`}, but ${holds}`;
    case 'wrong-value':
      return `read ${quote(op.resultValue ?? '')}, but ${holds}`;
    case 'wrong-version':
      return `answered v${op.resultVersion}, but ${holds}${op.f === 'set' ? ' (a set makes the next version)' : ''}`;
  }
}
