import { fetchJson, type TestCluster } from './cluster.js';

/** A tiny client of the server's HTTP znode API that finds the leader itself, for tests. */

export interface WriteOutcome {
  readonly ok: boolean;
  readonly status: number;
  readonly revision?: number;
  readonly code?: string;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function toLeader(cluster: TestCluster, method: string, path: string, body: unknown, deadlineMs: number): Promise<WriteOutcome> {
  const deadline = Date.now() + deadlineMs;
  let last: WriteOutcome = { ok: false, status: 0, code: 'NO_ATTEMPT' };
  let target = cluster.live()[0] ?? 1;
  while (Date.now() < deadline) {
    try {
      const init: RequestInit & { timeoutMs: number } = { method, timeoutMs: 3_000 };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      const r = await fetchJson<{ revision?: number; error?: { code: string; details?: { leaderId?: number } } }>(cluster.url(target, `/v1/znodes${path}`), init);
      if (r.status < 300) return { ok: true, status: r.status, revision: r.body.revision! };
      last = { ok: false, status: r.status, code: r.body.error?.code ?? 'UNKNOWN' };
      const leaderId = r.body.error?.details?.leaderId;
      if (r.status === 421 && typeof leaderId === 'number' && cluster.live().includes(leaderId)) {
        target = leaderId;
        continue;
      }
      if (r.status !== 503 && r.status !== 421 && r.status !== 504) return last;
    } catch (err) {
      last = { ok: false, status: 0, code: String(err) };
    }
    const live = cluster.live();
    target = live[(live.indexOf(target) + 1) % live.length] ?? target;
    await new Promise((r) => setTimeout(r, 20));
  }
  return last;
}

export function create(cluster: TestCluster, path: string, data: string, deadlineMs = 10_000, createParents = false): Promise<WriteOutcome> {
  return toLeader(cluster, 'POST', path, { data: b64(data), ...(createParents ? { createParents } : {}) }, deadlineMs);
}

export function set(cluster: TestCluster, path: string, data: string, deadlineMs = 10_000): Promise<WriteOutcome> {
  return toLeader(cluster, 'PUT', path, { data: b64(data) }, deadlineMs);
}

/** Read on one node: linearizable by default. Returns undefined for NO_NODE. */
export async function get(cluster: TestCluster, id: number, path: string, consistency: 'linearizable' | 'sequential' = 'linearizable'): Promise<{ status: number; data?: string; code?: string }> {
  const r = await fetchJson<{ data?: string; error?: { code: string } }>(cluster.url(id, `/v1/znodes${path}?consistency=${consistency}`), { timeoutMs: 5_000 });
  return r.status === 200 ? { status: 200, data: Buffer.from(r.body.data!, 'base64').toString() } : { status: r.status, code: r.body.error?.code ?? 'UNKNOWN' };
}

export async function children(cluster: TestCluster, id: number, path: string, consistency: 'linearizable' | 'sequential' = 'sequential'): Promise<string[]> {
  const names: string[] = [];
  let after: string | undefined;
  for (;;) {
    const q = new URLSearchParams({ consistency, ...(after === undefined ? {} : { after }) });
    const r = await fetchJson<{ names?: string[]; next?: string; error?: { code: string } }>(cluster.url(id, `/v1/children${path}?${q}`), { timeoutMs: 5_000 });
    if (r.status !== 200) throw new Error(`children of ${path} on ${id}: ${r.status} ${r.body.error?.code}`);
    names.push(...(r.body.names ?? []));
    if (r.body.next === undefined) break;
    after = r.body.next;
  }
  return names;
}

/**
 * Writes `/load/<n>` sequentially from `writers` concurrent loops until stopped; remembers every
 * acknowledged path, which must survive whatever the test does to the cluster.
 */
export class WriteLoad {
  readonly acknowledged = new Set<string>();
  attempted = 0;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private next = 0;

  constructor(private readonly cluster: TestCluster, private readonly prefix = '/load') {}

  start(writers = 4): this {
    for (let w = 0; w < writers; w++) this.loops.push(this.loop());
    return this;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const path = `${this.prefix}/${String(this.next++).padStart(8, '0')}`;
      this.attempted++;
      const r = await create(this.cluster, path, path, 2_000, true);
      if (r.ok) this.acknowledged.add(path);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}
