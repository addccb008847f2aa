/**
 * An in-process stand-in for a Vigil cluster, speaking docs/protocol.md over real WebSockets on
 * 127.0.0.1 with an in-memory znode tree. Several `FakeServer` endpoints share one `FakeCluster`
 * (tree, sessions, revisions, watch history), so a client can fail over from one to another and
 * resume its session. It is deliberately simple (no Raft, no TTL expiry, no containers) but keeps
 * the protocol's promises the SDK relies on: answers in order, events before the answer of a later
 * write, `fromRevision` replay, `compacted` when history is gone.
 *
 * Test knobs: `refuseHello` (answer the handshake with an error), `hold` (keep matching requests
 * unanswered until `release`), `swallow` (apply matching requests but lose their answers),
 * `answerTimeout` (apply matching requests, then answer TIMEOUT as a server that lost its leader
 * does), `answerPings`, `dropConnections()`, and the cluster's `execute()` to change the tree as
 * another client would. Sequenced writes (`seq`) are applied at most once per session, as the
 * real store does: a resend gets the recorded answer, a seq the session moved past STALE_SEQUENCE.
 *
 * Security, as a server run with `--auth` has it when `requireAuth` is set: `users` holds the
 * credentials a hello's `auth` is checked against (AUTH_FAILED, then the connection closes; also
 * at the next request of a connection whose user was removed or given another secret), and
 * nodes' ACLs are enforced for get, set, create, delete, getAcl and setAcl (NO_AUTH). Without
 * `requireAuth` credentials are still checked when given, and ACLs are kept but not enforced.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { WebSocket, WebSocketServer } from 'ws';
import { connect, type VigilClient } from '@vigil/client';
import {
  closeCodeOf,
  decodeClientFrame,
  encodeFrame,
  protocolVersion,
  webSocketSubprotocol,
  wireError,
  aclPerms,
  type AclEntry,
  type ClientFrame,
  type ErrorCode,
  type MultiOp,
  type MultiOpResult,
  type Request,
  type RequestBody,
  type SetAclResult,
  type Response,
  type ServerFrame,
  type Stat,
  type WatchEvent,
  type WatchMode,
} from '@vigil/protocol';

interface FakeNode {
  data: Uint8Array;
  acl: AclEntry[];
  stat: { -readonly [K in keyof Stat]: Stat[K] };
  children: Set<string>;
  /** Children ever created here: the sequential suffix, which a delete does not advance. */
  sequence: number;
}

interface FakeSession {
  readonly id: number;
  readonly secret: Uint8Array;
  connection: FakeConnection | null;
  /** The reply table: answers of sequenced writes by seq, and the floor below which they are gone. */
  readonly replies: Map<number, Response>;
  seqFloor: number;
  lastSeq: number;
}

type OneShotKind = 'data' | 'exists' | 'children';

class Failure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

export class FakeCluster {
  revision = 0;
  /** Events at or below it are gone from the history. */
  historyFloor = 0;
  negotiatedTimeoutMs: number;
  readonly nodes = new Map<string, FakeNode>();
  readonly sessions = new Map<number, FakeSession>();
  readonly servers: FakeServer[] = [];
  private history: WatchEvent[] = [];
  private sessionIdNext = 1;
  watchIdNext = 1;
  /** Every hello must carry credentials from `users`, and ACLs are enforced. */
  requireAuth = false;
  /** Known users: their secret and admin roles; `super` is the superuser. */
  readonly users = new Map<string, { secret: string; roles: string[] }>();

  constructor(options: { negotiatedTimeoutMs?: number } = {}) {
    this.negotiatedTimeoutMs = options.negotiatedTimeoutMs ?? 10_000;
    this.nodes.set('/', newNode(new Uint8Array(0), 0, 0));
  }

  async startServer(serverId = this.servers.length + 1): Promise<FakeServer> {
    const server = await FakeServer.start(this, serverId);
    this.servers.push(server);
    return server;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
  }

