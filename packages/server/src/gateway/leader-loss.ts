/**
 * When a member takes its leader for gone, and so ends its client connections for them to resume
 * elsewhere (decisions 32, 40, 43 and 46). Fed once a tick with the age, in ticks, of the member's
 * last word from its leader (for a leader: from its majority), or undefined when no leader is known
 * in its current term. The leader is gone after three election timeouts of silence, or after two
 * election timeouts without any leader in a new term (or after the member stepped down as leader).
 *
 * Ending a connection costs far more than holding a request: every session on it dials again and
 * re-registers its watches, thousands at once on a busy member. A silence of one election timeout
 * is often only a stalled leader (a long collection, a starved CPU), which is heard again a moment
 * later; the member's own election, tried from the first election timeout, finds a new leader if
 * there is one, and an election the member takes part in usually ends well within the timeout it
 * is given. Meanwhile pings and resumes wait at the door (decision 40), so no session is vouched
 * for that cannot be. etcd waits for three election timeouts without a leader before it cancels
 * the watch streams that asked for one, for the same reason.
 */
export type LeaderLoss = 'silent' | 'leaderless';

/** Election timeouts of silence from the leader after which it is taken for gone. */
export const silentElectionTimeouts = 3;
/**
 * Election timeouts without any leader (a new term, or a leader that stepped down) after which
 * the leader is taken for gone; the silence before the election began usually adds another.
 */
export const leaderlessElectionTimeouts = 2;

export class LeaderLossWatch {
  private inTouch = false;
  private leaderlessTicks = 0;

  constructor(private readonly electionTicks: number) {}

  /** How long, in ticks, no leader has been known (0 while one is). */
  get ticksWithoutLeader(): number {
    return this.leaderlessTicks;
  }

  /** One tick: why the leader is now taken for gone, on the tick it first is; null otherwise. */
  tick(ticksSinceLeaderContact: number | undefined): LeaderLoss | null {
    const leaderless = ticksSinceLeaderContact === undefined;
    this.leaderlessTicks = leaderless ? this.leaderlessTicks + 1 : 0;
    const loss: LeaderLoss | null = leaderless ? (this.leaderlessTicks > leaderlessElectionTimeouts * this.electionTicks ? 'leaderless' : null) : ticksSinceLeaderContact > silentElectionTimeouts * this.electionTicks ? 'silent' : null;
    if (loss !== null) {
      const lostNow = this.inTouch;
      this.inTouch = false;
      return lostNow ? loss : null;
    }
    // Only a leader heard arms the watch: a member that has known none since it started has no
    // leader to lose.
    if (!leaderless) this.inTouch = true;
    return null;
  }
}
