import { ownedCopy } from './owned-bytes.js';
import type { Command, CreateOp, DeleteOp, Entry, MultiCommand, Op, SetOp, CheckOp, SetAclCommand } from './command.js';
import { defaultAcl, permits, permitsAny, perms, resolveAcl, type Acl, type Caller } from './acl.js';
import type { UserRecord } from './user.js';
import { commandShapeProblem } from './command.js';
import {
  childrenPageMax,
  dataBytesMax,
  sequenceDigits,
  sequenceMax,
  sessionRepliesMax,
  sessionTimeoutMsMax,
  sweepPathsMax,
  ttlMsMax,
} from './constants.js';
import { assert, type ErrorCode } from './errors.js';
import { compareCodePoints, joinPath, nameOf, parentOf, pathProblem } from './path.js';
import type { Applied, CommandResult, OpError, OpResult, Result } from './result.js';
import type { SessionInfo, SessionRecord, SessionReply } from './session.js';
import type { WatchEvent } from './watch-event.js';
import { rootZnode, statOf, type CreateMode, type Stat, type Znode, type ZnodeKind } from './znode.js';

export interface ChildrenOptions {
  /** Include each child's Stat. */
  readonly withStats?: boolean;
  /** Resume after this child name (the `next` of the previous page). */
  readonly after?: string;
  /** Page size, at most `childrenPageMax`. */
  readonly limit?: number;
}

export interface ChildrenPage {
  /** Child names in code-point (UTF-8 byte) order. */
  readonly names: readonly string[];
  /** Present when `withStats` was asked: `stats[i]` belongs to `names[i]`. */
  readonly stats?: readonly Stat[];
  /** Present when more children follow: pass it as `after`. */
  readonly next?: string;
}

/** What the durable image must learn since the last flush: new records, or null for removed ones. */
export interface TreeChanges {
  readonly nodes: ReadonlyMap<string, Znode | null>;
  readonly sessions: ReadonlyMap<number, SessionRecord | null>;
  readonly users: ReadonlyMap<string, UserRecord | null>;
}

interface ChildList {
  readonly names: Set<string>;
  sorted: string[] | null;
}

const fail = (code: ErrorCode, message: string, path?: string): { ok: false; error: OpError } => ({
  ok: false,
  error: path === undefined ? { code, message } : { code, message, path },
});

const kindOfMode: Readonly<Record<CreateMode, ZnodeKind>> = {
  persistent: 'persistent',
  'persistent-sequential': 'persistent',
  ephemeral: 'ephemeral',
  'ephemeral-sequential': 'ephemeral',
  container: 'container',
  ttl: 'ttl',
  'persistent-sequential-ttl': 'ttl',
};

const isAnyVersion = (version: number | undefined): boolean => version === undefined || version === -1;

/**
 * How many children `node` has ever had created under it: ZooKeeper's sequential suffix, which a
 * delete does not advance. ZooKeeper stores this count as its cversion and reports
 * `2 × creates − numChildren` (creates plus deletes), which is what Vigil stores; so the count is
 * derived, and records and digests stay as they were.
 */
function childrenCreated(node: Znode): number {
  const twice = node.cversion + node.numChildren;
  assert(twice % 2 === 0 && node.numChildren <= node.cversion, `cversion ${node.cversion} is not creates plus deletes of ${node.numChildren} children`);
  return twice / 2;
}

const noAuth = (what: string, path: string): { ok: false; error: OpError } => fail('NO_AUTH', `not authorised to ${what} ${path}`, path);

