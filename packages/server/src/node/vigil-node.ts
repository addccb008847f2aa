import { randomInt } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RequestListener } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Level } from 'level';
import { createPrng, decodeConfChange, RawNode, type DurableState, type NodeId, type Snapshot } from '@vigil/raft';
import { Store } from '@vigil/store';
import type { AdminNodePort, NodeStatus } from '../admin/admin-node-port.js';
import { createMetrics, type Metrics } from '../admin/metrics.js';
import { formatHostPort, parseHostPort, type HostPort } from '../config/host-port.js';
import type { NodeConfig } from '../config/node-config.js';
import { applyAddressChange, bootstrapContext, memberContext, type MemberAddress } from '../consensus/members.js';
import type { SnapshotFileBytes } from '../storage/snapshot-file-bytes.js';
import { decodeSnapshotEnvelope, decodeSnapshotEnvelopeMembers, RaftDriver, type DriverObserver, type SnapshotEnvelope } from '../consensus/raft-driver.js';
import { ServerError } from '../errors.js';
import type { LeaderContact } from '../gateway/client-connection.js';
import { ClientGateway } from '../gateway/client-gateway.js';
import { LeaderLink } from '../gateway/leader-link.js';
import { LeaderLossWatch } from '../gateway/leader-loss.js';
import { SessionKeeper } from '../gateway/session-keeper.js';
import { Authenticator, clientAddress as callerAddress } from '../security/authenticator.js';
import { httpIdentity } from '../security/http-identity.js';
import { hashSecret } from '../security/secret-hash.js';
import { DATABASE_DIR, prepareDataDir, SNAPSHOT_DIR, WAL_DIR } from '../storage/data-dir.js';
import { RaftStorage } from '../storage/raft-storage.js';
import { knownBugs, type KnownBug } from '../testing/known-bad.js';
import { crashAt, type CrashPoint } from '../testing/crash-points.js';
import { PowerLossJournal } from '../testing/power-loss.js';
import { PeerTransport } from '../transport/peer-transport.js';
import { TlsCredentials } from '../tls/tls-credentials.js';
import { createRootLogger, type Logger } from './logger.js';
import { ClientPort, isAdminPath } from './client-port.js';
import { nodeStatus } from './node-status.js';
import { allFourLetterWords, openFourLetterWords, ZooKeeperListener } from '../zookeeper/zk-listener.js';
import { runShutdownStep, type ShutdownStep } from './shutdown-steps.js';

export interface VigilNode {
  readonly id: NodeId;
  readonly clientAddress: HostPort;
  readonly peerAddress: HostPort;
  /** Where the admin routes are served: `adminListen` as bound, else the client address. */
  readonly adminAddress: HostPort;
  status(): NodeStatus;
  /** Graceful stop: hand leadership away, finish the in-flight batch, close everything. Idempotent. */
  close(): Promise<void>;
}


export interface StartNodeOptions {
  readonly logger?: Logger;
  /** The test-only switches (testing/): deliberate bugs, power loss at every restart, crash points. */
  readonly knownBad?: ReadonlySet<KnownBug>;
  readonly powerLoss?: boolean;
  readonly crashAt?: ReadonlySet<CrashPoint>;
}

const buffers = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const ttlSweepEveryMs = 1_000;
/** Read size of snapshot downloads. */
const snapshotReadChunkBytes = 256 * 1024;

/**
 * Start one Vigil member: open (or create) its data directory, recover Raft and the store from
 * it, join the peer mesh, serve clients and admin HTTP. Start-up order, reversed by close():
 * data dir → LevelDB → store → Raft log → transport → driver → HTTP.
 */
