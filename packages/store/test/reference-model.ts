// A plain, obviously-slow reference of the store's semantics for model-based tests. It shares no
// logic with src/ except the record encodings that the digest is defined over.
import type { Command, Entry, Op } from '../src/index.js';
import { digestOfRecords } from '../src/digest.js';
import type { SessionRecord } from '../src/session.js';
import type { Znode } from '../src/znode.js';
import { openAcl } from '../src/acl.js';

export interface ModelOutcome {
  index: number;
  result: { ok: true; value: unknown } | { ok: false; error: { code: string; path?: string; opIndex?: number } };
  events: { revision: number; path: string; kind: string }[];
}

class Failure {
  constructor(readonly code: string, readonly path?: string) {}
}

const root: Znode = {
  kind: 'persistent', data: new Uint8Array(0), czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0,
  version: 0, cversion: 0, aversion: 0, ephemeralOwner: 0, numChildren: 0, ttlMs: 0, acl: openAcl,
};

const parent = (p: string): string => (p.lastIndexOf('/') === 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const byCodePoint = (a: string, b: string): number => (Buffer.compare(Buffer.from(a), Buffer.from(b)));
const validPath = (p: string): boolean => {
  if (p === '/') return true;
  if (!p.startsWith('/') || p.endsWith('/')) return false;
  if (Buffer.byteLength(p) > 4096) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f\ufff0-\uffff]/.test(p)) return false;
  if (!p.isWellFormed()) return false;
  return p.slice(1).split('/').every((s) => s !== '' && s !== '.' && s !== '..');
};
const statOf = (n: Znode) => ({
  czxid: n.czxid, mzxid: n.mzxid, pzxid: n.pzxid, ctime: n.ctime, mtime: n.mtime, version: n.version,
  cversion: n.cversion, aversion: n.aversion, ephemeralOwner: n.ephemeralOwner, dataLength: n.data.byteLength,
  numChildren: n.numChildren,
});

export class ReferenceModel {
  nodes = new Map<string, Znode>([['/', root]]);
  /**
   * Children ever created under each node, kept apart from cversion as ZooKeeper keeps it (its
   * stored cversion): the sequential suffix, which a delete does not advance.
   */
  childrenCreated = new Map<string, number>();
  sessions = new Map<number, SessionRecord>();
  appliedIndex = 0;
  containersReaped = 0;
  private rev = 0;
  private now = 0;
  private events: ModelOutcome['events'] = [];
  private emptied: string[] = [];

  digest(): string {
    return digestOfRecords(this.appliedIndex, this.nodes, this.sessions.values());
  }

  ttlDue(nowMs: number): string[] {
    return [...this.nodes].filter(([, n]) => n.kind === 'ttl' && n.numChildren === 0 && nowMs - n.mtime > n.ttlMs).map(([p]) => p).sort(byCodePoint);
  }

  childrenOf(path: string): string[] {
    return [...this.nodes.keys()].filter((p) => p !== '/' && parent(p) === path).map((p) => p.slice(p.lastIndexOf('/') + 1)).sort(byCodePoint);
  }

  apply(entry: Entry): ModelOutcome {
    this.rev = entry.index;
    this.now = entry.timeMs;
    this.events = [];
    this.emptied = [];
    this.appliedIndex = entry.index;
    const saved = new Map(this.nodes);
    const savedCreated = new Map(this.childrenCreated);
    const savedSessions = new Map(this.sessions);
    try {
      const value = this.command(entry.command);
      for (let i = 0; i < this.emptied.length; i++) {
        const p = this.emptied[i] as string;
        const n = this.nodes.get(p);
        if (n !== undefined && n.kind === 'container' && n.numChildren === 0) {
          this.remove(p);
          this.containersReaped++;
        }
      }
      return { index: entry.index, result: { ok: true, value }, events: this.events };
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      this.nodes = saved;
      this.childrenCreated = savedCreated;
      this.sessions = savedSessions;
      const error: { code: string; path?: string; opIndex?: number } = { code: e.code };
      if (e.path !== undefined) error.path = e.path;
      if (multiIndex !== undefined) error.opIndex = multiIndex;
      multiIndex = undefined;
      return { index: entry.index, result: { ok: false, error }, events: [] };
    }
  }