  openSession(): FakeSession {
    const session: FakeSession = { id: this.sessionIdNext++, secret: new Uint8Array(randomBytes(16)), connection: null, replies: new Map(), seqFloor: 0, lastSeq: 0 };
    this.sessions.set(session.id, session);
    return session;
  }

  /** The leader expiring a session: its ephemerals go (with events), its connection is told and closed. */
  expireSession(id: number): void {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.endSession(session);
    const connection = session.connection;
    session.connection = null;
    if (connection !== null) {
      connection.send({ t: 'session', state: 'expired' });
      connection.socket.close(closeCodeOf('SESSION_EXPIRED'), 'SESSION_EXPIRED');
    }
  }

  /** Forgets every event so far: a resume from before now gets `compacted`. */
  compactHistory(): void {
    this.historyFloor = this.revision;
    this.history = [];
  }

  /** Runs a request as another client would (no session, no watches); throws on failure. */
  write(body: RequestBody): Response {
    const response = this.execute({ t: 'req', id: 0, ...body } as Request, null);
    if (!response.ok) throw new Error(`fake write failed: ${response.error.name} ${response.error.message}`);
    return response;
  }

  execute(request: Request, connection: FakeConnection | null): Response {
    const session = connection?.session ?? null;
    const seq = 'seq' in request ? request.seq : undefined;
    if (session === null || seq === undefined || !('seqFloor' in request) || request.seqFloor === undefined) return this.run(request, connection);
    const recorded = session.replies.get(seq);
    if (recorded !== undefined) return { ...recorded, id: request.id, revision: this.revision };
    if (seq < session.seqFloor || seq <= session.lastSeq) {
      return { t: 'res', id: request.id, ok: false, revision: this.revision, op: request.op, error: wireError('STALE_SEQUENCE', `seq ${seq} is behind ${session.lastSeq}`) };
    }
    const response = this.run(request, connection);
    session.seqFloor = Math.max(session.seqFloor, request.seqFloor);
    for (const earlier of session.replies.keys()) if (earlier < session.seqFloor) session.replies.delete(earlier);
    session.replies.set(seq, response);
    session.lastSeq = seq;
    return response;
  }

  private run(request: Request, connection: FakeConnection | null): Response {
    try {
      const result = this.apply(request, connection);
      return { t: 'res', id: request.id, ok: true, revision: this.revision, op: request.op, ...result } as Response;
    } catch (err) {
      if (!(err instanceof Failure)) throw err;
      const opIndex = (err as Failure & { opIndex?: number }).opIndex;
      return {
        t: 'res',
        id: request.id,
        ok: false,
        revision: this.revision,
        op: request.op,
        error: wireError(err.code, err.message, { ...(err.path === undefined ? {} : { path: err.path }), ...(opIndex === undefined ? {} : { opIndex }) }),
      };
    }
  }

  endSession(session: FakeSession): void {
    this.sessions.delete(session.id);
    const ephemerals = [...this.nodes.entries()].filter(([, node]) => node.stat.ephemeralOwner === session.id).map(([path]) => path);
    if (ephemerals.length === 0) return;
    const revision = ++this.revision;
    const events: WatchEvent[] = [];
    for (const path of ephemerals) this.remove(path, revision, events);
    this.publish(events);
  }