export async function startNode(config: NodeConfig, options: StartNodeOptions = {}): Promise<VigilNode> {
  const log = options.logger ?? createRootLogger({ level: config.logLevel, nodeId: config.id });
  const knownBad = options.knownBad ?? new Set<KnownBug>();
  for (const bug of knownBad) log.error({ bug, effect: knownBugs[bug] }, 'KNOWN-BAD switch on: this member has a deliberate bug (testing only)');
  const started = Date.now();
  // TLS files are checked before anything else is touched; they are watched once the node serves.
  const tls = config.tlsCert === undefined || config.tlsKey === undefined || config.tlsCa === undefined
    ? undefined
    : new TlsCredentials({ cert: config.tlsCert, key: config.tlsKey, ca: config.tlsCa }, log);
  await prepareDataDir(config.dataDir, { clusterId: config.clusterId, nodeId: config.id }).catch((err: unknown) => {
    throw storageFailure(err, config.dataDir) ?? err;
  });

  const db = new Level<Buffer, Buffer>(join(config.dataDir, DATABASE_DIR), buffers);
  try {
    await db.open();
  } catch (err) {
    // A database that cannot be written (a full disk) is a storage failure, not a bad directory.
    const cause = (err as { cause?: unknown }).cause;
    const failed = storageFailure(cause ?? err, config.dataDir);
    if (failed !== null) throw failed;
    const message = (cause as Error | undefined)?.message ?? (err as Error).message;
    throw new ServerError('DATA_DIR_INVALID', `cannot open the database in ${config.dataDir}: ${message}`);
  }
  const levels = { store: db.sublevel<Buffer, Buffer>('store', buffers), raft: db.sublevel<Buffer, Buffer>('raft', buffers) };
  // Test-only (testing/power-loss.ts): undo what the previous life left unsynced, journal from here on.
  const powerLoss = options.powerLoss === true ? (await PowerLossJournal.open(config.dataDir, levels, log)).journal : null;
  // What has started so far; shutdown() stops it.
  const parts: {
    store?: Store;
    storage?: RaftStorage;
    transport?: PeerTransport;
    driver?: RaftDriver;
    sessions?: SessionKeeper;
    link?: LeaderLink;
    readonly timers: NodeJS.Timeout[];
    clientPort?: ClientPort;
    /** The admin routes' own port (`adminListen`), if any. */
    adminPort?: ClientPort;
    /** The HTTP routes of the client port, once loaded (at its first HTTP request). */
    app?: Promise<FastifyInstance | null>;
    gateway?: ClientGateway;
    /** ZooKeeper's protocol (`zookeeperListen`), if served. */
    zookeeper?: ZooKeeperListener;
    /** The snapshot file Raft starts with; the driver owns it once it exists. */
    snapshotFile?: SnapshotFileBytes;
  } = { timers: [] };
  /**
   * Stops whatever has started, in the reverse order of start-up, each step bounded (see
   * shutdown-steps.ts); idempotent. HTTP is split around the Raft driver, because requests in
   * flight wait for the driver: the HTTP server stops taking requests and drains for a while
   * first, then the driver closes (which answers whatever still waits), and only then is HTTP
   * closed for good, its sockets cut if it has to be.
   */
  let stopping: Promise<void> | undefined;
  const shutdown = (deadlineAtMs: number): Promise<void> =>
    (stopping ??= (async () => {
      const step = (name: ShutdownStep, run: () => Promise<unknown> | void): Promise<boolean> => runShutdownStep({ step: name, deadlineAtMs, log }, run);
      parts.gateway?.close();
      await parts.zookeeper?.close();
      tls?.close();
      const { clientPort, adminPort, app } = parts;
      const httpClosed = clientPort === undefined ? undefined : Promise.all([clientPort.close(), adminPort?.close(), app?.then((a) => a?.close(), () => undefined)]);
      if (httpClosed !== undefined) await step('httpDrain', () => httpClosed);
      for (const timer of parts.timers) clearInterval(timer);
      parts.sessions?.close();
      parts.link?.close();
      const { driver, transport, store } = parts;
      if (driver !== undefined) await step('raftDriver', () => driver.close());
      else parts.snapshotFile?.close();
      if (httpClosed !== undefined && !(await step('httpClose', () => httpClosed))) {
        log.warn({ sockets: clientPort?.sockets.size }, 'cutting client connections');
        for (const socket of [...(clientPort?.sockets ?? []), ...(adminPort?.sockets ?? [])]) socket.destroy();
        await step('httpCut', () => httpClosed);
      }
      if (transport !== undefined) await step('peerTransport', () => transport.close());
      if (store !== undefined) await step('store', () => store.close());
      const storage = parts.storage;
      if (storage !== undefined) await step('raftLog', () => storage.close());
      if (powerLoss !== null) await step('database', () => powerLoss.close());
      await step('database', () => db.close());
    })());

  // The transport delivers into the driver, which sends through the transport; the store's
  // applied changes feed the client gateway, which proposes through the driver: tie the knots.
  const inbox: { driver: RaftDriver | undefined; link: LeaderLink | undefined; gateway: ClientGateway | undefined } = {
    driver: undefined,
    link: undefined,
    gateway: undefined,
  };
  try {
    const store = await Store.open({
      db: powerLoss?.storeDatabase() ?? levels.store,
      logger: log.child({ component: 'store' }),
      watchHistoryEventsMax: config.watchHistoryEvents,
      watchHistoryBytesMax: config.watchHistoryBytes,
      onApplied: (applied) => inbox.gateway?.onApplied(applied),
    });
    parts.store = store;
    const storage = await RaftStorage.open({
      walDir: join(config.dataDir, WAL_DIR),
      snapshotDir: join(config.dataDir, SNAPSHOT_DIR),
      legacy: levels.raft,
      trailingEntries: config.logTrailingEntries,
      ...(options.powerLoss === true ? { powerLoss: true } : {}),
    });
    parts.storage = storage;
    const image = await storage.load();

    const members = new Map<NodeId, MemberAddress>();
    const removed = new Set<NodeId>();
    let durable: DurableState | undefined;
    if (image.hardState === null) {
      if (!config.join) {
        // A founding member: every founder writes the same first entry (the initial membership).
        for (const [id, a] of config.peers) members.set(id, { peer: formatHostPort(a), client: id === config.id ? formatHostPort(config.clientListen) : null });
        durable = RawNode.bootstrap([...config.peers.keys()], bootstrapContext(members));
        await storage.persist({ hardState: durable.hardState, entries: durable.entries, snapshotMeta: null, sync: true });
        log.info({ voters: [...config.peers.keys()] }, 'bootstrapped a new cluster');
      } else {
        for (const [id, a] of config.peers) members.set(id, { peer: formatHostPort(a), client: null });
        log.info('joining an existing cluster: waiting for the leader');
      }
    } else {
      let snapshot: Snapshot | null = null;
      if (image.snapshotMeta !== null) {
        // Raft reads the snapshot from its file when a follower needs it (decision 38); only a
        // store that lacks the image reads it whole.
        const file = storage.openSnapshotBytes(image.snapshotMeta);
        parts.snapshotFile = file;
        snapshot = { meta: image.snapshotMeta, data: file };
        let envelope: Pick<SnapshotEnvelope, 'members' | 'removed'>;
        if (store.appliedIndex < image.snapshotMeta.index) {
          // Crashed after persisting a received snapshot but before installing it.
          const whole = decodeSnapshotEnvelope(file.subarray(0, file.length));
          await store.restoreSnapshot(whole.store);
          envelope = whole;
        } else {
          envelope = decodeSnapshotEnvelopeMembers(file);
        }
        for (const [id, a] of envelope.members) members.set(id, a);
        for (const id of envelope.removed) removed.add(id);
      }
      const from = image.snapshotMeta?.index ?? 0;
      for (const e of image.entries) if (e.kind === 'conf' && e.index > from) applyAddressChange(members, decodeConfChange(e.data), e.index <= store.appliedIndex ? removed : undefined);
      // The driver may apply committed entries before it writes the commit index that covers
      // them (raft-driver.ts, handleReady): whatever the store applied was committed.
      const hardState = { ...image.hardState, commit: Math.max(image.hardState.commit, store.appliedIndex) };
      durable = { hardState, snapshot, entries: image.entries, applied: store.appliedIndex };
      log.info({ term: image.hardState.term, commit: image.hardState.commit, applied: store.appliedIndex, lastIndex: image.entries.at(-1)?.index ?? from }, 'recovered');
    }
    const commitAtStart = durable?.hardState.commit ?? 0;

    const raw = new RawNode(
      {
        id: config.id,
        electionTicks: config.electionTicks,
        heartbeatTicks: config.heartbeatTicks,
        prng: createPrng(randomInt(0, 0xffff_ffff)),
        ...(knownBad.has('early-ack') ? { unsafeTestFaults: { commitBeforeQuorum: true } } : {}),
      },
      durable,
    );
    const metrics: Metrics = createMetrics();
    const metricsHooks = metricsObserver(metrics);
    // Every member this node has heard of: the configured peers and the membership in the log.
    const peerMap = (): Map<NodeId, HostPort> => {
      const out = new Map<NodeId, HostPort>();
      for (const [id, a] of config.peers) if (id !== config.id && !removed.has(id)) out.set(id, a);
      for (const [id, a] of members) {
        const hp = parseHostPort(a.peer);
        if (id !== config.id && typeof hp !== 'string') out.set(id, hp);
      }
      return out;
    };

    const transport = await PeerTransport.start({
      selfId: config.id,
      clusterId: config.clusterId,
      listen: config.peerListen,
      peers: peerMap(),
      onMessages: (msgs) => inbox.driver?.receive(msgs),
      // A member added while this node was behind may dial before this node has heard of it; a
      // removed member stays refused (ids are never reused).
      acceptPeer: (id) => !removed.has(id),
      onRpc: (from, data) => inbox.link?.receive(from, data),
      // A lost peer: forwarded requests to it fail now, and a follower that lost its leader (a
      // killed process, a reset socket) stands within a tick or two rather than an election timeout.
      onPeerDisconnected: (peer) => {
        inbox.link?.abandon(peer);
        inbox.driver?.peerDisconnected(peer);
      },
      // A peer back (restarted, resumed, healed): Raft resends to it now, not at a heartbeat.
      onPeerConnected: (peer) => inbox.driver?.peerConnected(peer),
      logger: log,
      ...(tls === undefined ? {} : { tls }),
    });
    parts.transport = transport;

    let fatal = false;
    const d = new RaftDriver({
      raw,
      storage,
      store,
      send: (msgs) => transport.send(msgs),
      members,
      removed,
      onMembersChanged: () => transport.setPeers(peerMap()),
      logger: log.child({ component: 'raft' }),
      staleReads: knownBad.has('stale-reads'),
      crashPoint: crashAt(options.crashAt ?? new Set(), log),
      tickMs: config.tickMs,
      electionTicks: config.electionTicks,
      snapshotEveryEntries: config.snapshotEveryEntries,
      logTrailingEntries: config.logTrailingEntries,
      snapshotIndex: image.snapshotMeta?.index ?? 0,
      ...(parts.snapshotFile === undefined ? {} : { snapshotFile: parts.snapshotFile }),
      observer: {
        ...metricsHooks,
        roleChanged: (role, term, leader) => {
          metricsHooks.roleChanged?.(role, term, leader);
          // Writes forwarded to a former leader will not be answered: fail them now.
          inbox.link?.leaderChanged(leader);
        },
      },
      pointBeforeWrite: (sessionId, seq) => inbox.gateway?.pointBeforeWrite(sessionId, seq) ?? null,
      onSnapshotInstalling: () => inbox.gateway?.onSnapshotInstalling(),
      onSnapshotInstalled: () => inbox.gateway?.onSnapshotInstalled(),
      onFatal: (err) => {
        fatal = true;
        log.fatal({ err }, 'the Raft driver failed (persistence or a broken invariant); stopping so that nothing acknowledged can be lost');
        process.exitCode = 70;
        void shutdown(performance.now() + config.shutdownTimeoutMs).finally(() => process.exit(70));
      },
    });
    inbox.driver = d;

    const link = new LeaderLink({
      selfId: config.id,
      leader: () => raw.summary().leader,
      proposeLocal: (command, signal) => d.propose(command, signal),
      sendRpc: (to, data) => transport.sendRpc(to, data),
      retryDelayMs: config.tickMs,
      leaderTimeoutMs: config.requestTimeoutMs,
      logger: log.child({ component: 'forward' }),
    });
    inbox.link = link;
    const sessions = new SessionKeeper({
      store,
      propose: (command, signal) => link.propose(command, signal),
      proposeHere: (command, signal) => d.propose(command, signal),
      isLeader: () => raw.summary().role === 'leader',
      // Reports well inside the shortest timeout: a client pings every timeout/3, the report
      // follows within this, so a live session is never seen silent for its whole timeout.
      reportEveryMs: Math.max(50, Math.floor(config.sessionTimeoutMinMs / 5)),
      checkEveryMs: Math.max(50, Math.floor(config.sessionTimeoutMinMs / 10)),
      stallMs: Math.max(250, Math.floor(config.sessionTimeoutMinMs / 4)),
      requestTimeoutMs: config.requestTimeoutMs,
      logger: log.child({ component: 'sessions' }),
      neverExpire: knownBad.has('keep-ephemerals'),
    });
    // Half an election timeout without a word from the leader: this member no longer vouches for
    // sessions (docs/design.md, session liveness); pings and resumes wait at the door. A whole
    // election timeout: the leader is taken for gone and the clients leave (decision 40).
    const vouchTicks = Math.max(2 * config.heartbeatTicks, Math.ceil(config.electionTicks / 2));
    const contactAfter = (limitTicks: number): LeaderContact => {
      const ticks = raw.ticksSinceLeaderContact();
      if (ticks === undefined) return { ok: false, why: 'no leader known' };
      if (ticks > limitTicks) return { ok: false, why: `nothing from ${raw.summary().role === 'leader' ? 'a majority of the members' : 'the leader'} for ${ticks * config.tickMs} ms` };
      return { ok: true };
    };
    const leaderContact = () => contactAfter(vouchTicks);
    const authenticator = new Authenticator({
      required: config.auth,
      superuserHash: config.superuserHash,
      store,
      catchUp: async () => {
        await d.linearizableRead(AbortSignal.timeout(config.requestTimeoutMs));
      },
    });
    if (config.auth && config.superuserHash === '') log.warn('--auth without --superuser-hash: only users already in the users table can administer this cluster');
    const gateway = new ClientGateway({
      nodeId: config.id,
      store,
      link,
      sessions,
      linearizableRead: (signal) => d.linearizableRead(signal),
      waitApplied: (index) => d.waitApplied(index),
      leaderContact,
      // An election ends within 1.5 election timeouts of the leader's loss; below the SDK's 1 s
      // handshake timeout, so a resume that waits too long is refused rather than abandoned.
      leaderWaitMs: Math.min(750, config.tickMs * config.electionTicks),
      sessionTimeoutMsMin: config.sessionTimeoutMinMs,
      sessionTimeoutMsMax: config.sessionTimeoutMaxMs,
      requestTimeoutMs: config.requestTimeoutMs,
      sessionsMax: config.sessionsMax,
      requestsPerSecond: config.clientRequestsPerSecond,
      ephemeralsPerSessionMax: config.ephemeralsPerSessionMax,
      watchesPerSessionMax: config.watchesPerSessionMax,
      authenticator,
      catchUpTimeoutMs: config.tickMs * config.electionTicks * 4,
      logger: log.child({ component: 'gateway' }),
    });
    inbox.gateway = gateway;
    d.start();
    sessions.start();
    parts.driver = d;
    parts.sessions = sessions;
    parts.link = link;

    // Once this member takes its leader for gone (three election timeouts of silence, or two
    // election timeouts without a leader in a new term: LeaderLossWatch, decisions 43 and 46), its
    // clients are told (their connections end with NO_LEADER) and resume on another member,
    // rather than at their next ping, up to a third of a session timeout later: what ZooKeeper's
    // servers do when they lose their quorum. A shorter silence (a stalled leader, a lost packet's
    // retransmission) only holds pings and resumes, and so does an election this member takes
    // part in. Pings and resumes held at the door go ahead at the first tick that finds contact.
    const leaderLoss = new LeaderLossWatch(config.electionTicks);
    const contactWatch = setInterval(() => {
      const loss = leaderLoss.tick(raw.ticksSinceLeaderContact());
      if (loss === 'leaderless') gateway.leaderContactLost(`no leader for ${leaderLoss.ticksWithoutLeader * config.tickMs} ms`);
      if (loss === 'silent') {
        const touch = contactAfter(config.electionTicks);
        gateway.leaderContactLost(touch.ok ? 'silence' : touch.why);
      }
      if (leaderContact().ok) gateway.leaderContactRegained();
    }, config.tickMs);
    parts.timers.push(contactWatch);

    const sweeper = setInterval(() => {
      if (raw.summary().role !== 'leader') return;
      const paths = store.sweepCandidates(Date.now());
      if (paths.length > 0) d.propose({ type: 'sweep', paths }).catch((err: unknown) => log.debug({ err }, 'ttl sweep not applied'));
    }, ttlSweepEveryMs);
    parts.timers.push(sweeper);

    let dbSizeBytes = 0;
    const status = (): NodeStatus =>
      nodeStatus({ raft: d.status(), clusterId: config.clusterId, appliedIndex: store.appliedIndex, members, dbSizeBytes, uptimeMs: Date.now() - started });
    const droppedSeen = new Map<string, number>();
    // Slow-changing figures are sampled, not computed on the hot path.
    const sampler = setInterval(() => {
      void directorySize(join(config.dataDir, DATABASE_DIR)).then((n) => (dbSizeBytes = n));
      const s = raw.summary();
      metrics.commitIndex.set(s.commit);
      metrics.appliedIndex.set(store.appliedIndex);
      for (const p of transport.stats()) {
        const peer = String(p.peer);
        metrics.peerSendQueueMessages.set({ peer }, p.queuedMessages);
        const before = droppedSeen.get(peer) ?? 0;
        if (p.droppedMessages > before) metrics.peerDroppedMessagesTotal.inc({ peer }, p.droppedMessages - before);
        droppedSeen.set(peer, p.droppedMessages);
      }
    }, 1_000);
    parts.timers.push(sampler);

    const port: AdminNodePort = {
      status,
      isReady: () => !fatal && raw.summary().leader !== 0 && store.appliedIndex >= commitAtStart,
      addMember: async ({ id, peerAddress, clientAddress }) => {
        const a = await d.proposeConfChange({ type: 'addLearner', node: id, context: memberContext({ peer: peerAddress, client: clientAddress ?? null }) }, AbortSignal.timeout(10_000));
        return { index: a.index };
      },
      promoteMember: async (id) => ({ index: (await d.proposeConfChange({ type: 'promoteLearner', node: id }, AbortSignal.timeout(10_000))).index }),
      removeMember: async (id) => ({ index: (await d.proposeConfChange({ type: 'removeNode', node: id }, AbortSignal.timeout(10_000))).index }),
      transferLeadership: async (to) => ({ leaderId: await d.transferLeadership(to) }),
      snapshotNow: async () => ({ index: await d.snapshotNow() }),
      users: () => store.users().map(({ name, roles }) => ({ name, roles })),
      putUser: async (name, secret, roles) => {
        const hash = await hashSecret(secret);
        const { index, result } = await link.propose({ type: 'userPut', name, hash, roles: [...roles] }, AbortSignal.timeout(config.requestTimeoutMs));
        if (!result.ok) throw new ServerError('BAD_REQUEST', result.error.message);
        return { created: result.value.type === 'userPut' && result.value.created, index };
      },
      deleteUser: async (name) => {
        const { index, result } = await link.propose({ type: 'userDelete', name }, AbortSignal.timeout(config.requestTimeoutMs));
        return { deleted: result.ok, index };
      },
      openSnapshot: async () => {
        const opened = await storage.openLatestSnapshot();
        if (opened === null) return null;
        const { meta, file, bytes, writtenAtMs } = opened;
        return {
          header: { clusterId: config.clusterId, memberId: config.id, index: meta.index, term: meta.term, snapshotBytes: bytes, takenAt: new Date(writtenAtMs).toISOString() },
          body: file.createReadStream({ start: 0, end: Math.max(0, bytes - 1), highWaterMark: snapshotReadChunkBytes }),
        };
      },
    };

    // Clients first: the port listens and takes WebSocket upgrades now; fastify and the HTTP
    // routes are loaded at the first HTTP request, which waits for them (client-port.ts, start.ts).
    const loadRoutes = async (): Promise<FastifyInstance | null> => {
      const [{ buildAdminApp }, { registerZnodeRoutes }] = await Promise.all([import('../admin/admin-app.js'), import('../http-api/znode-routes.js')]);
      if (stopping !== undefined) return null;
      // One app for both ports: requests of either are routed through it once it is ready.
      const server = { server: clientPort.server, route: (handler: RequestListener) => [clientPort, adminPort].forEach((p) => p?.route(handler)) };
      const app = buildAdminApp({ node: port, metrics, logger: log.child({ component: 'http' }), server, authenticator });
      registerZnodeRoutes(app, {
        store,
        callerOf: async (request) => (authenticator.required ? authenticator.caller(await httpIdentity(authenticator, request), callerAddress(request.socket.remoteAddress)) : undefined),
        propose: (c, signal) => link.propose(c, signal),
        linearizableRead: (signal) => d.linearizableRead(signal),
        leaderClientAddress: () => members.get(raw.summary().leader)?.client ?? null,
      });
      await app.ready();
      return app;
    };
    // Loaded once, at the first HTTP request of either port; a failed load is tried again.
    let routesLoading: Promise<void> | undefined;
    const loadHttp = (): Promise<void> =>
      (routesLoading ??= (async () => {
        const app = loadRoutes();
        parts.app = app;
        try {
          await app;
        } catch (err) {
          routesLoading = undefined;
          log.error({ err }, 'loading the HTTP routes failed');
          throw err;
        }
      })());
    const withTls = tls === undefined ? {} : { tls };
    const clientPort = new ClientPort(loadHttp, { ...withTls, ...(config.adminListen === undefined ? {} : { serves: (path: string) => !isAdminPath(path) }) });
    parts.clientPort = clientPort;
    // With adminListen, the admin routes and the member's health and status (what `vigil` asks
    // before an admin call) are served there; the znode API stays on the client port only.
    const adminPort = config.adminListen === undefined ? undefined : new ClientPort(loadHttp, { ...withTls, serves: (path) => !path.startsWith('/v1/') });
    if (adminPort !== undefined) parts.adminPort = adminPort;
    gateway.listen(clientPort.server);
    parts.gateway = gateway;
    const clientAddress = await clientPort.listen(config.clientListen);
    const adminAddress = config.adminListen === undefined || adminPort === undefined ? clientAddress : await adminPort.listen(config.adminListen);
    const zookeeperAddress = config.zookeeperListen === undefined ? undefined : await serveZooKeeper(config.zookeeperListen);
    tls?.watch();
    log.info(
      { client: formatHostPort(clientAddress), admin: formatHostPort(adminAddress), peer: formatHostPort(transport.address), tls: tls !== undefined, ...(zookeeperAddress === undefined ? {} : { zookeeper: formatHostPort(zookeeperAddress) }) },
      'serving',
    );

    async function serveZooKeeper(address: HostPort): Promise<HostPort> {
      const listener = new ZooKeeperListener({
        gateway,
        ...withTls,
        words: config.auth ? openFourLetterWords : allFourLetterWords,
        logger: log.child({ component: 'zookeeper' }),
        status: () => {
          const st = d.status();
          const sessionsNow = store.sessions();
          const leading = st.role === 'leader';
          return {
            mode: st.leader === 0 ? null : leading ? 'leader' : st.conf.learners.includes(config.id) ? 'observer' : 'follower',
            zxid: store.appliedIndex,
            nodeCount: store.recordCount - sessionsNow.length - store.users().length,
            watchCount: gateway.watches.size,
            ephemeralsCount: sessionsNow.reduce((n, x) => n + x.ephemerals.length, 0),
            followers: st.conf.voters.length + st.conf.learners.length - 1,
            syncedFollowers: st.progress.filter((p) => p.id !== config.id && p.match >= st.commit).length,
            conf: {
              clientPort: address.port,
              dataDir: config.dataDir,
              tickTime: config.tickMs,
              minSessionTimeout: config.sessionTimeoutMinMs,
              maxSessionTimeout: config.sessionTimeoutMaxMs,
              maxClientCnxns: config.sessionsMax,
              serverId: config.id,
            },
          };
        },
      });
      parts.zookeeper = listener;
      return listener.listen(address);
    }

    let closing: Promise<void> | undefined;
    return {
      id: config.id,
      clientAddress,
      peerAddress: transport.address,
      adminAddress,
      status,
      close: () => {
        closing ??= (async () => {
          const deadlineAtMs = performance.now() + config.shutdownTimeoutMs;
          const deadline = AbortSignal.timeout(config.shutdownTimeoutMs);
          if (raw.summary().role === 'leader' && raw.status().conf.voters.length > 1) {
            // Hand leadership away first, so that clients see a one-round-trip change, not an election.
            await Promise.race([
              d.transferLeadership(undefined, config.shutdownTimeoutMs / 2).catch((err: unknown) => log.warn({ err }, 'leader transfer on shutdown failed')),
              new Promise((r) => deadline.addEventListener('abort', r, { once: true })),
            ]);
          }
          await shutdown(deadlineAtMs);
          log.info('stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await shutdown(performance.now() + config.shutdownTimeoutMs);
    throw storageFailure(err, config.dataDir) ?? err;
  }
}

/** Error codes of a write the data directory refused: LevelDB's, and the file system's. */
const storageErrorCodes: ReadonlySet<string> = new Set(['LEVEL_IO_ERROR', 'ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

/**
 * A start-up that failed writing the data directory (recovery replays and writes before the node
 * serves): STORAGE_FAILED, as a running node's failed write stops it; null for anything else.
 */
function storageFailure(err: unknown, dataDir: string): ServerError | null {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !storageErrorCodes.has(code)) return null;
  return new ServerError('STORAGE_FAILED', `cannot write the data directory ${dataDir}: ${(err as Error).message}`);
}

function metricsObserver(m: Metrics): DriverObserver {
  return {
    persisted: (seconds) => m.fsyncSeconds.observe(seconds),
    applied: (seconds, entries) => {
      m.applySeconds.observe(seconds);
      m.appliedEntriesTotal.inc(entries);
      m.commitsTotal.inc(entries);
    },
    roleChanged: (role, term, leader) => {
      m.term.set(term);
      m.isLeader.set(role === 'leader' ? 1 : 0);
      if (role === 'candidate') m.electionsTotal.inc();
      if (leader !== 0) m.leaderChangesTotal.inc();
    },
    snapshot: (kind) => m.snapshotsTotal.inc({ kind }),
    proposal: (outcome) => m.proposalsTotal.inc({ outcome }),
    readIndex: (seconds) => m.readIndexSeconds.observe(seconds),
  };
}

async function directorySize(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir)) total += (await stat(join(dir, f)).catch(() => ({ size: 0 }))).size;
  return total;
}
