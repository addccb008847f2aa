import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { connect, isVigilError, type VigilClient } from '@vigil/client';
import { waitFor, type NodeStatusJson } from '../cluster/process-cluster.js';

/**
 * The host side of the Docker end-to-end (scripts/docker/e2e.sh): it drives the compose cluster
 * through the SDK, the HTTP API and the docker CLI, one phase per run:
 *
 *   form      the three containers turn healthy (the image's HEALTHCHECK on /readyz); a write
 *             through the SDK is read back from every member
 *   chaos     writes go on while the leader's container is killed (docker kill), the new leader's
 *             is stopped (SIGSTOP: no quorum), the killed one restarted and the stopped one
 *             continued; then every acknowledged write is on all three members
 *   durable   after `compose down` and `up` on the same volumes: every acknowledged write is there
 *   handover  `docker stop` of the leader while writes go on: it exits 0, the new leader's term
 *             is the old term + 1, and no member went through pre-vote (no election timeout)
 *   tls       the same volumes under docker-compose.tls.yml: the containers turn healthy (the
 *             HEALTHCHECK over HTTPS), every acknowledged write is read over WSS with the CA from
 *             each member, a write goes through, and a client without the CA gets no session
 *
 * Environment: VIGIL_E2E_PORTS (`1=18181,2=18182,3=18183`, the published client ports),
 * VIGIL_E2E_CONTAINERS (`1=<id>,…`), VIGIL_E2E_STATE (a JSON file the phases share),
 * VIGIL_E2E_CA (the CA's PEM file, for the tls phase).
 */

const ids = [1, 2, 3] as const;
/** Each phase has this long; then the process fails (e2e.sh's own timeout is the backstop). */
const phaseTimeoutMs = 150_000;
const writeTimeoutMs = 2_000;
/** The nodes run with the defaults: 50 ms ticks, election timeout 10 ticks, randomized to 2×. */
const electionTimeoutMinMs = 500;

interface State {
  /** Paths whose create was acknowledged. */
  acked: string[];
}

const phase = process.argv[2] ?? '';
const ports = idMap(requiredEnv('VIGIL_E2E_PORTS'), Number);
const containers = idMap(requiredEnv('VIGIL_E2E_CONTAINERS'), String);
const statePath = requiredEnv('VIGIL_E2E_STATE');

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

function idMap<T>(text: string, parse: (s: string) => T): Map<number, T> {
  return new Map(text.split(',').map((pair) => {
    const [id, value] = pair.split('=');
    return [Number(id), parse(value ?? '')];
  }));
}

function get<T>(map: ReadonlyMap<number, T>, id: number): T {
  const value = map.get(id);
  if (value === undefined) throw new Error(`nothing known of member ${id}`);
  return value;
}

const endpoint = (id: number): string => `ws://127.0.0.1:${get(ports, id)}`;
const url = (id: number, path: string): string => `http://127.0.0.1:${get(ports, id)}${path}`;
const say = (text: string): void => void process.stdout.write(`   ${text}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function docker(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/**
 * GET a JSON document. The deadline is a timer of its own, not AbortSignal.timeout(): Node 20's
 * fetch can hang on a connection that is accepted and closed at once (what docker-proxy does
 * while the container behind it is not listening yet), and AbortSignal.timeout's timer does not
 * keep the process alive, so the phase would end with exit code 13 (unsettled top-level await).
 */
async function getJson<T>(target: string, timeoutMs: number): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`no answer from ${target} within ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(target, { signal: controller.signal });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${target}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  } finally {
    clearTimeout(timer);
  }
}

function status(id: number): Promise<NodeStatusJson> {
  return getJson<NodeStatusJson>(url(id, '/status'), 1_000);
}

/** The leader every member of `among` agrees on, at one term. */
function leader(among: readonly number[], timeoutMs = 30_000): Promise<{ id: number; term: number }> {
  return waitFor(`a leader all of ${among.join(',')} agree on`, async () => {
    const all = await Promise.all(among.map(status));
    const leaders = all.filter((s) => s.role === 'leader');
    if (leaders.length !== 1) return undefined;
    const l = leaders[0]!;
    return all.every((s) => s.leaderId === l.id && s.term === l.term) ? { id: l.id, term: l.term } : undefined;
  }, timeoutMs, 100);
}

