/**
 * Writes reach the leader from any member: the gateway proposes through a LeaderLink, which
 * proposes locally when this node leads and otherwise forwards the command over the peer
 * connection to the leader (an `rpc` frame), which proposes it and answers with the store's
 * result. Clients never look for the leader (docs/design.md).
 *
 * A forwarded command is retried only while it certainly did not take effect: no leader known,
 * the peer said it is not the leader, the proposal was dropped by a leader change, or the frame
 * could not be sent. Once a frame is out and no answer comes, the outcome is unknown and the
 * caller's deadline turns it into TIMEOUT. The command travels whole, with the session's `seq` of
 * a sequenced write: the SDK resends such a write after a TIMEOUT, and the leader's store answers
 * the resend from the session's reply table if the first copy took effect after all.
 */
import { Packr } from 'msgpackr';
import type { NodeId } from '@vigil/raft';
import { decodeCommand, encodeCommand, type Command, type CommandResult } from '@vigil/store';
import { isServerError, ServerError, type ServerErrorCode } from '../errors.js';
import type { Logger } from '../node/logger.js';
import { withDeadline } from './deadline.js';

/** What a proposal decided: the entry's index (the write's revision) and the store's result. */
export interface Proposed {
  readonly index: number;
  readonly result: CommandResult;
}

export interface LeaderLinkOptions {
  readonly selfId: NodeId;
  /** The leader as this node knows it, 0 for none. */
  readonly leader: () => NodeId;
  /** Propose on this node (it must be the leader); resolves once applied here. */
  readonly proposeLocal: (command: Command, signal: AbortSignal) => Promise<Proposed>;
  /** Send an rpc payload to a peer now, or return false. */
  readonly sendRpc: (to: NodeId, data: Uint8Array) => boolean;
  /** How long to wait between attempts while no leader can take the write. */
  readonly retryDelayMs: number;
  /** A forwarded write the leader does not decide within this is answered TIMEOUT by the leader. */
  readonly leaderTimeoutMs: number;
  readonly logger: Logger;
}

type RpcFrame =
  | { readonly t: 'propose'; readonly rid: number; readonly command: Uint8Array }
  | { readonly t: 'proposed'; readonly rid: number; readonly index: number; readonly result: CommandResult }
  | { readonly t: 'failed'; readonly rid: number; readonly code: ServerErrorCode; readonly message: string };

interface Pending {
  /** The member the write was forwarded to. */
  readonly to: NodeId;
  readonly resolve: (p: Proposed) => void;
  readonly reject: (err: Error) => void;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, bundleStrings: false, int64AsType: 'number' });

/** Failures after which the write certainly did not take effect, so trying again is safe. */
const retryable: ReadonlySet<ServerErrorCode> = new Set(['NOT_LEADER', 'NO_LEADER', 'PROPOSAL_DROPPED', 'TRANSFER_IN_PROGRESS']);

export class LeaderLink {
  private readonly o: LeaderLinkOptions;
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;
  private closed = false;

  constructor(options: LeaderLinkOptions) {
    this.o = options;
  }

  /** Propose `command` through whichever member leads; see the module comment for retries. */
  async propose(command: Command, signal: AbortSignal): Promise<Proposed> {
    for (;;) {
      if (this.closed) throw new ServerError('SHUTTING_DOWN');
      if (signal.aborted) throw new ServerError('TIMEOUT', 'no leader took the write in time; it did not take effect');
      const leader = this.o.leader();
      try {
        if (leader === this.o.selfId) return await this.o.proposeLocal(command, signal);
        if (leader !== 0) return await this.forward(leader, command, signal);
      } catch (err) {
        if (!isServerError(err) || !retryable.has(err.code)) throw err;
      }
      await delay(this.o.retryDelayMs, signal);
    }
  }

  /** Every rpc frame from a peer lands here. */
  receive(from: NodeId, data: Uint8Array): void {
    let frame: RpcFrame;
    try {
      frame = packr.unpack(data) as RpcFrame;
    } catch (err) {
      this.o.logger.warn({ peer: from, err }, 'undecodable rpc frame');
      return;
    }
    switch (frame.t) {
      case 'propose':
        void this.serve(from, frame.rid, frame.command);
        return;
      case 'proposed':
        this.settle(frame.rid, (p) => p.resolve({ index: frame.index, result: frame.result }));
        return;
      case 'failed':
        this.settle(frame.rid, (p) => p.reject(new ServerError(frame.code, frame.message)));
        return;
      default:
        this.o.logger.warn({ peer: from }, 'unknown rpc frame');
    }
  }

  /**
   * Forwarded writes can no longer be answered by `peer` (its connection dropped, or another
   * member leads now): fail them at once rather than at their deadline, so that the connection's
   * later requests are not held behind them. Their outcome is unknown.
   */
  abandon(peer: NodeId): void {
    for (const [rid, p] of this.pending) {
      if (p.to !== peer) continue;
      this.pending.delete(rid);
      p.reject(new ServerError('TIMEOUT', `member ${peer} stopped leading or was lost before answering; the write may or may not have taken effect`));
    }
  }

  /** The leader changed: writes forwarded to anyone else will not be answered. */
  leaderChanged(leader: NodeId): void {
    for (const p of new Set([...this.pending.values()].map((x) => x.to))) if (p !== leader) this.abandon(p);
  }

  /** Writes already forwarded may still take effect at the leader: they fail as outcome unknown. */
  close(): void {
    this.closed = true;
    const unknown = new ServerError('TIMEOUT', 'this server stopped before the leader answered; the write may or may not have taken effect');
    for (const p of this.pending.values()) p.reject(unknown);
    this.pending.clear();
  }

  private forward(leader: NodeId, command: Command, signal: AbortSignal): Promise<Proposed> {
    const rid = this.nextRid++;
    const data: Uint8Array = packr.pack({ t: 'propose', rid, command: encodeCommand(command) });
    if (!this.o.sendRpc(leader, data)) return Promise.reject(new ServerError('NO_LEADER', `leader ${leader} is not reachable from this member`));
    return new Promise<Proposed>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.pending.delete(rid)) reject(new ServerError('TIMEOUT', 'the leader did not answer in time; the write may or may not have taken effect'));
      };
      this.pending.set(rid, {
        to: leader,
        resolve: (p) => {
          signal.removeEventListener('abort', onAbort);
          resolve(p);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private settle(rid: number, how: (p: Pending) => void): void {
    const p = this.pending.get(rid);
    if (p === undefined) return; // timed out already
    this.pending.delete(rid);
    how(p);
  }

  /** The leader's side: propose for a peer and answer it. */
  private async serve(from: NodeId, rid: number, bytes: Uint8Array): Promise<void> {
    let reply: RpcFrame;
    try {
      const command = decodeCommand(bytes);
      if (this.o.leader() !== this.o.selfId) throw new ServerError('NOT_LEADER');
      const p = await withDeadline(this.o.leaderTimeoutMs, (signal) => this.o.proposeLocal(command, signal));
      reply = { t: 'proposed', rid, index: p.index, result: p.result };
    } catch (err) {
      const code: ServerErrorCode = isServerError(err) ? err.code : 'BAD_REQUEST';
      reply = { t: 'failed', rid, code, message: err instanceof Error ? err.message : String(err) };
    }
    if (!this.o.sendRpc(from, packr.pack(reply))) this.o.logger.debug({ peer: from, rid }, 'could not answer a forwarded write');
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
