import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect } from '@vigil/client';
import { JuteWriter as JuteWriterClass, zkErr, zkOp, zkXid, zooKeeperVersion, type JuteWriter } from '@vigil/server';
import { TestCluster, waitFor } from './support/cluster.js';
import { fourLetterWord, RawZooKeeper, readStat } from './support/raw-zookeeper.js';

/**
 * The ZooKeeper-protocol port from the outside, with packets the real client libraries never send
 * (test/zookeeper-*.test.ts drive those): four-letter words, answer order, hostile input, and
 * sessions shared with vigil.v1 clients and moved between members.
 */

let cluster: TestCluster;
const zkPort = (id: number): number => cluster.node(id).zookeeperPort as number;
const openAcl = (w: JuteWriter): void => void w.int(1).int(31).string('world').string('anyone');
const create = (path: string, data: string, flags = 0) => (w: JuteWriter) => {
  w.string(path).buffer(Buffer.from(data));
  openAcl(w);
  w.int(flags);
};

beforeAll(async () => {
  cluster = await TestCluster.start({ zookeeper: true });
  await cluster.leader();
});
afterAll(async () => {
  await cluster.close();
});

describe('four-letter words', () => {
  test('ruok, srvr, stat, mntr, conf, isro and envi answer as ZooKeeper does; other words are refused', async () => {
    const leader = await cluster.leader();
    expect(await fourLetterWord(zkPort(leader), 'ruok')).toBe('imok');
    expect(await fourLetterWord(zkPort(leader), 'isro')).toBe('rw');
    for (const id of cluster.nodes.keys()) {
      const srvr = await fourLetterWord(zkPort(id), 'srvr');
      expect(srvr).toContain(`Zookeeper version: ${zooKeeperVersion}`);
      expect(srvr).toContain(id === leader ? 'Mode: leader' : 'Mode: follower');
      expect(srvr).toMatch(/^Zxid: 0x[0-9a-f]+$/m);
      expect(srvr).toMatch(/^Node count: \d+$/m);
    }
    expect(await fourLetterWord(zkPort(leader), 'stat')).toMatch(/Clients:\n[\s\S]*Mode: leader/);
    const mntr = await fourLetterWord(zkPort(leader), 'mntr');
    expect(mntr).toContain('zk_server_state\tleader\n');
    expect(mntr).toContain('zk_followers\t2\n');
    expect(mntr).toMatch(/^zk_znode_count\t\d+$/m);
    const conf = await fourLetterWord(zkPort(leader), 'conf');
    expect(conf).toContain(`clientPort=${zkPort(leader)}\n`);
    expect(conf).toContain(`serverId=${leader}\n`);
    expect(await fourLetterWord(zkPort(leader), 'envi')).toContain(`zookeeper.version=${zooKeeperVersion}`);
    expect(await fourLetterWord(zkPort(leader), 'dump')).toBe('dump is not executed because it is not in the whitelist.\n');
  });

  test('mntr and srvr report the requests answered: their latency (min ≤ average ≤ max, a write taking more than nothing) and none outstanding once answered', async () => {
    const id = 3;
    const figures = async (): Promise<Map<string, number>> => new Map((await fourLetterWord(zkPort(id), 'mntr')).trim().split('\n').map((l) => l.split('\t') as [string, string]).map(([k, v]) => [k, Number(v)]));
    const before = await figures();
    const zk = await RawZooKeeper.open(zkPort(id));
    await zk.handshake();
    expect((await zk.request(zkOp.create, create('/latency', 'x'))).err).toBe(zkErr.ok);
    expect((await zk.request(zkOp.exists, (w) => void w.string('/latency').bool(false))).err).toBe(zkErr.ok);
    const after = await figures();
    zk.destroy();
    expect(after.get('zk_packets_received')! - before.get('zk_packets_received')!).toBeGreaterThanOrEqual(3);
    expect(after.get('zk_outstanding_requests')).toBe(0);
    const [min, avg, max] = [after.get('zk_min_latency')!, after.get('zk_avg_latency')!, after.get('zk_max_latency')!];
    expect(avg).toBeGreaterThan(0);
    expect(min).toBeLessThanOrEqual(avg);
    expect(avg).toBeLessThanOrEqual(max);
    const srvr = await fourLetterWord(zkPort(id), 'srvr');
    const latency = /^Latency min\/avg\/max: (\d+)\/([\d.]+)\/(\d+)$/m.exec(srvr);
    expect(Number(latency?.[2])).toBeGreaterThan(0);
    expect(srvr).toMatch(/^Outstanding: 0$/m);
  });
});