/** All members up, agreeing on a leader, with everything committed applied everywhere. */
async function converged(timeoutMs = 60_000): Promise<void> {
  await waitFor('all three members converged', async () => {
    const all = await Promise.all(ids.map(status));
    const commit = all[0]!.commitIndex;
    const agreed = all.every((s) => s.leaderId !== null && s.leaderId === all[0]!.leaderId && s.term === all[0]!.term);
    return agreed && all.every((s) => s.commitIndex === commit && s.appliedIndex === commit) ? true : undefined;
  }, timeoutMs, 200);
}

/** Sequential creates of /e2e/w-<n>, each with a deadline; the acknowledged ones are recorded. */
class Writer {
  readonly acked: string[] = [];
  readonly ackedAtMs: number[] = [];
  readonly failures = new Map<string, number>();
  private stopping = false;
  private readonly done: Promise<void>;

  constructor(private readonly client: VigilClient, private readonly prefix: string) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    for (let n = 1; !this.stopping; n++) {
      const path = `/e2e/${this.prefix}-${String(n).padStart(7, '0')}`;
      try {
        await this.client.create(path, String(n), { timeoutMs: writeTimeoutMs });
        this.acked.push(path);
        this.ackedAtMs.push(performance.now());
      } catch (err) {
        if (!isVigilError(err)) throw err;
        // Unknown outcome (TIMEOUT, CONNECTION_LOSS) or refused: not acknowledged either way.
        this.failures.set(err.code, (this.failures.get(err.code) ?? 0) + 1);
        await sleep(20);
      }
    }
  }

  /** Resolves once `count` more writes than `since` are acknowledged. */
  progressed(since: number, count: number, what: string, timeoutMs: number): Promise<true> {
    return waitFor(what, () => (this.acked.length >= since + count ? true : undefined), timeoutMs, 20);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.done;
  }

  describeFailures(): string {
    return this.failures.size === 0 ? 'none' : [...this.failures].map(([code, n]) => `${n} ${code}`).join(', ');
  }
}

/** Every acknowledged path is on every member: read each one alone, after a sync, sequentially. */
async function verifyEverywhere(acked: readonly string[]): Promise<void> {
  const expected = new Set(acked.map((p) => p.slice('/e2e/'.length)));
  for (const id of ids) {
    const client = await connect({ endpoints: [endpoint(id)], connectTimeoutMs: 10_000 });
    try {
      await client.sync({ timeoutMs: 10_000 });
      const { names } = await client.children('/e2e', { consistency: 'sequential', timeoutMs: 30_000 });
      const present = new Set(names);
      const missing = [...expected].filter((name) => !present.has(name));
      check(missing.length === 0, `member ${id} lacks ${missing.length} acknowledged writes, e.g. ${missing.slice(0, 5).join(', ')}`);
      for (const path of [acked[0], acked.at(-1)]) {
        if (path === undefined) continue;
        const { data } = await client.get(path, { consistency: 'sequential' });
        check(new TextDecoder().decode(data) === path.slice(path.lastIndexOf('-') + 1).replace(/^0+/, ''), `member ${id}: ${path} holds the wrong data`);
      }
      say(`member ${id}: all ${expected.size} acknowledged writes present (${names.length} nodes under /e2e)`);
    } finally {
      await client.close();
    }
  }
}

async function loadState(): Promise<State> {
  return JSON.parse(await readFile(statePath, 'utf8')) as State;
}

async function saveState(state: State): Promise<void> {
  await writeFile(statePath, JSON.stringify(state));
}

// ---- phases ----