  private command(c: Command): unknown {
    switch (c.type) {
      case 'create': case 'set': case 'delete': case 'check':
        if (c.sessionId !== undefined && !this.sessions.has(c.sessionId)) throw new Failure('SESSION_EXPIRED');
        return this.op(c, c.sessionId);
      case 'multi': {
        if (c.sessionId !== undefined && !this.sessions.has(c.sessionId)) throw new Failure('SESSION_EXPIRED');
        const results = c.ops.map((op, i) => {
          multiIndex = i;
          return this.op(op, c.sessionId);
        });
        multiIndex = undefined;
        return { type: 'multi', results };
      }
      case 'sessionOpen':
        if (c.timeoutMs < 1 || c.timeoutMs > 86_400_000 || this.sessions.has(c.sessionId)) throw new Failure('BAD_ARGUMENTS');
        this.sessions.set(c.sessionId, { sessionId: c.sessionId, timeoutMs: c.timeoutMs, openedMs: this.now, lastSeenMs: this.now, secret: c.secret ?? new Uint8Array(0), seqFloor: 0, replies: [] });
        return { type: 'sessionOpen' };
      case 'sessionHeartbeat': {
        let touched = 0;
        for (const id of c.sessionIds) {
          const s = this.sessions.get(id);
          if (s === undefined) continue;
          touched++;
          this.sessions.set(id, { ...s, lastSeenMs: Math.max(s.lastSeenMs, this.now) });
        }
        return { type: 'sessionHeartbeat', touched };
      }
      case 'sessionClose': case 'sessionExpire': {
        if (!this.sessions.has(c.sessionId)) throw new Failure('SESSION_EXPIRED');
        const mine = [...this.nodes].filter(([, n]) => n.kind === 'ephemeral' && n.ephemeralOwner === c.sessionId).map(([p]) => p).sort(byCodePoint);
        for (const p of mine) this.remove(p);
        this.sessions.delete(c.sessionId);
        return { type: c.type, sessionId: c.sessionId, deleted: mine };
      }
      case 'sweep': {
        const deleted: string[] = [];
        for (const p of c.paths) {
          const n = validPath(p) ? this.nodes.get(p) : undefined;
          if (n?.kind === 'ttl' && n.numChildren === 0 && this.now - n.mtime > n.ttlMs) {
            this.remove(p);
            deleted.push(p);
          }
        }
        return { type: 'sweep', deleted };
      }
      case 'noop':
        return { type: 'noop' };
    }
  }