/** The recorded result of `seq`, if the session's reply table holds it (ascending: binary search). */
function replyOf(session: SessionRecord, seq: number): CommandResult | undefined {
  const replies = session.replies;
  let lo = 0;
  let hi = replies.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = replies[mid] as SessionReply;
    if (r.seq === seq) return r.result;
    if (r.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return undefined;
}

/**
 * The session with `reply` recorded (its seq above every recorded one): replies below the new floor
 * go, then the oldest while more than `sessionRepliesMax` remain, raising the floor past each, so
 * that a dropped write can never be applied again.
 */
function withReply(session: SessionRecord, reply: SessionReply, requestFloor: number): SessionRecord {
  let seqFloor = Math.max(session.seqFloor, requestFloor);
  const replies = session.replies.filter((r) => r.seq >= seqFloor);
  replies.push(reply);
  while (replies.length > sessionRepliesMax) seqFloor = (replies.shift() as SessionReply).seq + 1;
  assert(seqFloor <= reply.seq, `session ${session.sessionId}: floor ${seqFloor} above seq ${reply.seq}`);
  return { ...session, seqFloor, replies };
}

/**
 * Changes staged by one command. Records are immutable, so staging is a map of replacements and a
 * failed command (or multi) is rolled back by dropping the map.
 */
class Staging {
  readonly nodes = new Map<string, Znode | null>();
  /** Ephemeral nodes this command created less those it deleted, by owner. */
  readonly ephemeralsAdded = new Map<number, number>();
  readonly events: WatchEvent[] = [];
  /** Containers whose last child went during this command, checked once the command is done. */
  readonly emptiedContainers: string[] = [];

  constructor(
    private readonly committed: ReadonlyMap<string, Znode>,
    readonly revision: number,
    readonly timeMs: number,
  ) {}

  get(path: string): Znode | undefined {
    if (this.nodes.has(path)) return this.nodes.get(path) ?? undefined;
    return this.committed.get(path);
  }

  addChild(parentPath: string, parent: Znode, path: string, node: Znode): void {
    this.nodes.set(parentPath, {
      ...parent,
      cversion: parent.cversion + 1,
      pzxid: this.revision,
      numChildren: parent.numChildren + 1,
    });
    this.nodes.set(path, node);
    if (node.kind === 'ephemeral') this.ephemeralsAdded.set(node.ephemeralOwner, (this.ephemeralsAdded.get(node.ephemeralOwner) ?? 0) + 1);
    this.events.push(
      { revision: this.revision, path, kind: 'created' },
      { revision: this.revision, path: parentPath, kind: 'childrenChanged' },
    );
  }

  removeChild(path: string): void {
    const node = this.get(path);
    if (node?.kind === 'ephemeral') this.ephemeralsAdded.set(node.ephemeralOwner, (this.ephemeralsAdded.get(node.ephemeralOwner) ?? 0) - 1);
    const parentPath = parentOf(path);
    const parent = this.get(parentPath);
    assert(parent !== undefined && parent.numChildren > 0, `parent of ${path} missing or childless`);
    this.nodes.set(parentPath, {
      ...parent,
      cversion: parent.cversion + 1,
      pzxid: this.revision,
      numChildren: parent.numChildren - 1,
    });
    this.nodes.set(path, null);
    this.events.push(
      { revision: this.revision, path, kind: 'deleted' },
      { revision: this.revision, path: parentPath, kind: 'childrenChanged' },
    );
    if (parent.kind === 'container' && parent.numChildren === 1) this.emptiedContainers.push(parentPath);
  }

  /**
   * Containers are removed on apply, at the end of the command that emptied them, cascading up.
   * Doing it here rather than in a leader-proposed sweep keeps it deterministic for free.
   */
  removeEmptiedContainers(): void {
    for (let i = 0; i < this.emptiedContainers.length; i++) {
      const path = this.emptiedContainers[i] as string;
      const node = this.get(path);
      if (node !== undefined && node.kind === 'container' && node.numChildren === 0) this.removeChild(path);
    }
  }
}

/**
 * The replicated state machine: the znode tree and the sessions, in memory. Pure and synchronous:
 * no clock, no randomness, no I/O; `Store` makes it durable.
 */
export class ZnodeTree {
  readonly #nodes = new Map<string, Znode>();
  readonly #children = new Map<string, ChildList>();
  readonly #sessions = new Map<number, SessionRecord>();
  readonly #ephemerals = new Map<number, Set<string>>();
  readonly #ttlNodes = new Set<string>();
  readonly #users = new Map<string, UserRecord>();
  #appliedIndex = 0;
  #dirtyNodes = new Map<string, Znode | null>();
  #dirtySessions = new Map<number, SessionRecord | null>();
  #dirtyUsers = new Map<string, UserRecord | null>();

  private constructor() {}

  /** A fresh tree: only the root, nothing applied. The root counts as a change to persist. */
  static empty(): ZnodeTree {
    const tree = new ZnodeTree();
    tree.#insert('/', rootZnode);
    tree.#dirtyNodes.set('/', rootZnode);
    return tree;
  }

  /** Rebuilds a tree from its durable records, checking the invariants the records must hold. */
  static fromRecords(
    appliedIndex: number,
    nodes: Iterable<readonly [string, Znode]>,
    sessions: Iterable<SessionRecord>,
    users: Iterable<UserRecord> = [],
  ): ZnodeTree {
    const tree = new ZnodeTree();
    tree.#appliedIndex = appliedIndex;
    for (const user of users) tree.#users.set(user.name, user);
    for (const session of sessions) tree.#sessions.set(session.sessionId, session);
    for (const [path, node] of nodes) tree.#nodes.set(path, node);
    assert(tree.#nodes.has('/'), 'root missing from records');
    for (const [path, node] of tree.#nodes) tree.#index(path, node);
    for (const [path, node] of tree.#nodes) {
      const count = tree.#children.get(path)?.names.size ?? 0;
      assert(count === node.numChildren, `numChildren of ${path} is ${node.numChildren}, found ${count}`);
      childrenCreated(node); // asserts that cversion counts the creates and deletes of the children
      if (path !== '/') assert(tree.#nodes.has(parentOf(path)), `orphan ${path}`);
      if (node.kind === 'ephemeral') assert(tree.#sessions.has(node.ephemeralOwner), `ephemeral ${path} of unknown session`);
    }
    return tree;
  }

  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Applies one committed entry. Operational failures are results; broken invariants throw. */
  applyEntry(entry: Entry): Applied {
    assert(
      Number.isSafeInteger(entry.index) && entry.index === this.#appliedIndex + 1,
      `entry ${entry.index} applied after ${this.#appliedIndex}`,
    );
    assert(Number.isFinite(entry.timeMs), `entry ${entry.index} has no time`);
    const staging = new Staging(this.#nodes, entry.index, entry.timeMs);
    const result = this.#run(staging, entry.command);
    this.#appliedIndex = entry.index;
    if (!result.ok) return { index: entry.index, result, events: [] };
    staging.removeEmptiedContainers();
    this.#commit(staging);
    return { index: entry.index, result, events: staging.events };
  }

  /** Records changed since the previous call, for the next durable batch. */
  takeChanges(): TreeChanges {
    const changes = { nodes: this.#dirtyNodes, sessions: this.#dirtySessions, users: this.#dirtyUsers };
    this.#dirtyNodes = new Map();
    this.#dirtySessions = new Map();
    this.#dirtyUsers = new Map();
    return changes;
  }

  // ---- reads (from memory) ----

  /** `caller`: checked for read permission (absent: not checked), as every read below. */
  get(path: string, caller?: Caller): Result<{ readonly data: Uint8Array; readonly stat: Stat }> {
    const problem = pathProblem(path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, path);
    const node = this.#nodes.get(path);
    if (node === undefined) return fail('NO_NODE', 'no such node', path);
    if (!permits(node.acl, caller, perms.read)) return noAuth('read', path);
    return { ok: true, value: { data: node.data, stat: statOf(node) } };
  }

  /** A node's ACL and Stat; ZooKeeper's getACL, which needs read or admin permission. */
  getAcl(path: string, caller?: Caller): Result<{ readonly acl: Acl; readonly stat: Stat }> {
    const problem = pathProblem(path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, path);
    const node = this.#nodes.get(path);
    if (node === undefined) return fail('NO_NODE', 'no such node', path);
    if (!permitsAny(node.acl, caller, perms.read | perms.admin)) return noAuth('read the ACL of', path);
    return { ok: true, value: { acl: node.acl, stat: statOf(node) } };
  }

  /**
   * Whether `caller` may learn of `path` (watch it, hear of a change to it): read permission on
   * the node, or, while it does not exist, on its nearest existing ancestor.
   */
  mayRead(path: string, caller: Caller | undefined): boolean {
    if (caller === undefined || caller.superuser === true) return true;
    let at = path;
    let node = this.#nodes.get(at);
    while (node === undefined && at !== '/') {
      at = parentOf(at);
      node = this.#nodes.get(at);
    }
    return node !== undefined && permits(node.acl, caller, perms.read);
  }

  exists(path: string): Result<Stat | null> {
    const problem = pathProblem(path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, path);
    const node = this.#nodes.get(path);
    return { ok: true, value: node === undefined ? null : statOf(node) };
  }

  children(path: string, options: ChildrenOptions = {}, caller?: Caller): Result<ChildrenPage> {
    const problem = pathProblem(path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, path);
    const node = this.#nodes.get(path);
    if (node === undefined) return fail('NO_NODE', 'no such node', path);
    if (!permits(node.acl, caller, perms.read)) return noAuth('list the children of', path);
    const limit = options.limit ?? childrenPageMax;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > childrenPageMax) {
      return fail('BAD_ARGUMENTS', `limit must be 1..${childrenPageMax}`, path);
    }
    const sorted = this.#sortedChildren(path);
    let start = 0;
    if (options.after !== undefined) {
      const after = options.after;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (compareCodePoints(sorted[mid] as string, after) <= 0) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const names = sorted.slice(start, start + limit);
    const more = start + limit < sorted.length;
    const page: { names: string[]; stats?: Stat[]; next?: string } = { names };
    if (options.withStats === true) {
      page.stats = names.map((name) => statOf(this.#nodes.get(joinPath(path, name)) as Znode));
    }
    if (more) page.next = names[names.length - 1] as string;
    return { ok: true, value: page };
  }

  get nodeCount(): number {
    return this.#nodes.size;
  }

  /** Znodes, sessions and users: the records of the image. */
  get recordCount(): number {
    return this.#nodes.size + this.#sessions.size + this.#users.size;
  }

  user(name: string): UserRecord | undefined {
    return this.#users.get(name);
  }

  *userRecords(): IterableIterator<UserRecord> {
    yield* this.#users.values();
  }

  /** Sessions with their timeouts and ephemerals, by id. */
  sessions(): SessionInfo[] {
    return [...this.#sessions.values()]
      .sort((a, b) => a.sessionId - b.sessionId)
      .map((s) => ({ ...s, ephemerals: [...(this.#ephemerals.get(s.sessionId) ?? [])].sort(compareCodePoints) }));
  }

  hasSession(sessionId: number): boolean {
    return this.#sessions.has(sessionId);
  }

  session(sessionId: number): SessionInfo | undefined {
    const s = this.#sessions.get(sessionId);
    if (s === undefined) return undefined;
    return { ...s, ephemerals: [...(this.#ephemerals.get(sessionId) ?? [])].sort(compareCodePoints) };
  }

  /**
   * TTL nodes that a sweep proposed now would remove: childless and unmodified for longer than
   * their TTL. The leader proposes them in a `sweep`; apply re-checks against the entry's time.
   */
  sweepCandidates(nowMs: number): string[] {
    const due: string[] = [];
    for (const path of this.#ttlNodes) {
      const node = this.#nodes.get(path) as Znode;
      if (node.numChildren === 0 && nowMs - node.mtime > node.ttlMs) due.push(path);
    }
    return due.sort(compareCodePoints).slice(0, sweepPathsMax);
  }

  /** Every record, for digests and consistency checks against the durable image. */
  *nodeRecords(): IterableIterator<readonly [string, Znode]> {
    yield* this.#nodes;
  }

  *sessionRecords(): IterableIterator<SessionRecord> {
    yield* this.#sessions.values();
  }

  // ---- apply internals ----

  #run(s: Staging, command: Command): CommandResult {
    const problem = commandShapeProblem(command);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem);
    switch (command.type) {
      case 'create':
      case 'set':
      case 'delete':
      case 'check':
      case 'multi':
      case 'setAcl': {
        if (command.sessionId === undefined) return this.#write(s, command, undefined);
        const session = this.#sessions.get(command.sessionId);
        if (session === undefined) return fail('SESSION_EXPIRED', 'session is not open');
        if (command.seq === undefined || command.seqFloor === undefined) return this.#write(s, command, command.sessionId);
        return this.#sequencedWrite(s, command, { session, seq: command.seq, seqFloor: command.seqFloor, once: command.seqOnce === true });
      }
      case 'sessionOpen': {
        if (command.timeoutMs < 1 || command.timeoutMs > sessionTimeoutMsMax) {
          return fail('BAD_ARGUMENTS', `timeoutMs must be 1..${sessionTimeoutMsMax}`);
        }
        if (this.#sessions.has(command.sessionId)) return fail('BAD_ARGUMENTS', 'session id in use');
        this.#putSession({
          sessionId: command.sessionId,
          timeoutMs: command.timeoutMs,
          openedMs: s.timeMs,
          lastSeenMs: s.timeMs,
          secret: command.secret ?? new Uint8Array(0),
          seqFloor: 0,
          replies: [],
        });
        return { ok: true, value: { type: 'sessionOpen' } };
      }
      case 'sessionHeartbeat': {
        let touched = 0;
        for (const id of command.sessionIds) {
          const session = this.#sessions.get(id);
          if (session === undefined) continue;
          touched++;
          if (s.timeMs > session.lastSeenMs) this.#putSession({ ...session, lastSeenMs: s.timeMs });
        }
        return { ok: true, value: { type: 'sessionHeartbeat', touched } };
      }
      case 'sessionClose':
      case 'sessionExpire': {
        if (!this.#sessions.has(command.sessionId)) return fail('SESSION_EXPIRED', 'session is not open');
        const deleted = [...(this.#ephemerals.get(command.sessionId) ?? [])].sort(compareCodePoints);
        for (const path of deleted) s.removeChild(path);
        // The session goes in the same entry as its ephemerals, so no replica ever sees one without the other.
        this.#sessions.delete(command.sessionId);
        this.#dirtySessions.set(command.sessionId, null);
        return { ok: true, value: { type: command.type, sessionId: command.sessionId, deleted } };
      }
      case 'sweep': {
        const deleted: string[] = [];
        for (const path of command.paths) {
          if (pathProblem(path) !== null) continue;
          const node = s.get(path);
          if (node === undefined || node.kind !== 'ttl' || node.numChildren !== 0) continue;
          if (s.timeMs - node.mtime <= node.ttlMs) continue;
          s.removeChild(path);
          deleted.push(path);
        }
        return { ok: true, value: { type: 'sweep', deleted } };
      }
      case 'userPut': {
        const created = !this.#users.has(command.name);
        const user: UserRecord = { name: command.name, hash: command.hash, roles: [...command.roles] };
        this.#users.set(user.name, user);
        this.#dirtyUsers.set(user.name, user);
        return { ok: true, value: { type: 'userPut', created } };
      }
      case 'userDelete': {
        if (!this.#users.delete(command.name)) return fail('NO_USER', `no user ${command.name}`);
        this.#dirtyUsers.set(command.name, null);
        return { ok: true, value: { type: 'userDelete' } };
      }
      case 'noop':
        return { ok: true, value: { type: 'noop' } };
    }
  }

  #write(s: Staging, command: (Op | MultiCommand | SetAclCommand) & { readonly ephemeralsMax?: number; readonly caller?: Caller }, sessionId: number | undefined): CommandResult {
    const { ephemeralsMax, caller } = command;
    if (command.type === 'setAcl') return this.#setAcl(s, command, caller);
    if (command.type !== 'multi') return this.#op(s, command, sessionId, ephemeralsMax, caller);
    const results: OpResult[] = [];
    for (let i = 0; i < command.ops.length; i++) {
      const r = this.#op(s, command.ops[i] as Op, sessionId, ephemeralsMax, caller);
      if (!r.ok) return { ok: false, error: { ...r.error, opIndex: i } };
      results.push(r.value);
    }
    return { ok: true, value: { type: 'multi', results } };
  }

  /**
   * Exactly-once (the Raft dissertation's client sessions, §6.3): a write whose `seq` the session
   * already applied gets the recorded result and changes nothing (unless `once`: a seq that is never
   * resent and is already recorded belongs to another write, so it is refused); one the session moved past — a
   * later write applied, or below its floor — is refused, for applying it now would break the
   * session's order or apply it twice. Otherwise it is applied and its result, failure or not,
   * recorded; replies below the floor go.
   */
  #sequencedWrite(s: Staging, command: Op | MultiCommand | SetAclCommand, at: { readonly session: SessionRecord; readonly seq: number; readonly seqFloor: number; readonly once: boolean }): CommandResult {
    const { session, seq } = at;
    const recorded = replyOf(session, seq);
    if (recorded !== undefined) return at.once ? fail('STALE_SEQUENCE', `seq ${seq} was already used by another write of the session; not applied`) : recorded;
    const lastSeq = session.replies.at(-1)?.seq ?? 0;
    if (seq < session.seqFloor) return fail('STALE_SEQUENCE', `seq ${seq} is below the session's floor ${session.seqFloor}; not applied`);
    if (seq <= lastSeq) return fail('STALE_SEQUENCE', `seq ${seq} comes after the session's seq ${lastSeq} took effect; not applied`);
    const result = this.#write(s, command, session.sessionId);
    this.#putSession(withReply(session, { seq, result }, at.seqFloor));
    return result;
  }

  #op(s: Staging, op: Op, sessionId: number | undefined, ephemeralsMax: number | undefined, caller: Caller | undefined): Result<OpResult> {
    switch (op.type) {
      case 'create':
        return this.#create(s, op, sessionId, ephemeralsMax, caller);
      case 'set':
        return this.#set(s, op, caller);
      case 'delete':
        return this.#delete(s, op, caller);
      case 'check':
        return this.#check(s, op, caller);
    }
  }

  /** ZooKeeper's setACL: admin permission on the node, `version` against its `aversion`. */
  #setAcl(s: Staging, command: SetAclCommand, caller: Caller | undefined): CommandResult {
    const problem = pathProblem(command.path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, command.path);
    const node = s.get(command.path);
    if (node === undefined) return fail('NO_NODE', 'no such node', command.path);
    if (!permits(node.acl, caller, perms.admin)) return noAuth('change the ACL of', command.path);
    if (!isAnyVersion(command.version) && command.version !== node.aversion) return fail('BAD_VERSION', 'ACL version mismatch', command.path);
    const acl = resolveAcl(command.acl, caller);
    if (typeof acl === 'string') return fail('INVALID_ACL', acl, command.path);
    const next: Znode = { ...node, acl, aversion: node.aversion + 1 };
    s.nodes.set(command.path, next);
    return { ok: true, value: { type: 'setAcl', stat: statOf(next) } };
  }

  #create(s: Staging, op: CreateOp, sessionId: number | undefined, ephemeralsMax: number | undefined, caller: Caller | undefined): Result<OpResult> {
    const sequential = op.mode.includes('sequential');
    // A sequential path is a prefix and may end in '/', as in ZooKeeper: "/q/" yields "/q/0000000007".
    const problem = pathProblem(sequential ? `${op.path}0` : op.path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, op.path);
    if (op.path === '/') return fail('NODE_EXISTS', 'the root always exists', op.path);
    if (op.data.byteLength > dataBytesMax) return fail('BAD_ARGUMENTS', `data over ${dataBytesMax} bytes`, op.path);
    const kind = kindOfMode[op.mode];
    if (kind === 'ttl') {
      if (!Number.isSafeInteger(op.ttlMs) || (op.ttlMs as number) < 1 || (op.ttlMs as number) > ttlMsMax) {
        return fail('BAD_ARGUMENTS', `ttlMs must be 1..${ttlMsMax}`, op.path);
      }
    } else if (op.ttlMs !== undefined) {
      return fail('BAD_ARGUMENTS', 'ttlMs is only for TTL modes', op.path);
    }
    if (kind === 'ephemeral' && sessionId === undefined) {
      return fail('BAD_ARGUMENTS', 'an ephemeral node needs a session', op.path);
    }
    let acl: Acl;
    if (op.acl === undefined) acl = defaultAcl(caller);
    else {
      const resolved = resolveAcl(op.acl, caller);
      if (typeof resolved === 'string') return fail('INVALID_ACL', resolved, op.path);
      acl = resolved;
    }
    const parentPath = parentOf(sequential ? `${op.path}0` : op.path);
    let parent = s.get(parentPath);
    if (parent === undefined) {
      if (op.createParents !== true) return fail('NO_NODE', 'parent does not exist', parentPath);
      const made = this.#createAncestors(s, parentPath, acl, caller);
      if (!made.ok) return made;
      parent = made.value;
    } else if (!permits(parent.acl, caller, perms.create)) {
      return noAuth('create children of', parentPath);
    }
    let path = op.path;
    if (sequential) {
      const sequence = childrenCreated(parent);
      if (sequence > sequenceMax) return fail('BAD_ARGUMENTS', 'sequence counter exhausted', parentPath);
      path = op.path + String(sequence).padStart(sequenceDigits, '0');
    }
    if (s.get(path) !== undefined) return fail('NODE_EXISTS', 'node exists', path);
    if (parent.kind === 'ephemeral') return fail('NO_CHILDREN_FOR_EPHEMERALS', 'parent is ephemeral', parentPath);
    if (kind === 'ephemeral' && ephemeralsMax !== undefined) {
      const owned = (this.#ephemerals.get(sessionId as number)?.size ?? 0) + (s.ephemeralsAdded.get(sessionId as number) ?? 0);
      if (owned >= ephemeralsMax) return fail('TOO_MANY_EPHEMERALS', `the session owns ${owned} ephemeral nodes; the server that took this write allows ${ephemeralsMax}`, path);
    }
    const node: Znode = {
      kind,
      data: ownedCopy(op.data),
      czxid: s.revision,
      mzxid: s.revision,
      pzxid: s.revision,
      ctime: s.timeMs,
      mtime: s.timeMs,
      version: 0,
      cversion: 0,
      aversion: 0,
      ephemeralOwner: kind === 'ephemeral' ? (sessionId as number) : 0,
      numChildren: 0,
      ttlMs: kind === 'ttl' ? (op.ttlMs as number) : 0,
      acl,
    };
    s.addChild(parentPath, parent, path, node);
    return { ok: true, value: { type: 'create', path, stat: statOf(node) } };
  }

  /**
   * Creates the missing ancestors of `path` (inclusive) as empty persistent nodes with `acl`;
   * returns `path`'s node. The deepest existing ancestor must grant `caller` create permission.
   */
  #createAncestors(s: Staging, path: string, acl: Acl, caller: Caller | undefined): Result<Znode> {
    let parentPath = '/';
    let parent = s.get('/') as Znode;
    for (let slash = path.indexOf('/', 1); ; slash = path.indexOf('/', slash + 1)) {
      const current = slash === -1 ? path : path.slice(0, slash);
      let node = s.get(current);
      if (node === undefined) {
        if (parent.kind === 'ephemeral') return fail('NO_CHILDREN_FOR_EPHEMERALS', 'parent is ephemeral', parentPath);
        if (parent.czxid !== s.revision && !permits(parent.acl, caller, perms.create)) return noAuth('create children of', parentPath);
        node = { ...rootZnode, czxid: s.revision, mzxid: s.revision, pzxid: s.revision, ctime: s.timeMs, mtime: s.timeMs, acl };
        s.addChild(parentPath, parent, current, node);
      }
      if (slash === -1) return { ok: true, value: node };
      parentPath = current;
      parent = node;
    }
  }

  #set(s: Staging, op: SetOp, caller: Caller | undefined): Result<OpResult> {
    const problem = pathProblem(op.path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, op.path);
    const node = s.get(op.path);
    if (node === undefined) return fail('NO_NODE', 'no such node', op.path);
    if (!permits(node.acl, caller, perms.write)) return noAuth('write', op.path);
    if (!isAnyVersion(op.version) && op.version !== node.version) return fail('BAD_VERSION', 'version mismatch', op.path);
    if (op.data.byteLength > dataBytesMax) return fail('BAD_ARGUMENTS', `data over ${dataBytesMax} bytes`, op.path);
    const next: Znode = { ...node, data: ownedCopy(op.data), version: node.version + 1, mzxid: s.revision, mtime: s.timeMs };
    s.nodes.set(op.path, next);
    s.events.push({ revision: s.revision, path: op.path, kind: 'dataChanged' });
    return { ok: true, value: { type: 'set', stat: statOf(next) } };
  }

  #delete(s: Staging, op: DeleteOp, caller: Caller | undefined): Result<OpResult> {
    const problem = pathProblem(op.path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, op.path);
    if (op.path === '/') return fail('BAD_ARGUMENTS', 'the root cannot be deleted', op.path);
    const node = s.get(op.path);
    if (node === undefined) return fail('NO_NODE', 'no such node', op.path);
    // Without a caller nothing is checked: the parent is not even looked up (the apply loop's hot path).
    if (caller !== undefined && !permits((s.get(parentOf(op.path)) as Znode).acl, caller, perms.delete)) return noAuth('delete children of', parentOf(op.path));
    if (!isAnyVersion(op.version) && op.version !== node.version) return fail('BAD_VERSION', 'version mismatch', op.path);
    if (node.numChildren > 0) return fail('NOT_EMPTY', 'node has children', op.path);
    s.removeChild(op.path);
    return { ok: true, value: { type: 'delete' } };
  }

  #check(s: Staging, op: CheckOp, caller: Caller | undefined): Result<OpResult> {
    const problem = pathProblem(op.path);
    if (problem !== null) return fail('BAD_ARGUMENTS', problem, op.path);
    const node = s.get(op.path);
    if (node === undefined) return fail('NO_NODE', 'no such node', op.path);
    if (!permits(node.acl, caller, perms.read)) return noAuth('read', op.path);
    if (!isAnyVersion(op.version) && op.version !== node.version) return fail('BAD_VERSION', 'version mismatch', op.path);
    return { ok: true, value: { type: 'check' } };
  }

  #commit(s: Staging): void {
    for (const [path, node] of s.nodes) {
      const previous = this.#nodes.get(path);
      if (node === null) {
        if (previous === undefined) continue; // created and deleted within one command
        this.#remove(path, previous);
      } else if (previous === undefined) {
        this.#insert(path, node);
      } else {
        this.#nodes.set(path, node);
        // Deleted and created again in one multi: the new node may be of another kind or owner.
        if (previous.kind !== node.kind || previous.ephemeralOwner !== node.ephemeralOwner) {
          this.#untrackKind(path, previous);
          this.#trackKind(path, node);
        }
      }
      this.#dirtyNodes.set(path, node);
    }
  }

  #insert(path: string, node: Znode): void {
    this.#nodes.set(path, node);
    this.#index(path, node);
  }

  #index(path: string, node: Znode): void {
    if (path !== '/') {
      const parentPath = parentOf(path);
      let list = this.#children.get(parentPath);
      if (list === undefined) {
        list = { names: new Set(), sorted: null };
        this.#children.set(parentPath, list);
      }
      list.names.add(nameOf(path));
      list.sorted = null;
    }
    this.#trackKind(path, node);
  }

  /** Ephemerals by owner, TTL nodes for the sweep. */
  #trackKind(path: string, node: Znode): void {
    if (node.kind === 'ephemeral') {
      let owned = this.#ephemerals.get(node.ephemeralOwner);
      if (owned === undefined) {
        owned = new Set();
        this.#ephemerals.set(node.ephemeralOwner, owned);
      }
      owned.add(path);
    } else if (node.kind === 'ttl') {
      this.#ttlNodes.add(path);
    }
  }

  #remove(path: string, node: Znode): void {
    this.#nodes.delete(path);
    const list = this.#children.get(parentOf(path));
    assert(list !== undefined && list.names.delete(nameOf(path)), `${path} missing from its parent's children`);
    list.sorted = null;
    if (list.names.size === 0) this.#children.delete(parentOf(path));
    this.#untrackKind(path, node);
  }

  #untrackKind(path: string, node: Znode): void {
    if (node.kind === 'ephemeral') {
      const owned = this.#ephemerals.get(node.ephemeralOwner);
      owned?.delete(path);
      if (owned !== undefined && owned.size === 0) this.#ephemerals.delete(node.ephemeralOwner);
    } else if (node.kind === 'ttl') {
      this.#ttlNodes.delete(path);
    }
  }

  #putSession(session: SessionRecord): void {
    this.#sessions.set(session.sessionId, session);
    this.#dirtySessions.set(session.sessionId, session);
  }

  #sortedChildren(path: string): readonly string[] {
    const list = this.#children.get(path);
    if (list === undefined) return [];
    list.sorted ??= [...list.names].sort(compareCodePoints);
    return list.sorted;
  }
}
