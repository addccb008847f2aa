import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { withDeadline } from '../scripts/bench/processes.js';
import { type Client, closeClient, create, exists, getChildren, getData, openClient, sync } from './support/zookeeper-node-client.js';
import { startTarget, zkCliScript, type ZooKeeperTarget, zookeeperTargetNames } from './support/zookeeper-target.js';

/**
 * Debian's zkCli.sh (ZooKeeper's Java client and shell) against a real ZooKeeper 3.8 and against
 * Vigil's ZooKeeper listener. Fed a script on stdin (no terminal: no prompt, no echo), one JVM runs
 * every command in order; stdout and stderr go to one pipe so that messages and errors interleave
 * as printed. Values that differ between servers (zxids, times, session ids) are checked by
 * format and by their relations, the rest line by line.
 */

const cliDeadlineMs = 30_000;

interface CliRun {
  status: number | null;
  /** Output after the session is connected, without the JVM's SLF4J notices. */
  lines: string[];
}

/** Run zkCli.sh with `commands` on stdin (or one command as `args`); stdout and stderr merged in order. */
function runZkCli(connectString: string, commands: readonly string[], args: readonly string[] = []): Promise<CliRun> {
  return withDeadline(new Promise<CliRun>((resolve, reject) => {
    const proc = spawn('sh', ['-c', 'exec "$0" -server "$@" 2>&1', zkCliScript, connectString, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => (out += chunk));
    proc.on('error', reject);
    proc.on('close', (status) => {
      const all = out.split('\n').filter((l) => !l.startsWith('SLF4J:'));
      const connected = all.indexOf('WatchedEvent state:SyncConnected type:None path:null');
      if (connected < 0) reject(new Error(`zkCli never connected:\n${out}`));
      else resolve({ status, lines: all.slice(connected + 1) });
    });
    proc.stdin.end(`${commands.join('\n')}\n`);
  }), cliDeadlineMs, 'zkCli.sh');
}

const zxid = /^0x[0-9a-f]+$/;
const javaDate = /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{2}:\d{2}:\d{2} [A-Z]+ \d{4}$/;
const statKeys = ['cZxid', 'ctime', 'mZxid', 'mtime', 'pZxid', 'cversion', 'dataVersion', 'aclVersion', 'ephemeralOwner', 'dataLength', 'numChildren'];

/** A `stat` block (11 `key = value` lines) starting at `from`. */
function statAt(lines: readonly string[], from: number): Record<string, string> {
  const block = lines.slice(from, from + statKeys.length).map((l) => /^(\w+) = (.*)$/.exec(l));
  expect(block.map((m) => m?.[1])).toEqual(statKeys);
  return Object.fromEntries(block.map((m) => [m![1]!, m![2]!]));
}

/** The transcript with server-specific values replaced: zxids, dates and non-zero session ids. */
function normalized(lines: readonly string[]): string[] {
  return lines.map((l) => l
    .replace(/^(cZxid|mZxid|pZxid) = 0x[0-9a-f]+$/, '$1 = <zxid>')
    .replace(/^(ctime|mtime) = .*$/, '$1 = <date>')
    .replace(/^ephemeralOwner = 0x[0-9a-f]*[1-9a-f][0-9a-f]*$/, 'ephemeralOwner = <session>'));
}

describe.each(zookeeperTargetNames())('zkCli.sh against %s', (name) => {
  let target: ZooKeeperTarget;
  let client: Client;
  let run: CliRun;
  beforeAll(async () => {
    target = await startTarget(name);
    client = await openClient(target.connectString);
    // Written by another client first, so that the shell reads what it did not write.
    await create(client, '/pre', 'from-node');
    await create(client, '/pre/child');
    run = await runZkCli(target.connectString, [
      // The shell's member may not have applied another session's writes yet: a sync first, as a ZooKeeper application does.
      'sync /pre',
      'get /pre',
      'ls /pre',
      'create /cli hello',
      'create /cli dup',
      'create -s /cli/s- x',
      'create -s /cli/s- y',
      'create -e /cli/e eph',
      'create /cli/e/kid x',
      'get /cli',
      'set /cli world',
      'set -v 0 /cli stale',
      'stat /cli',
      'ls /cli',
      'ls -s /cli',
      'get -s /cli/e',
      'get /nope',
      'delete /cli',
      'delete -v 7 /cli/s-0000000000',
      'delete /cli/s-0000000000',
      'deleteall /cli',
      'stat /cli',
      'create /kept v',
      'create -e /kept/eph gone-after-quit',
      'ls /kept',
      'quit',
    ]);
  }, 60_000);
  afterAll(async () => {
    if (client !== undefined) await closeClient(client);
    await target?.stop();
  });

  test('the transcript: success messages, data, lists, stats and error messages in order', () => {
    expect(normalized(run.lines)).toEqual([
      'Sync is OK',
      'from-node',
      '[child]',
      'Created /cli',
      'Node already exists: /cli',
      'Created /cli/s-0000000000',
      'Created /cli/s-0000000001',
      'Created /cli/e',
      'Ephemerals cannot have children: /cli/e/kid',
      'hello',
      // set prints nothing; a wrong version is reported as "version No is not valid".
      'version No is not valid : /cli',
      // stat /cli
      'cZxid = <zxid>', 'ctime = <date>', 'mZxid = <zxid>', 'mtime = <date>', 'pZxid = <zxid>',
      'cversion = 3', 'dataVersion = 1', 'aclVersion = 0', 'ephemeralOwner = 0x0', 'dataLength = 5', 'numChildren = 3',
      // ls, then ls -s: the same list and the parent's stat
      '[e, s-0000000000, s-0000000001]',
      '[e, s-0000000000, s-0000000001]',
      'cZxid = <zxid>', 'ctime = <date>', 'mZxid = <zxid>', 'mtime = <date>', 'pZxid = <zxid>',
      'cversion = 3', 'dataVersion = 1', 'aclVersion = 0', 'ephemeralOwner = 0x0', 'dataLength = 5', 'numChildren = 3',
      // get -s of the ephemeral: its data and stat, owned by the shell's session
      'eph',
      'cZxid = <zxid>', 'ctime = <date>', 'mZxid = <zxid>', 'mtime = <date>', 'pZxid = <zxid>',
      'cversion = 0', 'dataVersion = 0', 'aclVersion = 0', 'ephemeralOwner = <session>', 'dataLength = 3', 'numChildren = 0',
      'Node does not exist: /nope',
      'Node not empty: /cli',
      'version No is not valid : /cli/s-0000000000',
      // delete and deleteall print nothing; the stat after deleteall finds nothing
      'Node does not exist: /cli',
      'Created /kept',
      'Created /kept/eph',
      '[eph]',
      '',
      'WATCHER::',
      '',
      'WatchedEvent state:Closed type:None path:null',
      '',
    ]);
  });

  test('stat values: hex zxids in order, Java dates, the shell\'s session as the ephemeral owner', () => {
    const cli = statAt(run.lines, run.lines.findIndex((l) => l.startsWith('cZxid = ')));
    for (const key of ['cZxid', 'mZxid', 'pZxid']) expect(cli[key]).toMatch(zxid);
    for (const key of ['ctime', 'mtime']) expect(cli[key]).toMatch(javaDate);
    // /cli was set after its children were created: mZxid > pZxid > cZxid.
    expect(BigInt(cli['mZxid']!)).toBeGreaterThan(BigInt(cli['pZxid']!));
    expect(BigInt(cli['pZxid']!)).toBeGreaterThan(BigInt(cli['cZxid']!));
    const eph = statAt(run.lines, run.lines.indexOf('eph') + 1);
    expect(eph['cZxid']).toBe(eph['mZxid']);
    expect(eph['cZxid']).toBe(cli['pZxid']);
    expect(eph['ephemeralOwner']).toMatch(/^0x[0-9a-f]+$/);
    expect(BigInt(eph['ephemeralOwner']!)).not.toBe(0n);
  });

  test('the shell\'s writes are what another client reads; its ephemeral went with its session', async () => {
    await sync(client, '/kept');
    expect(await exists(client, '/cli')).toBeNull();
    expect((await getData(client, '/kept')).data).toBe('v');
    // zkCli closes its session on quit, so the server removed the ephemeral at once.
    expect((await getChildren(client, '/kept')).children).toEqual([]);
  });

  test('the requests of ZooKeeper 3.6+ and ACLs as the Java client reads their answers: whoami, getEphemerals, getAllChildrenNumber, addWatch, removewatches, getAcl/setAcl, ls -R, one-shot watches', async () => {
    const bob = `bob:${createHash('sha1').update('bob:pw').digest('base64')}`;
    const more = await runZkCli(target.connectString, [
      'create /w x',
      'whoami',
      'addauth digest bob:pw',
      'addauth digest al:pw',
      'whoami',
      'create -e /w/e1 a',
      'create -c /c',
      'create /c/k v',
      'getEphemerals /w',
      'getAllChildrenNumber /w',
      'addWatch -m PERSISTENT_RECURSIVE /w',
      'set /w/e1 b',
      'create /w/n m',
      'removewatches /w -a',
      'removewatches /w -a',
      'set /w/e1 c',
      'getAcl /w',
      `setAcl /w digest:${bob}:cdrwa`,
      'getAcl /w',
      'ls -R /w',
      'get -w /w/n',
      'set /w/n z',
      'ls -w /c',
      'delete /c/k',
    ]);
    // The shell prints watch events from another thread: they are checked apart, in their own order.
    const watcherLine = /^(WATCHER::|WatchedEvent .*|)$/;
    expect(more.lines.filter((l) => !watcherLine.test(l))).toEqual([
      'Created /w',
      'Auth scheme: User',
      'ip: 127.0.0.1',
      'Auth scheme: User',
      'digest: bob',
      'digest: al',
      'ip: 127.0.0.1',
      'Created /w/e1',
      'Created /c',
      'Created /c/k',
      '[/w/e1]',
      '1',
      'Created /w/n',
      'KeeperErrorCode = No such watcher for /w',
      '\'world,\'anyone',
      ': cdrwa',
      `'digest,'${bob}`,
      ': cdrwa',
      '/w',
      '/w/e1',
      '/w/n',
      'm',
      '[k]',
    ]);
    expect(more.lines.filter((l) => l.startsWith('WatchedEvent '))).toEqual([
      'WatchedEvent state:SyncConnected type:NodeDataChanged path:/w/e1',
      'WatchedEvent state:SyncConnected type:NodeCreated path:/w/n',
      'WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/w',
      'WatchedEvent state:SyncConnected type:NodeDataChanged path:/w/n',
      'WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/c',
    ]);
    expect(more.status).toBe(0);
  });

  test('the exit status is the last command\'s: 0 after a script whose last command worked, 1 for a failed single command', async () => {
    expect(run.status).toBe(0);
    // One command after -server runs without a script (a JVM of its own).
    const single = await runZkCli(target.connectString, [], ['get', '/nope']);
    expect(single.status).toBe(1);
    expect(single.lines).toContain('Node does not exist: /nope');
  });
});
