/**
 * Service discovery (Curator's ServiceDiscovery): each instance of a service is an ephemeral node
 * `<base>/<service>/<id>` holding its address as JSON, so it lives exactly as long as the session
 * of the process that registered it. Readers list a service once (`discover`) or follow it
 * (`watch`, on a TreeCache of the service's directory).
 */
import { randomUUID } from 'node:crypto';
import { isVigilError, VigilError, type VigilClient } from '../index.js';
import { childPath, createAttemptsMax, leaveQueue, transient } from './participant.js';
import { TreeCache } from './tree-cache.js';

/** Instances of one service that `discover` and `watch` accept; a larger service is an error, not a truncated answer. */
export const serviceInstancesMax = 10_000;
/** Reads `discover` keeps in flight. */
export const discoverReadsInFlightMax = 256;

/** What an instance publishes about itself. */
export interface InstanceSpec {
  /** A path segment (no '/', not empty, not '.' or '..'); default a random uuid. */
  readonly id?: string;
  /** Host name or IP address (not empty). */
  readonly address: string;
  /** An integer in 0..65535. */
  readonly port?: number;
  /** Anything JSON can carry; read back as parsed. */
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** An instance as discovered. */
export interface ServiceInstance {
  readonly service: string;
  readonly id: string;
  readonly address: string;
  readonly port?: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** Its node. */
  readonly path: string;
}

/** What happened to a registration. */
export type RegistrationEvent =
  /** The node exists, owned by session `sessionId` (also after each re-registration). */
  | { readonly type: 'registered'; readonly sessionId: number }
  /** The session expired: the node is gone until the client's next session re-registers it. */
  | { readonly type: 'lost' }
  /** A re-registration failed (e.g. NODE_EXISTS: another session took the id); retried at the next new session. */
  | { readonly type: 'failed'; readonly error: VigilError };

/**
 * A registered instance. The node exists while the session that created it lives; after an
 * expiry, when the client opens a new session (`reopenAfterExpiry`, the default), it is created
 * again with the latest data. While the connection is `suspended` nothing changes: the node stays
 * as long as the session does, and others still see the instance.
 */
export interface Registration {
  readonly service: string;
  readonly id: string;
  readonly path: string;
  /** The instance as last published (or to be published at the next re-registration). */
  readonly instance: ServiceInstance;
  /** True while the node exists for the client's current session, as far as this client knows. */
  isRegistered(): boolean;
  /** Replaces the metadata (re-creating the node if the session lost it). Rejects after `unregister()`. */
  update(metadata: Readonly<Record<string, unknown>>): Promise<void>;
  /**
   * Stops re-registering and deletes the node if the current session owns it (after an expiry it
   * is already gone, and the id may belong to another process now). Idempotent; rejects only if
   * the cluster could not be asked (e.g. TIMEOUT), and may then be called again.
   */
  unregister(): Promise<void>;
  /** Registration events; returns the unsubscribe. */
  on(listener: (event: RegistrationEvent) => void): () => void;
}

interface Published {
  readonly address: string;
  readonly port?: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/**
 * Services under `basePath` (default '/services'). Service names and instance ids are path
 * segments; anything else is refused with BAD_ARGUMENTS before a request is sent.
 */
export class ServiceRegistry {
  readonly basePath: string;

  constructor(
    private readonly client: VigilClient,
    basePath = '/services',
  ) {
    if (typeof basePath !== 'string' || !basePath.startsWith('/') || (basePath !== '/' && basePath.endsWith('/')) || basePath.includes('//')) {
      throw new VigilError('BAD_ARGUMENTS', `basePath ${JSON.stringify(basePath)}: an absolute path without a trailing slash`);
    }
    this.basePath = basePath;
  }

  /**
   * Creates the instance's ephemeral node (parents as persistent nodes) and resolves once it
   * exists. Rejects NODE_EXISTS if another session holds that id, BAD_ARGUMENTS for a bad name,
   * id, address, port or metadata. A create whose outcome is unknown is checked and repeated.
   */
  async register(service: string, instance: InstanceSpec): Promise<Registration> {
    checkSegment('service', service);
    const id = instance.id ?? randomUUID();
    checkSegment('id', id);
    const published = publishedOf(instance);
    const registration = new ServiceRegistration(this.client, { service, id, path: childPath(this.serviceDir(service), id), published });
    try {
      await registration.ensure();
    } catch (err) {
      registration.dispose();
      throw err;
    }
    return registration;
  }

