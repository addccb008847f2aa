// The fault runner's account of how members end (scripts/faults/members.ts): a member that stops
// because its disk is full (exit 70) is that fault's outcome, not a crash, even when the stop ends
// after the runner freed the disk (its graceful shutdown takes up to its deadline), and it is then
// restarted. Needs root (a network namespace and a tmpfs), as CI has.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../scripts/cluster/process-cluster.js';
import { fillDisk, freeDisk, mountDisk, unmountDisk } from '../scripts/faults/disk.js';
import { RunLedger } from '../scripts/faults/ledger.js';
import { Members } from '../scripts/faults/members.js';
import { FaultNetwork, faultSuiteUnavailable } from '../scripts/faults/net.js';

const unavailable = await faultSuiteUnavailable();
if (unavailable !== undefined) process.stderr.write(`fault runner members test SKIPPED: ${unavailable}\n`);

describe.skipIf(unavailable !== undefined)('the fault runner members', () => {
  it('a member that stops on its full disk after the runner freed it is restarted, and not counted as a crash', async () => {
    const run = 207;
    const ledger = new RunLedger(run);
    await ledger.reclaim();
    const root = await mkdtemp(join(tmpdir(), 'vigil-fault-members-'));
    ledger.addDir(root);
    const disk = join(root, 'disk');
    await mkdir(disk);
    ledger.addMount(disk);
    await mountDisk(disk, 64 * 1024 * 1024);
    const net = await FaultNetwork.create(run);
    const members = new Members({ net, root, clusterId: 'fault-members', serverArgs: ['--tick-ms', '50'], env: {}, ledger });
    try {
      const member = await members.define(1, join(disk, 'data'));
      const filler = join(disk, 'filler');
      await fillDisk(disk, filler);
      members.setDiskFull(1, true);
      members.start(1, [1]);
      // The runner's fault ends before the member has got far enough to stop: the disk is still
      // full, so the process started while it was marked full stops (70) after the mark is gone.
      members.setDiskFull(1, false);
      await waitFor('a stop on the full disk', () => (member.diskFullExits.length > 0 ? true : undefined), 30_000);
      await freeDisk(filler);
      // Restarted by the runner, the member finds room and serves.
      const leads = async (): Promise<true | undefined> => ((await members.status(1))?.role === 'leader' ? true : undefined);
      await waitFor('the restarted member to lead', leads, 30_000);
      expect(member.diskFullExits[0]).toBe('exit 70');
      expect(member.unexpectedExits).toEqual([]);

      // A member with data, restarted onto a full disk, stops the same way (the database cannot open).
      await members.kill(1);
      await fillDisk(disk, filler);
      members.setDiskFull(1, true);
      const before = member.diskFullExits.length;
      members.start(1, [1]);
      await waitFor('a stop at start-up on the full disk', () => (member.diskFullExits.length > before ? true : undefined), 30_000);
      expect(member.diskFullExits.at(-1)).toBe('exit 70');
      await freeDisk(filler);
      members.setDiskFull(1, false);
      members.start(1, [1]);
      await waitFor('the member to lead again', leads, 30_000);
      expect(member.unexpectedExits).toEqual([]);
    } finally {
      await members.close();
      await unmountDisk(disk);
      ledger.removeMount(disk);
      await net.close();
      ledger.close();
      await rm(root, { recursive: true, force: true });
    }
  }, 90_000);
});