  private apply(request: Request, connection: FakeConnection | null): object {
    const sessionId = connection?.session?.id ?? 0;
    const user = connection?.user ?? null;
    switch (request.op) {
      case 'create':
      case 'set':
      case 'delete':
      case 'setAcl':
        return this.writeOps([request], { sessionId, user }, false)[0] ?? {};
      case 'multi':
        return { results: this.writeOps(request.ops, { sessionId, user }, true) };
      case 'getAcl': {
        const node = this.node(request.path);
        this.demand(node, user, aclPerms.read | aclPerms.admin, request.path);
        return { acl: node.acl, stat: { ...node.stat } };
      }
      case 'whoami':
        return { ...(user === null ? {} : { user }), superuser: user === 'super', roles: user === null ? [] : (this.users.get(user)?.roles ?? []), address: '127.0.0.1' };
      case 'get': {
        const node = this.node(request.path);
        this.demand(node, user, aclPerms.read, request.path);
        return { data: node.data, stat: { ...node.stat }, ...this.arm(connection, request.watch, 'data', request.path) };
      }
      case 'exists': {
        const node = this.nodes.get(request.path);
        return { stat: node === undefined ? null : { ...node.stat }, ...this.arm(connection, request.watch, 'exists', request.path) };
      }
      case 'children': {
        const node = this.node(request.path);
        const sorted = [...node.children].sort();
        const start = request.after === undefined ? 0 : sorted.findIndex((name) => name > (request.after ?? ''));
        const from = start < 0 ? sorted.length : start;
        const names = sorted.slice(from, from + (request.limit ?? 10_000));
        const more = from + names.length < sorted.length;
        return {
          names,
          ...(request.withStats === true ? { stats: names.map((name) => ({ ...this.node(join(request.path, name)).stat })) } : {}),
          ...(more ? { next: names[names.length - 1] } : {}),
          ...this.arm(connection, request.watch, 'children', request.path),
        };
      }
      case 'sync':
      case 'ping':
        return {};
      case 'watch':
        return { watchId: connection === null ? 0 : connection.addPersistent(request.path, request.mode) };
      case 'unwatch':
        if (connection === null || !connection.removeWatch(request.watchId)) throw new Failure('NO_WATCH', `no watch ${request.watchId}`);
        return {};
      case 'close':
        if (connection?.session != null) {
          this.endSession(connection.session);
          connection.session = null;
        }
        return {};
    }
  }

  private arm(connection: FakeConnection | null, watch: boolean | undefined, kind: OneShotKind, path: string): { watchId?: number } {
    if (watch !== true || connection === null) return {};
    return { watchId: connection.addOneShot(kind, path) };
  }

  /** All-or-nothing at one revision, like a multi (a single write is a multi of one). */
  private writeOps(ops: readonly (MultiOp | Request)[], who: Who, multi: boolean): (MultiOpResult | SetAclResult)[] {
    const saved = new Map([...this.nodes].map(([path, node]) => [path, { ...node, stat: { ...node.stat }, children: new Set(node.children) }]));
    const savedRevision = this.revision;
    const revision = ++this.revision;
    const events: WatchEvent[] = [];
    const results: (MultiOpResult | SetAclResult)[] = [];
    try {
      ops.forEach((op, opIndex) => {
        try {
          results.push(this.writeOp(op, who, revision, events));
        } catch (err) {
          if (err instanceof Failure && multi) Object.assign(err, { opIndex });
          throw err;
        }
      });
    } catch (err) {
      this.nodes.clear();
      for (const [path, node] of saved) this.nodes.set(path, node);
      this.revision = savedRevision;
      throw err;
    }
    this.publish(events);
    return results;
  }