describe('answers', () => {
  test('a pipeline of writes and reads is answered in request order, each read seeing the writes before it', async () => {
    const zk = await RawZooKeeper.open(zkPort(1));
    await zk.handshake();
    const sent: number[] = [];
    sent.push(zk.send(zkOp.create, create('/pipe', 'v0')));
    for (let i = 1; i <= 10; i++) {
      sent.push(zk.send(zkOp.setData, (w) => void w.string('/pipe').buffer(Buffer.from(`v${i}`)).int(-1)));
      sent.push(zk.send(zkOp.getData, (w) => void w.string('/pipe').bool(false)));
      sent.push(zk.send(zkOp.exists, (w) => void w.string('/pipe').bool(false)));
    }
    const got: number[] = [];
    const data: string[] = [];
    for (let i = 0; i < sent.length; i++) {
      const r = await zk.reply();
      if (r === null) throw new Error('closed');
      got.push(r.xid);
      expect(r.err).toBe(zkErr.ok);
      if ((i - 1) % 3 === 1) data.push(Buffer.from(r.body.buffer() ?? []).toString());
    }
    expect(got).toEqual(sent);
    expect(data).toEqual(Array.from({ length: 10 }, (_, i) => `v${i + 1}`));
    zk.destroy();
  });

  test('a request whose body cannot be read is answered MARSHALLING_ERROR and an unserved one UNIMPLEMENTED, and the connection goes on', async () => {
    const zk = await RawZooKeeper.open(zkPort(2));
    await zk.handshake();
    // A create whose body stops after the path.
    const w = Buffer.alloc(4 + 8 + 6);
    w.writeInt32BE(8 + 6, 0);
    w.writeInt32BE(77, 4);
    w.writeInt32BE(zkOp.create, 8);
    w.writeInt32BE(2, 12);
    w.write('/x', 16);
    zk.write(w);
    const bad = await zk.reply();
    expect(bad).toMatchObject({ xid: 77, err: zkErr.marshallingError });
    const reconfig = await zk.request(zkOp.reconfig, (x) => void x.string('').string('').string('').long(-1));
    expect(reconfig.err).toBe(zkErr.unimplemented);
    zk.send(zkOp.ping, undefined, zkXid.ping);
    expect(await zk.reply()).toMatchObject({ xid: zkXid.ping, err: zkErr.ok });
    zk.destroy();
  });

  test('requests sent ahead of the connect answer wait for it, up to a bound: a few are served, a flood closes the connection', async () => {
    const connectRequest = (): Buffer => {
      const w = new JuteWriterClass();
      w.int(0).long(0).int(5_000).long(0).buffer(new Uint8Array(16)).bool(false);
      return w.packet();
    };
    const ping = (): Buffer => new JuteWriterClass().int(zkXid.ping).int(zkOp.ping).packet();
    const few = await RawZooKeeper.open(zkPort(3));
    few.write(Buffer.concat([connectRequest(), ping(), ping()]));
    const answers = [await few.reply(), await few.reply(), await few.reply()];
    expect(answers.slice(1)).toMatchObject([{ xid: zkXid.ping, err: zkErr.ok }, { xid: zkXid.ping, err: zkErr.ok }]);
    few.destroy();
    const flood = await RawZooKeeper.open(zkPort(3));
    flood.write(Buffer.concat([connectRequest(), ...Array.from({ length: 1_000 }, ping)]));
    await waitFor('the flooding connection to close', () => flood.closed || undefined);
  });

  test('a packet length out of bounds, or garbage instead of a connect request, closes that connection only', async () => {
    const huge = await RawZooKeeper.open(zkPort(1));
    const length = Buffer.alloc(4);
    length.writeInt32BE(0x7fff_fff0, 0);
    huge.write(length);
    await waitFor('the oversized connection to close', () => huge.closed || undefined);

    const garbage = await RawZooKeeper.open(zkPort(1));
    const bytes = randomBytes(64);
    bytes.writeInt32BE(60, 0);
    garbage.write(bytes);
    await waitFor('the garbage connection to close', () => garbage.closed || undefined);

    const fine = await RawZooKeeper.open(zkPort(1));
    expect((await fine.handshake()).timeOut).toBeGreaterThan(0);
    expect((await fine.request(zkOp.exists, (w) => void w.string('/').bool(false))).err).toBe(zkErr.ok);
    fine.destroy();
  });
});