async function form(): Promise<void> {
  const startedMs = performance.now();
  await waitFor('all three containers healthy (HEALTHCHECK on /readyz)', async () => {
    const health = await Promise.all(ids.map((id) => docker(['inspect', '-f', '{{.State.Health.Status}}', get(containers, id)])));
    return health.every((h) => h === 'healthy') ? true : undefined;
  }, 60_000, 500);
  const l = await leader(ids);
  say(`healthy after ${Math.round(performance.now() - startedMs)} ms; leader ${l.id} at term ${l.term}`);

  const client = await connect({ endpoints: ids.map(endpoint) });
  try {
    await client.create('/e2e', 'docker end-to-end');
    const { stat } = await client.get('/e2e');
    check(stat.version === 0, 'a fresh /e2e has version 0');
  } finally {
    await client.close();
  }
  await saveState({ acked: [] });
  await verifyEverywhere([]);
}

async function chaos(): Promise<void> {
  const client = await connect({ endpoints: ids.map(endpoint), requestTimeoutMs: writeTimeoutMs });
  const writer = new Writer(client, 'chaos');
  try {
    await writer.progressed(0, 50, 'the first writes', 20_000);

    const killed = (await leader(ids)).id;
    say(`docker kill of the leader, member ${killed}, after ${writer.acked.length} acknowledged writes`);
    await docker(['kill', get(containers, killed)]);
    const rest = ids.filter((id) => id !== killed);
    await writer.progressed(writer.acked.length, 50, 'writes after the leader was killed', 30_000);
    const paused = (await leader(rest)).id;
    // SIGSTOP rather than `docker pause`: the cgroup freezer behind `docker pause` can fail
    // ("OCI runtime pause failed: unable to freeze") while a thread is in uninterruptible I/O —
    // as an fsync-heavy member's often is — and CI saw it do so. SIGSTOP from outside the
    // container's PID namespace is always delivered to its PID 1 (the server) and stops every
    // thread, which is what the phase needs: a member that holds its sockets open and answers
    // nothing.
    say(`writes resumed; SIGSTOP to the new leader, member ${paused} (no quorum)`);
    await docker(['kill', '--signal', 'SIGSTOP', get(containers, paused)]);
    await sleep(2_000);

    const beforeRestart = writer.acked.length;
    say(`docker start of member ${killed}`);
    await docker(['start', get(containers, killed)]);
    await writer.progressed(beforeRestart, 50, 'writes after the killed member restarted', 45_000);
    say(`writes resumed; SIGCONT to member ${paused}`);
    await docker(['kill', '--signal', 'SIGCONT', get(containers, paused)]);
    await writer.progressed(writer.acked.length, 50, 'writes with all three back', 30_000);
  } finally {
    await writer.stop();
    await client.close();
  }
  say(`${writer.acked.length} writes acknowledged; not acknowledged: ${writer.describeFailures()}`);
  await converged();
  await saveState({ acked: writer.acked });
  await verifyEverywhere(writer.acked);
}

async function durable(): Promise<void> {
  const { acked } = await loadState();
  check(acked.length > 0, 'the chaos phase acknowledged no writes');
  await leader(ids, 60_000);
  await converged();
  await verifyEverywhere(acked);
}

