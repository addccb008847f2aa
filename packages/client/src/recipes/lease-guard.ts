/**
 * What makes a held lock or leadership trustworthy: an AbortSignal that aborts the moment the
 * hold is lost or can no longer be proven, with the reason.
 *
 * A hold is a node owned by a session. It ends when the node is deleted (by the holder, or by
 * someone else), when the session expires or the client closes, and — the case Curator and etcd
 * leave to the application — when the client can no longer prove that its session is alive:
 * `client.sessionAliveUntilMs` stops moving while the client is cut off or the process is paused,
 * and once it passes, a server may have expired the session and given the lock to another. The
 * guard checks it on a short timer and whenever a caller asks (`isHeld()`), so a process resumed
 * after a long pause finds its lease aborted before its next timer-driven action, and `fence()`
 * makes any write it guards fail regardless.
 */
import { VigilError, type VigilClient } from '../index.js';

/** Why a hold ended. */
export type LossReason =
  /** The holder gave it up (`release()`). */
  | 'released'
  /** The leader gave leadership up (`resign()`). */
  | 'resigned'
  /** The session expired (its ephemeral nodes are deleted). */
  | 'expired'
  /** The session could not be proven alive (suspended past its proven life, or past the tolerance). */
  | 'suspended'
  /** Someone else deleted the node. */
  | 'deleted'
  /** The client was closed. */
  | 'closed';

/** How often the guard compares the clock with the session's proven life, at most. */
export const leaseCheckEveryMsMax = 100;

export interface LeaseGuardOptions {
  readonly client: VigilClient;
  readonly path: string;
  readonly sessionId: number;
  /**
   * Declare the hold lost this long after the connection is suspended, even while the session is
   * still proven alive. Default: not before the proof runs out.
   */
  readonly suspendedToleranceMs?: number | undefined;
  /** Called once, when the hold ends, with the reason. */
  readonly onLost?: ((reason: LossReason) => void) | undefined;
}

export class LeaseGuard {
  private readonly controller = new AbortController();
  private readonly o: LeaseGuardOptions;
  private reasonValue: LossReason | null = null;
  private readonly timer: ReturnType<typeof setInterval>;
  private suspendTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly unsubscribe: () => void;

  constructor(options: LeaseGuardOptions) {
    this.o = options;
    const client = options.client;
    const everyMs = Math.max(1, Math.min(leaseCheckEveryMsMax, Math.floor(client.sessionTimeoutMs / 10)));
    this.timer = setInterval(() => this.isHeld(), everyMs);
    this.timer.unref();
    this.unsubscribe = client.on('state', (state) => {
      if (state === 'expired' || (state === 'connected' && client.sessionId !== options.sessionId)) this.lose('expired');
      else if (state === 'closed') this.lose('closed');
      else if (state === 'suspended' && options.suspendedToleranceMs !== undefined) {
        this.suspendTimer = setTimeout(() => this.lose('suspended'), options.suspendedToleranceMs);
        this.suspendTimer.unref();
      } else if (state === 'reconnected' && this.suspendTimer !== null) {
        clearTimeout(this.suspendTimer);
        this.suspendTimer = null;
      }
    });
    if (client.sessionId !== options.sessionId) this.lose('expired');
    else if (client.state === 'suspended' && options.suspendedToleranceMs === 0) this.lose('suspended');
    else this.watchNode();
  }

  /** Aborts (with a VigilError LEASE_LOST as its reason) when the hold ends. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the hold ended; null while it lasts. */
  get reason(): LossReason | null {
    return this.reasonValue;
  }

  /** True while the hold lasts; checks the session's proven life against the clock first. */
  isHeld(): boolean {
    if (this.reasonValue !== null) return false;
    if (performance.now() > this.o.client.sessionAliveUntilMs) this.lose('suspended');
    return this.reasonValue === null;
  }

  /** Ends the hold with `reason` (the first reason wins). */
  lose(reason: LossReason): void {
    if (this.reasonValue !== null) return;
    this.reasonValue = reason;
    clearInterval(this.timer);
    if (this.suspendTimer !== null) clearTimeout(this.suspendTimer);
    this.unsubscribe();
    this.controller.abort(new VigilError('LEASE_LOST', `the hold on ${this.o.path} ended: ${reason}`, { path: this.o.path }));
    this.o.onLost?.(reason);
  }

  /** A one-shot watch on the node, armed again after every change that is not its deletion. */
  private watchNode(): void {
    if (this.reasonValue !== null) return;
    this.o.client
      .exists(this.o.path, {
        // Sequential: at least as new as the session's own writes (the node's creation among them).
        consistency: 'sequential',
        watch: (event) => {
          if (event.kind === 'deleted') this.lose('deleted');
          else this.watchNode();
        },
      })
      .then(
        (stat) => {
          if (stat === null) this.lose('deleted');
        },
        () => {
          // The session ended or the client closed: the state listener reports it. Another failure
          // (a deadline while cut off) leaves the node unwatched but the proof of life still checked:
          // arm again later.
          if (this.reasonValue === null) setTimeout(() => this.watchNode(), leaseCheckEveryMsMax).unref();
        },
      );
  }
}