  private writeOp(op: MultiOp | Request, who: Who, revision: number, events: WatchEvent[]): MultiOpResult | SetAclResult {
    const sessionId = who.sessionId;
    switch (op.op) {
      case 'create': {
        const parentPath = parentOf(op.path);
        const acl = this.creationAcl(op.acl, who.user);
        if (op.createParents === true && !this.nodes.has(parentPath)) this.createNode(parentPath, new Uint8Array(0), 0, revision, events, true, acl);
        const parent = this.node(parentPath, true);
        this.demand(parent, who.user, aclPerms.create, parentPath);
        if (parent.stat.ephemeralOwner !== 0) throw new Failure('NO_CHILDREN_FOR_EPHEMERALS', `${parentPath} is ephemeral`, op.path);
        const path = op.mode.includes('sequential') ? op.path + String(parent.sequence).padStart(10, '0') : op.path;
        if (this.nodes.has(path)) throw new Failure('NODE_EXISTS', `${path} exists`, path);
        const owner = op.mode.startsWith('ephemeral') ? sessionId : 0;
        return { op: 'create', path, stat: { ...this.createNode(path, op.data, owner, revision, events, false, acl).stat } };
      }
      case 'setAcl': {
        const node = this.node(op.path);
        this.demand(node, who.user, aclPerms.admin, op.path);
        if (op.version !== undefined && op.version !== -1 && op.version !== node.stat.aversion) {
          throw new Failure('BAD_VERSION', `${op.path} has aversion ${node.stat.aversion}, not ${op.version}`, op.path);
        }
        node.acl = this.creationAcl(op.acl, who.user);
        node.stat.aversion++;
        return { op: 'setAcl', stat: { ...node.stat } };
      }
      case 'set': {
        const node = this.checked(op.path, op.version);
        this.demand(node, who.user, aclPerms.write, op.path);
        node.data = op.data;
        node.stat.mzxid = revision;
        node.stat.version++;
        node.stat.dataLength = op.data.byteLength;
        node.stat.mtime = Date.now();
        events.push({ path: op.path, kind: 'dataChanged', revision });
        return { op: 'set', stat: { ...node.stat } };
      }
      case 'delete': {
        const node = this.checked(op.path, op.version);
        this.demand(this.node(parentOf(op.path)), who.user, aclPerms.delete, parentOf(op.path));
        if (node.children.size > 0) throw new Failure('NOT_EMPTY', `${op.path} has children`, op.path);
        this.remove(op.path, revision, events);
        return { op: 'delete' };
      }
      case 'check':
        this.checked(op.path, op.version);
        return { op: 'check' };
      default:
        throw new Failure('BAD_ARGUMENTS', `${op.op} is not a write`);
    }
  }

  private createNode(path: string, data: Uint8Array, owner: number, revision: number, events: WatchEvent[], parents: boolean, acl: AclEntry[]): FakeNode {
    const parentPath = parentOf(path);
    if (parents && !this.nodes.has(parentPath)) this.createNode(parentPath, new Uint8Array(0), 0, revision, events, true, acl);
    const parent = this.node(parentPath, true);
    const node = newNode(data, owner, revision, acl);
    this.nodes.set(path, node);
    parent.children.add(path.slice(path.lastIndexOf('/') + 1));
    parent.stat.pzxid = revision;
    parent.stat.cversion++;
    parent.sequence++; // every create counts toward the sequential suffix, as in the store and ZooKeeper
    parent.stat.numChildren = parent.children.size;
    events.push({ path, kind: 'created', revision }, { path: parentPath, kind: 'childrenChanged', revision });
    return node;
  }

  private remove(path: string, revision: number, events: WatchEvent[]): void {
    this.nodes.delete(path);
    const parentPath = parentOf(path);
    const parent = this.nodes.get(parentPath);
    if (parent !== undefined) {
      parent.children.delete(path.slice(path.lastIndexOf('/') + 1));
      parent.stat.pzxid = revision;
      parent.stat.cversion++;
      parent.stat.numChildren = parent.children.size;
    }
    events.push({ path, kind: 'deleted', revision }, { path: parentPath, kind: 'childrenChanged', revision });
  }

  /** The ACL a create or setAcl stores: `auth` entries become the caller's user; none given: open, or the creator's alone. */
  private creationAcl(acl: readonly AclEntry[] | undefined, user: string | null): AclEntry[] {
    if (acl === undefined) return this.requireAuth && user !== null ? [{ scheme: 'user', id: user, perms: aclPerms.all }] : [{ scheme: 'world', id: 'anyone', perms: aclPerms.all }];
    if (acl.length === 0) throw new Failure('INVALID_ACL', 'an empty ACL');
    return acl.map((entry) => {
      if (entry.scheme !== 'auth') return { ...entry };
      if (user === null) throw new Failure('INVALID_ACL', 'auth without an authenticated user');
      return { scheme: 'user', id: user, perms: entry.perms };
    });
  }

  /** NO_AUTH unless an entry of the node's ACL grants `user` one of the `perms` bits (only with requireAuth). */
  private demand(node: FakeNode, user: string | null, perms: number, path: string): void {
    if (!this.requireAuth || user === 'super') return;
    const granted = node.acl.some(
      (e) => (e.perms & perms) !== 0 && ((e.scheme === 'world' && e.id === 'anyone') || (e.scheme === 'user' && e.id === user) || (e.scheme === 'ip' && e.id === '127.0.0.1')),
    );
    if (!granted) throw new Failure('NO_AUTH', `${user ?? 'anonymous'} may not do that to ${path}`, path);
  }