  /**
   * The service's instances now (one listing, then one read per instance), sorted by id. Nodes
   * that vanish between the two reads, or whose data is not an instance's JSON, are skipped.
   */
  async discover(service: string, options: { readonly signal?: AbortSignal } = {}): Promise<ServiceInstance[]> {
    checkSegment('service', service);
    const dir = this.serviceDir(service);
    let names: string[];
    try {
      names = (await this.client.children(dir, { signal: options.signal })).names;
    } catch (err) {
      if (isVigilError(err) && err.code === 'NO_NODE') return [];
      throw err;
    }
    if (names.length > serviceInstancesMax) throw new VigilError('BAD_ARGUMENTS', `${dir} has more than ${serviceInstancesMax} instances`, { path: dir });
    const instances: ServiceInstance[] = [];
    for (let i = 0; i < names.length; i += discoverReadsInFlightMax) {
      const reads = await Promise.all(
        names.slice(i, i + discoverReadsInFlightMax).map(async (id) => {
          const path = childPath(dir, id);
          try {
            return instanceOf(service, id, path, (await this.client.get(path, { signal: options.signal })).data);
          } catch (err) {
            if (isVigilError(err) && err.code === 'NO_NODE') return null;
            throw err;
          }
        }),
      );
      for (const instance of reads) if (instance !== null) instances.push(instance);
    }
    return instances.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Follows the service: `listener` gets the instance set (sorted by id, bad nodes skipped) once
   * loaded, then after every change of it — gapless and in order, as the TreeCache underneath
   * guarantees; changes that land together (a reload, one multi) may come as one call, and a set
   * equal to the last one is not repeated. Through `suspended` the last set stands; after an
   * expiry the cache reloads on the new session and the listener gets the set as it is then.
   * `onError` hears the failure that stops following (the cache's). Returns the unsubscribe.
   */
  watch(service: string, listener: (instances: ServiceInstance[]) => void, options: { readonly onError?: (error: VigilError) => void } = {}): () => void {
    checkSegment('service', service);
    const dir = this.serviceDir(service);
    const cache = new TreeCache(this.client, dir, { nodesMax: serviceInstancesMax + 1 });
    let last: string | null = null;
    let scheduled = false;
    let closed = false;
    const publish = (): void => {
      scheduled = false;
      if (closed) return;
      const instances: ServiceInstance[] = [];
      for (const id of cache.children(dir) ?? []) {
        const path = childPath(dir, id);
        const node = cache.get(path);
        const instance = node === undefined ? null : instanceOf(service, id, path, node.data);
        if (instance !== null) instances.push(instance);
      }
      const key = JSON.stringify(instances);
      if (key === last) return;
      last = key;
      try {
        listener(instances);
      } catch {
        // The listener's failure is its own.
      }
    };
    cache.on('change', () => {
      // One call per burst: a reload's differences are emitted in one go.
      if (scheduled) return;
      scheduled = true;
      queueMicrotask(publish);
    });
    cache.on('error', (error) => options.onError?.(error));
    cache.start().catch(() => undefined);
    return () => {
      closed = true;
      cache.close();
    };
  }

  private serviceDir(service: string): string {
    return childPath(this.basePath, service);
  }
}

class ServiceRegistration implements Registration {
  readonly service: string;
  readonly id: string;
  readonly path: string;
  private published: Published;
  /** The session owning the node, 0 when none is known to. */
  private ownerSessionId = 0;
  private ended = false;
  private unregistered: Promise<void> | null = null;
  /** Creates, updates and the delete run one at a time, in call order. */
  private chain: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<(event: RegistrationEvent) => void>();
  private readonly unsubscribeState: () => void;

  constructor(
    private readonly client: VigilClient,
    options: { readonly service: string; readonly id: string; readonly path: string; readonly published: Published },
  ) {
    this.service = options.service;
    this.id = options.id;
    this.path = options.path;
    this.published = options.published;
    this.unsubscribeState = client.on('state', (state) => {
      if (this.ended) return;
      if (state === 'expired' && this.ownerSessionId !== 0) {
        this.ownerSessionId = 0;
        this.emit({ type: 'lost' });
      } else if (state === 'connected' && client.sessionId !== this.ownerSessionId) {
        // A new session: the old one's ephemerals are gone.
        this.ensure().catch((error: unknown) => {
          if (!this.ended) this.emit({ type: 'failed', error: asVigilError(error) });
        });
      } else if (state === 'closed') {
        this.ownerSessionId = 0;
        this.dispose();
      }
    });
  }

  get instance(): ServiceInstance {
    return { service: this.service, id: this.id, path: this.path, ...this.published };
  }

  isRegistered(): boolean {
    return !this.ended && this.ownerSessionId !== 0 && this.ownerSessionId === this.client.sessionId;
  }

  on(listener: (event: RegistrationEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  update(metadata: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.ended) return Promise.reject(new VigilError('BAD_ARGUMENTS', `${this.path}: the instance was unregistered`, { path: this.path }));
    const published = publishedOf({ ...this.published, metadata });
    return this.serialize(async () => {
      this.published = published;
      for (let attempt = 1; this.isRegistered(); attempt++) {
        try {
          // Same data on every attempt: a repeat after an unknown outcome is harmless.
          await this.client.set(this.path, encode(published));
          return;
        } catch (err) {
          if (isVigilError(err) && (err.code === 'NO_NODE' || err.code === 'SESSION_EXPIRED')) break;
          if (!transient(err) || attempt >= createAttemptsMax) throw err;
          await pause(retryDelayMs * attempt);
        }
      }
      this.ownerSessionId = 0;
      await this.create();
    });
  }

  unregister(): Promise<void> {
    this.unregistered ??= (async () => {
      this.dispose();
      await this.serialize(async () => {
        this.ownerSessionId = 0;
        let stat;
        try {
          stat = await this.client.exists(this.path);
        } catch (err) {
          // An ended session or client has no node left to delete.
          if (isVigilError(err) && (err.code === 'CLOSED' || err.code === 'SESSION_EXPIRED')) return;
          throw err;
        }
        // Only the current session's node is ours to delete: after an expiry another process may hold the id.
        if (stat !== null && stat.ephemeralOwner !== 0 && stat.ephemeralOwner === this.client.sessionId) await leaveQueue(this.client, this.path);
      });
    })().catch((err: unknown) => {
      // A failed attempt (e.g. TIMEOUT) may be repeated by calling again.
      this.unregistered = null;
      throw err;
    });
    return this.unregistered;
  }

  /** Makes sure the node exists for the current session (queued behind any update). */
  ensure(): Promise<void> {
    return this.serialize(() => this.create());
  }

  dispose(): void {
    this.ended = true;
    this.unsubscribeState();
  }

  private async create(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.ended || this.isRegistered()) return;
      try {
        const { stat } = await this.client.create(this.path, encode(this.published), { mode: 'ephemeral', createParents: true });
        // The owner, not the client's session now: a session may have ended since the create.
        this.adopt(stat.ephemeralOwner);
        continue;
      } catch (err) {
        if (isVigilError(err) && err.code === 'NODE_EXISTS') {
          const stat = await this.client.exists(this.path);
          // Our own earlier attempt, whose answer was lost, or a node that has just gone.
          if (stat === null) continue;
          if (stat.ephemeralOwner !== 0 && stat.ephemeralOwner === this.client.sessionId) {
            this.adopt(stat.ephemeralOwner);
            continue;
          }
          throw new VigilError('NODE_EXISTS', `${this.path}: instance ${this.id} of ${this.service} is registered by another session`, { path: this.path, cause: err });
        }
        // SESSION_EXPIRED: the client is opening a new session; the create waits for it.
        const again = transient(err) || (isVigilError(err) && err.code === 'SESSION_EXPIRED');
        if (!again || attempt >= createAttemptsMax) throw err;
        await pause(retryDelayMs * attempt);
      }
    }
  }

  private adopt(sessionId: number): void {
    this.ownerSessionId = sessionId;
    if (!this.ended && sessionId === this.client.sessionId) this.emit({ type: 'registered', sessionId });
  }

  private serialize(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(step);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private emit(event: RegistrationEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

/** The step between attempts of a create (times the attempt number). */
const retryDelayMs = 25;

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A path segment: not empty, no '/', not '.' or '..' (the server checks the characters). */
function checkSegment(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '' || value.includes('/') || value === '.' || value === '..') {
    throw new VigilError('BAD_ARGUMENTS', `${what} ${JSON.stringify(value)}: a path segment (not empty, no '/', not '.' or '..')`);
  }
}

function publishedOf(spec: InstanceSpec | Published): Published {
  if (typeof spec.address !== 'string' || spec.address === '') throw new VigilError('BAD_ARGUMENTS', 'address: a non-empty string');
  if (spec.port !== undefined && (!Number.isInteger(spec.port) || spec.port < 0 || spec.port > 65_535)) {
    throw new VigilError('BAD_ARGUMENTS', `port: an integer in 0..65535, not ${String(spec.port)}`);
  }
  if (spec.metadata !== undefined && !isRecord(spec.metadata)) throw new VigilError('BAD_ARGUMENTS', 'metadata: a plain object');
  return {
    address: spec.address,
    ...(spec.port === undefined ? {} : { port: spec.port }),
    // A round trip through JSON: what is published is exactly what readers will parse.
    ...(spec.metadata === undefined ? {} : { metadata: JSON.parse(JSON.stringify(spec.metadata)) as Record<string, unknown> }),
  };
}

function encode(published: Published): string {
  return JSON.stringify(published);
}

/** The instance a node's data describes, or null when it is not one (skipped by readers). */
function instanceOf(service: string, id: string, path: string, data: Uint8Array): ServiceInstance | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return null;
  }
  if (!isRecord(parsed) || typeof parsed.address !== 'string' || parsed.address === '') return null;
  const port = parsed.port;
  if (port !== undefined && (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535)) return null;
  const metadata = parsed.metadata;
  if (metadata !== undefined && !isRecord(metadata)) return null;
  return {
    service,
    id,
    address: parsed.address,
    ...(port === undefined ? {} : { port }),
    ...(metadata === undefined ? {} : { metadata }),
    path,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asVigilError(err: unknown): VigilError {
  return isVigilError(err) ? err : new VigilError('INTERNAL', String(err), { cause: err });
}
