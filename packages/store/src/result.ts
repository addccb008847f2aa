import type { ErrorCode } from './errors.js';
import type { Stat } from './znode.js';
import type { WatchEvent } from './watch-event.js';

export type OpResult =
  | { readonly type: 'create'; readonly path: string; readonly stat: Stat }
  | { readonly type: 'set'; readonly stat: Stat }
  | { readonly type: 'delete' }
  | { readonly type: 'check' };

export type CommandValue =
  | OpResult
  | { readonly type: 'multi'; readonly results: readonly OpResult[] }
  | { readonly type: 'setAcl'; readonly stat: Stat }
  | { readonly type: 'userPut'; readonly created: boolean }
  | { readonly type: 'userDelete' }
  | { readonly type: 'sessionOpen' }
  | { readonly type: 'sessionHeartbeat'; readonly touched: number }
  | { readonly type: 'sessionClose' | 'sessionExpire'; readonly sessionId: number; readonly deleted: readonly string[] }
  | { readonly type: 'sweep'; readonly deleted: readonly string[] }
  | { readonly type: 'noop' };

/** An operational failure; for a multi, `opIndex` is the position of the first failing op. */
export interface OpError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly path?: string;
  readonly opIndex?: number;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: OpError };

export type CommandResult = Result<CommandValue>;

/** What applying one entry did: its result and the watch events it caused (none on failure). */
export interface Applied {
  readonly index: number;
  readonly result: CommandResult;
  readonly events: readonly WatchEvent[];
}