  private checked(path: string, version: number | undefined): FakeNode {
    const node = this.node(path);
    if (version !== undefined && version !== -1 && version !== node.stat.version) {
      throw new Failure('BAD_VERSION', `${path} is at version ${node.stat.version}, not ${version}`, path);
    }
    return node;
  }

  private node(path: string, asParent = false): FakeNode {
    const node = this.nodes.get(path);
    if (node === undefined) throw new Failure('NO_NODE', `${path} does not exist${asParent ? ' (parent)' : ''}`, path);
    return node;
  }

  private publish(events: WatchEvent[]): void {
    this.history.push(...events);
    for (const server of this.servers) for (const connection of server.connections) connection.notify(events);
  }

  /** Events above `fromRevision` still kept, and whether some are gone. */
  replay(fromRevision: number): { compacted: boolean; events: WatchEvent[] } {
    return { compacted: fromRevision < this.historyFloor, events: this.history.filter((e) => e.revision > fromRevision) };
  }
}

export class FakeConnection {
  session: FakeSession | null = null;
  /** The user its hello authenticated; null: anonymous. */
  user: string | null = null;
  /** The secret it proved: when the user's changes (or the user goes), its next request is refused. */
  provenSecret: string | null = null;
  private readonly oneShots = new Map<number, { kind: OneShotKind; path: string }>();
  private readonly persistent = new Map<number, { path: string; mode: WatchMode }>();

  constructor(
    readonly server: FakeServer,
    readonly socket: WebSocket,
  ) {}

  send(frame: ServerFrame): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(encodeFrame(frame), { binary: true });
  }

  addOneShot(kind: OneShotKind, path: string): number {
    const id = this.server.cluster.watchIdNext++;
    this.oneShots.set(id, { kind, path });
    return id;
  }

  addPersistent(path: string, mode: WatchMode): number {
    const id = this.server.cluster.watchIdNext++;
    this.persistent.set(id, { path, mode });
    return id;
  }

  removeWatch(id: number): boolean {
    return this.oneShots.delete(id) || this.persistent.delete(id);
  }

  get watchCount(): number {
    return this.oneShots.size + this.persistent.size;
  }

  /** After a `watch` answer: what it missed (or `compacted` first), then it is live. */
  replayTo(watchId: number, fromRevision: number): void {
    const watch = this.persistent.get(watchId);
    if (watch === undefined) return;
    const { compacted, events } = this.server.cluster.replay(fromRevision);
    if (compacted) this.send({ t: 'compacted', watchId, floor: this.server.cluster.historyFloor });
    const matching = events.filter((e) => persistentMatches(watch, e));
    if (matching.length > 0) this.send({ t: 'watch', watchId, events: matching });
  }

  notify(events: readonly WatchEvent[]): void {
    if (this.session === null) return;
    for (const [id, watch] of this.persistent) {
      const matching = events.filter((e) => persistentMatches(watch, e));
      if (matching.length > 0) this.send({ t: 'watch', watchId: id, events: matching });
    }
    for (const [id, watch] of [...this.oneShots]) {
      const event = events.find((e) => e.path === watch.path && oneShotFires(watch.kind, e.kind));
      if (event === undefined) continue;
      this.oneShots.delete(id);
      this.send({ t: 'watch', watchId: id, events: [event] });
    }
  }
}

interface Held {
  readonly connection: FakeConnection;
  readonly request: Request;
}

export class FakeServer {
  readonly connections = new Set<FakeConnection>();
  /** Every frame received, in order. */
  readonly frames: ClientFrame[] = [];
  readonly held: Held[] = [];
  /** Answer the handshake with this error and close. */
  refuseHello: ErrorCode | null = null;
  /** Requests for which this returns true are kept unanswered until `release()`. */
  hold: ((request: Request) => boolean) | null = null;
  /** Requests for which this returns true are applied, but their answer is never sent. */
  swallow: ((request: Request) => boolean) | null = null;
  /** Requests for which this returns true are applied, then answered TIMEOUT (outcome unknown). */
  answerTimeout: ((request: Request) => boolean) | null = null;
  answerPings = true;
  /** Answer pings with this error (NO_LEADER: a member cut off from the leader). */
  pingError: ErrorCode | null = null;
  private readonly emitter = new EventEmitter();