describe('sessions', () => {
  test('a ZooKeeper session is a Vigil session: its ephemeral is owned by its id, seen by the SDK, and goes with closeSession', async () => {
    const zk = await RawZooKeeper.open(zkPort(3));
    const { sessionId } = await zk.handshake();
    const created = await zk.request(zkOp.create, create('/zk-owned', 'e', 1));
    expect(created.err).toBe(zkErr.ok);
    const sdk = await connect({ endpoints: [`ws://127.0.0.1:${cluster.node(1).clientPort}`], sessionTimeoutMs: 10_000 });
    try {
      const seen = await sdk.get('/zk-owned');
      expect(seen.stat.ephemeralOwner).toBe(sessionId);
      const closed = await zk.request(zkOp.closeSession);
      expect(closed.err).toBe(zkErr.ok);
      await waitFor('the server to close the connection after closeSession', () => zk.closed || undefined);
      expect(await sdk.exists('/zk-owned')).toBeNull();
    } finally {
      await sdk.close();
    }
  });

  test('a session resumed on another member keeps its ephemerals; one resumed on the same member closes the older connection; an unknown session is told it expired', async () => {
    const first = await RawZooKeeper.open(zkPort(1));
    const session = await first.handshake({ timeOut: 10_000 });
    const made = await first.request(zkOp.create, create('/zk-moving', '', 1));
    expect(made.err).toBe(zkErr.ok);

    const second = await RawZooKeeper.open(zkPort(2));
    const resumed = await second.handshake({ sessionId: session.sessionId, passwd: session.passwd, lastZxidSeen: made.zxid, timeOut: 10_000 });
    expect(resumed).toEqual({ timeOut: session.timeOut, sessionId: session.sessionId, passwd: session.passwd });
    const stat = await second.request(zkOp.exists, (w) => void w.string('/zk-moving').bool(false));
    expect(stat.err).toBe(zkErr.ok);
    expect(readStat(stat.body).ephemeralOwner).toBe(session.sessionId);

    const third = await RawZooKeeper.open(zkPort(2));
    expect((await third.handshake({ sessionId: session.sessionId, passwd: session.passwd, lastZxidSeen: stat.zxid, timeOut: 10_000 })).sessionId).toBe(session.sessionId);
    await waitFor('the older connection on that member to be closed', () => second.closed || undefined);
    first.destroy();
    third.destroy();

    const wrong = await RawZooKeeper.open(zkPort(3));
    expect((await wrong.handshake({ sessionId: session.sessionId, passwd: randomBytes(16) })).timeOut).toBe(0);
    await waitFor('the refused connection to close', () => wrong.closed || undefined);
  });
});