  private op(op: Op, sessionId: number | undefined): unknown {
    const versionOk = (n: Znode, v: number | undefined) => v === undefined || v === -1 || v === n.version;
    switch (op.type) {
      case 'create': {
        const seq = op.mode.includes('sequential');
        if (!validPath(seq ? `${op.path}0` : op.path)) throw new Failure('BAD_ARGUMENTS', op.path);
        if (op.path === '/') throw new Failure('NODE_EXISTS', op.path);
        if (op.data.byteLength > 1024 * 1024) throw new Failure('BAD_ARGUMENTS', op.path);
        const kind = op.mode.includes('ttl') ? 'ttl' : op.mode.startsWith('ephemeral') ? 'ephemeral' : op.mode === 'container' ? 'container' : 'persistent';
        if (kind === 'ttl' ? !(Number.isSafeInteger(op.ttlMs) && op.ttlMs! >= 1 && op.ttlMs! <= 31_536_000_000) : op.ttlMs !== undefined) {
          throw new Failure('BAD_ARGUMENTS', op.path);
        }
        if (kind === 'ephemeral' && sessionId === undefined) throw new Failure('BAD_ARGUMENTS', op.path);
        const parentPath = parent(seq ? `${op.path}0` : op.path);
        if (!this.nodes.has(parentPath)) {
          if (op.createParents !== true) throw new Failure('NO_NODE', parentPath);
          const segments = parentPath.slice(1).split('/');
          for (let i = 1; i <= segments.length; i++) {
            const p = `/${segments.slice(0, i).join('/')}`;
            if (this.nodes.has(p)) continue;
            if (this.nodes.get(parent(p))!.kind === 'ephemeral') throw new Failure('NO_CHILDREN_FOR_EPHEMERALS', parent(p));
            this.add(p, { ...root, czxid: this.rev, mzxid: this.rev, pzxid: this.rev, ctime: this.now, mtime: this.now });
          }
        }
        const par = this.nodes.get(parentPath)!;
        const path = seq ? op.path + String(this.childrenCreated.get(parentPath) ?? 0).padStart(10, '0') : op.path;
        if (this.nodes.has(path)) throw new Failure('NODE_EXISTS', path);
        if (par.kind === 'ephemeral') throw new Failure('NO_CHILDREN_FOR_EPHEMERALS', parentPath);
        const node: Znode = {
          kind, data: op.data, czxid: this.rev, mzxid: this.rev, pzxid: this.rev, ctime: this.now, mtime: this.now,
          version: 0, cversion: 0, aversion: 0, ephemeralOwner: kind === 'ephemeral' ? sessionId! : 0, numChildren: 0,
          ttlMs: kind === 'ttl' ? op.ttlMs! : 0, acl: openAcl,
        };
        this.add(path, node);
        return { type: 'create', path, stat: statOf(node) };
      }
      case 'set': {
        if (!validPath(op.path)) throw new Failure('BAD_ARGUMENTS', op.path);
        const n = this.nodes.get(op.path);
        if (n === undefined) throw new Failure('NO_NODE', op.path);
        if (!versionOk(n, op.version)) throw new Failure('BAD_VERSION', op.path);
        if (op.data.byteLength > 1024 * 1024) throw new Failure('BAD_ARGUMENTS', op.path);
        const next = { ...n, data: op.data, version: n.version + 1, mzxid: this.rev, mtime: this.now };
        this.nodes.set(op.path, next);
        this.events.push({ revision: this.rev, path: op.path, kind: 'dataChanged' });
        return { type: 'set', stat: statOf(next) };
      }
      case 'delete': {
        if (!validPath(op.path) || op.path === '/') throw new Failure('BAD_ARGUMENTS', op.path);
        const n = this.nodes.get(op.path);
        if (n === undefined) throw new Failure('NO_NODE', op.path);
        if (!versionOk(n, op.version)) throw new Failure('BAD_VERSION', op.path);
        if (this.childrenOf(op.path).length > 0) throw new Failure('NOT_EMPTY', op.path);
        this.remove(op.path);
        return { type: 'delete' };
      }
      case 'check': {
        if (!validPath(op.path)) throw new Failure('BAD_ARGUMENTS', op.path);
        const n = this.nodes.get(op.path);
        if (n === undefined) throw new Failure('NO_NODE', op.path);
        if (!versionOk(n, op.version)) throw new Failure('BAD_VERSION', op.path);
        return { type: 'check' };
      }
    }
  }

  private touchParent(path: string, delta: number): Znode {
    const pp = parent(path);
    const p = this.nodes.get(pp)!;
    const next = { ...p, cversion: p.cversion + 1, pzxid: this.rev, numChildren: this.childrenOf(pp).length + delta };
    this.nodes.set(pp, next);
    return next;
  }

  private add(path: string, node: Znode): void {
    this.touchParent(path, 1);
    this.childrenCreated.set(parent(path), (this.childrenCreated.get(parent(path)) ?? 0) + 1);
    this.nodes.set(path, node);
    this.events.push({ revision: this.rev, path, kind: 'created' }, { revision: this.rev, path: parent(path), kind: 'childrenChanged' });
  }

  private remove(path: string): void {
    this.nodes.delete(path);
    this.childrenCreated.delete(path);
    const p = this.touchParent(path, 0);
    this.events.push({ revision: this.rev, path, kind: 'deleted' }, { revision: this.rev, path: parent(path), kind: 'childrenChanged' });
    if (p.kind === 'container' && p.numChildren === 0) this.emptied.push(parent(path));
  }
}

let multiIndex: number | undefined;