  private constructor(
    readonly cluster: FakeCluster,
    readonly serverId: number,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {
    wss.on('connection', (socket) => this.accept(socket));
  }

  static async start(cluster: FakeCluster, serverId: number): Promise<FakeServer> {
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      handleProtocols: (protocols) => (protocols.has(webSocketSubprotocol) ? webSocketSubprotocol : false),
    });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', resolve);
      wss.once('error', reject);
    });
    const address = wss.address();
    if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
    return new FakeServer(cluster, serverId, wss, `ws://127.0.0.1:${address.port}`);
  }

  /** `host:port` of this endpoint. */
  get hostPort(): string {
    return this.url.slice('ws://'.length);
  }

  /** Resolves with the first frame received from `since` on (an index into `frames`) that matches. */
  waitFor<F extends ClientFrame>(match: (frame: ClientFrame) => frame is F, since?: number): Promise<F>;
  waitFor(match: (frame: ClientFrame) => boolean, since?: number): Promise<ClientFrame>;
  waitFor(match: (frame: ClientFrame) => boolean, since = 0): Promise<ClientFrame> {
    const found = this.frames.slice(since).find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => {
      const listener = (frame: ClientFrame): void => {
        if (!match(frame)) return;
        this.emitter.off('frame', listener);
        resolve(frame);
      };
      this.emitter.on('frame', listener);
    });
  }

  /** Answers the held requests in the given order (default: as received). */
  release(order: (held: readonly Held[]) => readonly Held[] = (h) => h): void {
    const held = order(this.held.splice(0));
    for (const { connection, request } of held) connection.send(this.cluster.execute(request, connection));
  }

  /** Kills every connection without a close handshake, as a crashed server or a cut cable would. */
  dropConnections(): void {
    for (const connection of this.connections) connection.socket.terminate();
  }

  /** Sends a frame to every connection (e.g. `session draining`). */
  broadcast(frame: ServerFrame): void {
    for (const connection of this.connections) connection.send(frame);
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    const connection = new FakeConnection(this, socket);
    this.connections.add(connection);
    socket.on('close', () => {
      this.connections.delete(connection);
      if (connection.session?.connection === connection) connection.session.connection = null;
    });
    socket.on('error', () => undefined);
    socket.on('message', (data: Buffer) => {
      const decoded = decodeClientFrame(new Uint8Array(data));
      if (!decoded.ok) throw new Error(`the client sent a bad frame: ${decoded.error.message}`);
      const frame = decoded.value;
      this.frames.push(frame);
      this.emitter.emit('frame', frame);
      if (frame.t === 'hello') this.hello(connection, frame);
      else this.request(connection, frame);
    });
  }

  private hello(connection: FakeConnection, hello: Extract<ClientFrame, { t: 'hello' }>): void {
    const refuse = (code: ErrorCode): void => {
      connection.send({ t: 'error', error: wireError(code, `refused: ${code}`) });
      connection.socket.close(closeCodeOf(code), code);
    };
    if (this.refuseHello !== null) return refuse(this.refuseHello);
    const auth = hello.auth;
    if (auth === undefined ? this.cluster.requireAuth : this.cluster.users.get(auth.user)?.secret !== auth.secret) return refuse('AUTH_FAILED');
    connection.user = auth?.user ?? null;
    connection.provenSecret = auth?.secret ?? null;
    let session: FakeSession;
    if (hello.session === undefined) {
      session = this.cluster.openSession();
    } else {
      const found = this.cluster.sessions.get(hello.session.id);
      if (found === undefined || !sameBytes(found.secret, hello.session.secret)) return refuse('SESSION_EXPIRED');
      session = found;
      const previous = found.connection;
      if (previous !== null && previous !== connection) {
        previous.send({ t: 'session', state: 'moved' });
        previous.socket.close(closeCodeOf('SESSION_MOVED'), 'SESSION_MOVED');
      }
    }
    session.connection = connection;
    connection.session = session;
    connection.send({
      t: 'welcome',
      protocolVersion,
      sessionId: session.id,
      secret: session.secret,
      negotiatedTimeoutMs: this.cluster.negotiatedTimeoutMs,
      serverId: this.serverId,
      revision: this.cluster.revision,
      resumed: hello.session !== undefined,
      ...(connection.user === null ? {} : { user: connection.user }),
    });
  }

  private request(connection: FakeConnection, request: Request): void {
    if (connection.user !== null && this.cluster.users.get(connection.user)?.secret !== connection.provenSecret) {
      connection.send({ t: 'error', error: wireError('AUTH_FAILED', `user ${connection.user} was removed or given another secret`) });
      connection.socket.close(closeCodeOf('AUTH_FAILED'), 'AUTH_FAILED');
      return;
    }
    if (request.op === 'ping' && !this.answerPings) return;
    if (request.op === 'ping' && this.pingError !== null) {
      connection.send({ t: 'res', id: request.id, ok: false, revision: this.cluster.revision, op: 'ping', error: wireError(this.pingError, 'cut off from the leader') });
      return;
    }
    if (this.hold?.(request) === true) {
      this.held.push({ connection, request });
      return;
    }
    const response = this.cluster.execute(request, connection);
    if (this.swallow?.(request) === true) return;
    if (this.answerTimeout?.(request) === true) {
      connection.send({ t: 'res', id: request.id, ok: false, revision: this.cluster.revision, op: request.op, error: wireError('TIMEOUT', 'the leader was lost before it answered') });
      return;
    }
    connection.send(response);
    if (request.op === 'watch' && response.ok && response.op === 'watch' && request.fromRevision !== undefined) {
      connection.replayTo(response.watchId, request.fromRevision);
    }
    if (request.op === 'close') connection.socket.close(1000);
  }
}