describe('requests vigil.v1 has no op for', () => {
  test('addWatch (persistent recursive), removeWatches and checkWatches; setWatches fires what changed while away and re-arms the rest', async () => {
    const zk = await RawZooKeeper.open(zkPort(1));
    await zk.handshake();
    expect((await zk.request(zkOp.create, create('/pw', ''))).err).toBe(zkErr.ok);
    // The answer carries ZooKeeper's ErrorResponse { err: 0 }: the Java client reads it (Curator's CuratorCache is cut off without it).
    const added = await zk.request(zkOp.addWatch, (w) => void w.string('/pw').int(1));
    expect([added.err, added.body.int()]).toEqual([zkErr.ok, zkErr.ok]);
    const made = zk.send(zkOp.create, create('/pw/a', '1'));
    const set = zk.send(zkOp.setData, (w) => void w.string('/pw/a').buffer(Buffer.from('2')).int(-1));
    // Each notification before the answer of the write that caused it.
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await zk.reply();
      if (r === null) throw new Error('closed');
      seen.push(r.xid === zkXid.notification ? `event ${r.body.int()} ${r.body.int()} ${r.body.string()}` : `reply ${r.xid}`);
    }
    expect(seen).toEqual([`event 1 3 /pw/a`, `reply ${made}`, `event 3 3 /pw/a`, `reply ${set}`]);
    const persistentRecursive = 5;
    expect((await zk.request(zkOp.checkWatches, (w) => void w.string('/pw').int(persistentRecursive))).err).toBe(zkErr.ok);
    expect((await zk.request(zkOp.removeWatches, (w) => void w.string('/pw').int(3))).err).toBe(zkErr.ok);
    expect((await zk.request(zkOp.removeWatches, (w) => void w.string('/pw').int(3))).err).toBe(zkErr.noWatcher);
    expect((await zk.request(zkOp.checkWatches, (w) => void w.string('/pw').int(1))).err).toBe(zkErr.noWatcher);

    // setWatches as a client sends it after a reconnect, relative to the last zxid it saw.
    const before = await zk.request(zkOp.exists, (w) => void w.string('/pw/a').bool(false));
    expect((await zk.request(zkOp.setData, (w) => void w.string('/pw/a').buffer(Buffer.from('3')).int(-1))).err).toBe(zkErr.ok);
    expect((await zk.request(zkOp.create, create('/pw/b', ''))).err).toBe(zkErr.ok);
    const strings = (list: string[]) => (w: JuteWriter): void => {
      w.int(list.length);
      for (const p of list) w.string(p);
    };
    zk.send(zkOp.setWatches, (w) => {
      w.long(before.zxid);
      strings(['/pw/a', '/pw/gone'])(w); // data watches: one changed, one gone
      strings(['/pw/b', '/pw/later'])(w); // exist watches: one exists now, one still absent
      strings(['/pw'])(w); // child watch: /pw gained a child
    }, zkXid.setWatches);
    const fired: string[] = [];
    for (;;) {
      const r = await zk.reply();
      if (r === null) throw new Error('closed');
      if (r.xid === zkXid.setWatches) break;
      fired.push(`${r.body.int()} ${r.body.int()} ${r.body.string()}`);
    }
    expect(fired.sort()).toEqual(['1 3 /pw/b', '2 3 /pw/gone', '3 3 /pw/a', '4 3 /pw'].sort());
    // The one still absent was armed again: its creation fires.
    const later = zk.send(zkOp.create, create('/pw/later', ''));
    expect((await zk.reply())?.body.int()).toBe(1);
    expect((await zk.reply())?.xid).toBe(later);
    zk.destroy();
  });

  test('getEphemerals, getAllChildrenNumber, multiRead and whoAmI', async () => {
    const zk = await RawZooKeeper.open(zkPort(2));
    await zk.handshake();
    for (const [path, flags] of [['/count', 0], ['/count/a', 0], ['/count/a/x', 1], ['/count/b', 1]] as const) {
      expect((await zk.request(zkOp.create, create(path, path, flags))).err).toBe(zkErr.ok);
    }
    const ephemerals = await zk.request(zkOp.getEphemerals, (w) => void w.string('/count/a'));
    expect(ephemerals.err).toBe(zkErr.ok);
    expect(Array.from({ length: ephemerals.body.int() }, () => ephemerals.body.string())).toEqual(['/count/a/x']);
    const all = await zk.request(zkOp.getAllChildrenNumber, (w) => void w.string('/count'));
    expect(all.body.int()).toBe(3);
    const multi = await zk.request(zkOp.multiRead, (w) => {
      w.int(zkOp.getData).bool(false).int(-1).string('/count/b').bool(false);
      w.int(zkOp.getChildren).bool(false).int(-1).string('/count').bool(false);
      w.int(zkOp.getData).bool(false).int(-1).string('/count/none').bool(false);
      w.int(-1).bool(true).int(-1);
    });
    expect(multi.err).toBe(zkErr.ok);
    const results: unknown[] = [];
    for (;;) {
      const type = multi.body.int();
      const done = multi.body.bool();
      const err = multi.body.int();
      if (done) break;
      if (type === zkOp.getData) results.push({ data: Buffer.from(multi.body.buffer() ?? []).toString(), version: readStat(multi.body).version });
      else if (type === zkOp.getChildren) results.push(Array.from({ length: multi.body.int() }, () => multi.body.string()));
      else results.push({ err, code: multi.body.int() });
    }
    expect(results).toEqual([{ data: '/count/b', version: 0 }, ['a', 'b'], { err: zkErr.noNode, code: zkErr.noNode }]);
    const who = await zk.request(zkOp.whoAmI);
    expect(Array.from({ length: who.body.int() }, () => [who.body.string(), who.body.string()])).toEqual([['ip', '127.0.0.1']]);
    zk.destroy();
  });
});
