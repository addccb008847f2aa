import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Prng } from '@vigil/raft';
import { fillDisk, freeDisk } from './disk.js';
import { clientPort, peerPort, type Members } from './members.js';
import type { FaultNetwork } from './net.js';

/**
 * The faults: each `inject` returns the step that undoes it. The runner injects one at a time
 * from a seeded schedule and always heals everything before it checks (healAll).
 */

export const faultKinds = [
  'kill',
  'kill-leader',
  'pause',
  'isolate',
  'isolate-leader',
  'split',
  'one-way',
  'bridge',
  'loss',
  'terminate-leader',
  'membership',
  'transfer',
  'disk-full',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultRecord {
  readonly kind: FaultKind;
  readonly detail: string;
  readonly startMs: number;
  endMs: number;
}

/** How long a new member may take to catch up before it is promoted anyway (the promote then fails). */
const catchUpWaitMs = 10_000;

export class Nemesis {
  /** The voters as the runner last configured them; members outside it are spares or removed. */
  voters: number[];
  private nextId: number;
  readonly log: FaultRecord[] = [];

  constructor(
    private readonly members: Members,
    private readonly net: FaultNetwork,
    private readonly prng: Prng,
    voters: readonly number[],
    /** The member whose data directory is on a small tmpfs (for disk-full), if any. */
    private readonly diskMember: number | undefined,
    /** Told the new voters after every membership change, before a removed member stops. */
    private readonly onVoters: (voters: readonly number[]) => void = () => undefined,
  ) {
    this.voters = [...voters];
    this.nextId = Math.max(...voters) + 1;
  }

  /** Injects `kind`; resolves with what undoes it. */
  async inject(kind: FaultKind): Promise<() => Promise<void>> {
    const record: FaultRecord = { kind, detail: '', startMs: performance.now(), endMs: 0 };
    this.log.push(record);
    const { heal, detail } = await this.apply(kind);
    (record as { detail: string }).detail = detail;
    return async () => {
      const outcome = await heal();
      if (typeof outcome === 'string') (record as { detail: string }).detail += `; ${outcome}`;
      record.endMs = performance.now();
    };
  }

  /** Removes every rule, resumes every paused member, starts every voter that is down, frees the disk. */
  async healAll(): Promise<void> {
    await this.net.heal();
    for (const id of this.members.all.keys()) this.members.resume(id);
    await this.freeDisk();
    for (const id of this.members.all.keys()) this.members.setDiskFull(id, false);
    for (const id of this.voters) this.members.start(id, this.voters);
  }

  private pick<T>(items: readonly T[]): T {
    const item = items[this.prng.nextInt(items.length)];
    if (item === undefined) throw new Error('pick from nothing');
    return item;
  }

  private async leaderOrAny(): Promise<number> {
    return (await this.members.leader()) ?? this.pick(this.voters);
  }

  private async apply(kind: FaultKind): Promise<{ heal: () => Promise<string | void>; detail: string }> {
    const m = this.members;
    const voters = this.voters;
    const others = (x: number): number[] => voters.filter((v) => v !== x);
    const restart = (id: number) => async (): Promise<void> => {
      if (this.voters.includes(id)) m.start(id, this.voters);
    };
    switch (kind) {
      case 'kill':
      case 'kill-leader': {
        const id = kind === 'kill' ? this.pick(voters) : await this.leaderOrAny();
        await m.kill(id);
        return { heal: restart(id), detail: `kill -9 ${kind === 'kill' ? 'member' : 'leader'} ${id}` };
      }
      case 'pause': {
        const id = this.pick(voters);
        m.pause(id);
        return { heal: async () => m.resume(id), detail: `SIGSTOP member ${id}` };
      }
      case 'isolate':
      case 'isolate-leader': {
        const id = kind === 'isolate' ? this.pick(voters) : await this.leaderOrAny();
        await this.net.cut([id], others(id));
        return { heal: () => this.net.heal(), detail: `member ${id} cut off from ${others(id).join(',')}` };
      }
      case 'split': {
        const order = shuffle(voters, this.prng);
        const minority = order.slice(0, Math.floor(voters.length / 2));
        const majority = order.slice(minority.length);
        await this.net.cut(minority, majority);
        return { heal: () => this.net.heal(), detail: `split ${minority.join(',')} | ${majority.join(',')}` };
      }
      case 'one-way': {
        const id = this.pick(voters);
        for (const other of others(id)) await this.net.dropFrom(id, other);
        return { heal: () => this.net.heal(), detail: `member ${id} hears no one; they hear it` };
      }
      case 'bridge': {
        // Two overlapping majorities joined by one member: everyone but the bridge is cut in half.
        const order = shuffle(voters, this.prng);
        const bridge = order[0]!;
        const rest = order.slice(1);
        const left = rest.slice(0, Math.ceil(rest.length / 2));
        const right = rest.slice(left.length);
        await this.net.cut(left, right);
        return { heal: () => this.net.heal(), detail: `bridge ${bridge} between ${left.join(',')} and ${right.join(',')}` };
      }
      case 'loss': {
        await this.net.loss(voters, 0.2);
        return { heal: () => this.net.heal(), detail: '20 % packet loss on every member' };
      }
      case 'terminate-leader': {
        const id = await this.leaderOrAny();
        await m.terminate(id);
        return { heal: restart(id), detail: `SIGTERM leader ${id} with writes in flight` };
      }
      case 'transfer': {
        // Under 10 % loss, so that the handover races retransmissions.
        await this.net.loss(voters, 0.1);
        const leader = await this.leaderOrAny();
        const to = this.pick(others(leader));
        const res = await m.admin('POST', '/admin/leader/transfer', { to });
        return { heal: () => this.net.heal(), detail: `leader transfer ${leader} → ${to} under 10 % loss: ${res.ok ? 'accepted' : `refused (${res.status})`}` };
      }
      case 'membership':
        return this.replaceMember();
      case 'disk-full': {
        if (this.diskMember === undefined || !voters.includes(this.diskMember)) return { heal: async () => undefined, detail: 'no disk member' };
        const id = this.diskMember;
        const stopsBefore = m.get(id).diskFullExits.length;
        m.setDiskFull(id, true);
        await this.fillDisk(id);
        return {
          heal: async () => {
            await this.freeDisk();
            m.setDiskFull(id, false);
            // A member that stopped on ENOSPC comes back once there is room again (one still
            // stopping is restarted when it has ended: Members.setDiskFull).
            m.start(id, this.voters);
            const stopped = m.get(id).diskFullExits.length > stopsBefore;
            return stopped ? `member ${id} stopped on the full disk (${m.get(id).diskFullExits.at(-1)}) and was restarted` : `member ${id} running when the disk was freed`;
          },
          detail: `data disk of member ${id} full`,
        };
      }
    }
  }

  /**
   * Replaces a voter, under a paused follower: a new member joins as a learner, is promoted,
   * and the old one is removed and stopped.
   */
  private async replaceMember(): Promise<{ heal: () => Promise<void>; detail: string }> {
    const m = this.members;
    const candidates = this.voters.filter((v) => v !== this.diskMember);
    const victim = this.pick(candidates);
    // The bystander is a follower: pausing the leader would make this an election instead.
    const leader = await m.leader();
    const bystander = this.pick(this.voters.filter((v) => v !== victim && v !== leader));
    m.pause(bystander);
    const steps: string[] = [`paused ${bystander}`];
    try {
      const newId = this.nextId++;
      const joined = await m.define(newId);
      m.start(newId, [...this.voters, newId], { join: true });
      const added = await m.admin('POST', '/admin/members', {
        id: newId,
        peerAddress: `${joined.host.ip}:${peerPort}`,
        clientAddress: `${joined.host.ip}:${clientPort}`,
      });
      steps.push(`add learner ${newId}: ${added.ok ? 'ok' : `refused (${added.status} ${JSON.stringify(added.body)})`}`);
      if (!added.ok) {
        await m.kill(newId);
        return { heal: async () => m.resume(bystander), detail: steps.join('; ') };
      }
      m.resume(bystander);
      await this.awaitCaughtUp(newId);
      const promoted = await m.admin('POST', `/admin/members/${newId}/promote`);
      steps.push(`promote ${newId}: ${promoted.ok ? 'ok' : `refused (${promoted.status} ${JSON.stringify(promoted.body)})`}`);
      if (!promoted.ok) return { heal: async () => undefined, detail: steps.join('; ') };
      this.voters = [...this.voters, newId];
      this.onVoters(this.voters);
      m.pause(bystander);
      const removed = await m.admin('DELETE', `/admin/members/${victim}`);
      steps.push(`remove ${victim}: ${removed.ok ? 'ok' : `refused (${removed.status} ${JSON.stringify(removed.body)})`}`);
      if (removed.ok) {
        this.voters = this.voters.filter((v) => v !== victim);
        this.onVoters(this.voters);
        await m.terminate(victim);
      }
      return { heal: async () => m.resume(bystander), detail: steps.join('; ') };
    } catch (err) {
      m.resume(bystander);
      throw err;
    }
  }

  private async awaitCaughtUp(id: number): Promise<void> {
    const deadline = performance.now() + catchUpWaitMs;
    while (performance.now() < deadline) {
      const leader = await this.members.leader();
      const status = leader === undefined ? undefined : await this.members.status(leader);
      const member = status?.members.find((x) => x.id === id);
      if (status !== undefined && member?.matchIndex != null && status.commitIndex - member.matchIndex <= 10) return;
      await delay(100);
    }
  }

  private fillerPath(): string | undefined {
    return this.diskMember === undefined ? undefined : join(this.members.get(this.diskMember).dataDir, '..', 'filler');
  }

  private async fillDisk(id: number): Promise<void> {
    const filler = this.fillerPath();
    if (filler !== undefined) await fillDisk(this.members.get(id).dataDir, filler);
  }

  private async freeDisk(): Promise<void> {
    const filler = this.fillerPath();
    if (filler !== undefined) await freeDisk(filler);
  }
}

/** The items in an order drawn from `prng` (Fisher–Yates). */
export function shuffle<T>(items: readonly T[], prng: Prng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