interface Who {
  readonly sessionId: number;
  readonly user: string | null;
}

function newNode(data: Uint8Array, owner: number, revision: number, acl: AclEntry[] = [{ scheme: 'world', id: 'anyone', perms: aclPerms.all }]): FakeNode {
  const now = Date.now();
  return {
    data,
    acl,
    stat: { czxid: revision, mzxid: revision, pzxid: revision, ctime: now, mtime: now, version: 0, cversion: 0, aversion: 0, ephemeralOwner: owner, dataLength: data.byteLength, numChildren: 0 },
    children: new Set(),
    sequence: 0,
  };
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function join(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function persistentMatches(watch: { path: string; mode: WatchMode }, event: WatchEvent): boolean {
  if (watch.mode === 'persistent') return event.path === watch.path;
  if (event.kind === 'childrenChanged') return false;
  return event.path === watch.path || event.path.startsWith(watch.path === '/' ? '/' : `${watch.path}/`);
}

function oneShotFires(kind: OneShotKind, event: WatchEvent['kind']): boolean {
  if (kind === 'data') return event === 'dataChanged' || event === 'deleted';
  if (kind === 'exists') return event === 'created' || event === 'dataChanged' || event === 'deleted';
  return event === 'childrenChanged' || event === 'deleted';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((byte, i) => byte === b[i]);
}

/**
 * The fixture most SDK tests start from: two servers, and a client connected to the first
 * (whatever the endpoint shuffle: the second refuses until then), with a fast reconnect backoff.
 */
export async function twoServersFirstConnected(): Promise<{ cluster: FakeCluster; first: FakeServer; second: FakeServer; client: VigilClient }> {
  const cluster = new FakeCluster();
  const first = await cluster.startServer(1);
  const second = await cluster.startServer(2);
  second.refuseHello = 'SHUTTING_DOWN';
  const client = await connect({ endpoints: [first.url, second.url], reconnectBackoff: { baseMs: 2, maxMs: 10 } });
  second.refuseHello = null;
  return { cluster, first, second, client };
}