async function handover(): Promise<void> {
  const { id: stopped, term } = await leader(ids);
  const followers = ids.filter((id) => id !== stopped);
  // Writes through the followers (they forward to the leader): what is measured is the cluster's
  // handover, not the SDK's move away from a node that goes down.
  const client = await connect({ endpoints: followers.map(endpoint), requestTimeoutMs: writeTimeoutMs });
  const writer = new Writer(client, 'handover');
  let stopMs = 0;
  let stopStartedMs = 0;
  try {
    await writer.progressed(0, 50, 'the first writes', 20_000);
    // docker logs --since takes a Unix time; Docker stamps the lines with the host's clock.
    const since = (Date.now() / 1000).toFixed(3);
    say(`docker stop of the leader, member ${stopped}, at term ${term}`);
    stopStartedMs = performance.now();
    await docker(['stop', get(containers, stopped)], 20_000);
    stopMs = performance.now() - stopStartedMs;
    const exitCode = await docker(['inspect', '-f', '{{.State.ExitCode}}', get(containers, stopped)]);
    check(exitCode === '0', `the stopped leader exited with ${exitCode}, not 0 (SIGTERM not handled in time?)`);
    const stoppedLog = await docker(['logs', '--since', since, get(containers, stopped)]);
    check(/"msg":"shutting down"/.test(stoppedLog) && /"msg":"stopped"/.test(stoppedLog), `the stopped leader did not log a graceful shutdown:\n${stoppedLog}`);

    const next = await leader(followers, 10_000);
    check(next.term === term + 1, `the new leader ${next.id} is at term ${next.term}, not ${term + 1}: leadership was not handed over`);
    for (const id of followers) {
      const log = await docker(['logs', '--since', since, get(containers, id)]);
      check(!/"role":"preCandidate"/.test(log), `member ${id} went through pre-vote after the stop (an election timeout):\n${log}`);
    }
    await writer.progressed(writer.acked.length, 50, 'writes after the handover', 20_000);
    say(`member ${next.id} leads at term ${next.term} without an election timeout; the old leader exited 0`);
  } finally {
    await writer.stop();
    await client.close();
  }
  // The longest stretch without an acknowledgement around the stop.
  let gapMs = 0;
  for (let i = 1; i < writer.ackedAtMs.length; i++) {
    const previous = writer.ackedAtMs[i - 1]!;
    if (previous >= stopStartedMs - 1_000) gapMs = Math.max(gapMs, writer.ackedAtMs[i]! - previous);
  }
  say(`docker stop took ${Math.round(stopMs)} ms; writes paused at most ${Math.round(gapMs)} ms (election timeout ≥ ${electionTimeoutMinMs} ms); not acknowledged: ${writer.describeFailures()}`);
  check(stopMs < 10_000, `docker stop took ${Math.round(stopMs)} ms: the node outlived Docker's grace period`);
}

async function tls(): Promise<void> {
  const ca = await readFile(requiredEnv('VIGIL_E2E_CA'));
  const startedMs = performance.now();
  await waitFor('all three containers healthy (HEALTHCHECK on /readyz over HTTPS)', async () => {
    const health = await Promise.all(ids.map((id) => docker(['inspect', '-f', '{{.State.Health.Status}}', get(containers, id)])));
    return health.every((h) => h === 'healthy') ? true : undefined;
  }, 60_000, 500);
  say(`healthy over HTTPS after ${Math.round(performance.now() - startedMs)} ms`);
  const { acked } = await loadState();
  const secure = (id: number): string => `wss://127.0.0.1:${get(ports, id)}`;
  for (const id of ids) {
    const client = await connect({ endpoints: [secure(id)], connectTimeoutMs: 10_000, tls: { ca } });
    try {
      await client.sync({ timeoutMs: 10_000 });
      const { names } = await client.children('/e2e', { consistency: 'sequential', timeoutMs: 30_000 });
      const present = new Set(names);
      const missing = acked.filter((path) => !present.has(path.slice('/e2e/'.length)));
      check(missing.length === 0, `member ${id} over WSS lacks ${missing.length} acknowledged writes`);
      if (id === 1) await client.create('/e2e-tls', 'over wss');
    } finally {
      await client.close();
    }
  }
  say(`every member answered over WSS with all ${acked.length} acknowledged writes`);
  const refused = await connect({ endpoints: ids.map(secure), connectTimeoutMs: 3_000 }).then(
    async (client) => (await client.close(), false),
    () => true,
  );
  check(refused, 'a client without the CA opened a session');
}

const phases: Record<string, () => Promise<void>> = { form, chaos, durable, handover, tls };
const run = phases[phase];
if (run === undefined) {
  process.stderr.write(`usage: e2e-driver.ts ${Object.keys(phases).join('|')}\n`);
  process.exit(2);
}
const watchdog = setTimeout(() => {
  process.stderr.write(`phase ${phase} did not finish within ${phaseTimeoutMs} ms\n`);
  process.exit(1);
}, phaseTimeoutMs);
watchdog.unref();
try {
  await run();
} catch (err) {
  process.stderr.write(`phase ${phase} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
clearTimeout(watchdog);
