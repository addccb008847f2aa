/**
 * When a member takes its leader for gone, and so ends its client connections for them to resume
 * elsewhere (decisions 32, 40 and 43). Fed once a tick with the age, in ticks, of the member's last
 * word from its leader (for a leader: from its majority), or undefined when no leader is known in
 * its current term. The leader is gone after a whole election timeout of silence — when the
 * member's own election timer would fire — or after another election timeout without any leader
 * in a new term: an election the member takes part in usually ends well before that, and ending
 * every connection the moment it starts sends all the member's clients to dial again while the
 * cluster elects.
 */
export type LeaderLoss = 'silent' | 'leaderless';

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
    const loss: LeaderLoss | null = leaderless ? (this.leaderlessTicks > this.electionTicks ? 'leaderless' : null) : ticksSinceLeaderContact > this.electionTicks ? 'silent' : null;
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
