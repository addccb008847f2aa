/**
 * The recipe workloads, identical for every system (recipes.ts runs them): lock cycles per second
 * under contention, and election handover — after a resignation, in this process, and after
 * kill -9 of the leading candidate's process, in child processes (recipe-candidate.ts).
 */
import type { ChildProcess } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LatencyRecorder, type LatencySummary, median, nowMs } from './latency.js';
import { killHard, sleep, spawnLogged, withDeadline } from './processes.js';
import type { Candidate, RecipeSession, RecipeSessionOptions } from './recipe-clients.js';

/** A contender still in its cycle this long after the step's end counts as stuck. */
const lockDrainDeadlineMs = 30_000;
/** Listeners one waiting contender's recipe may hang on the step's stop signal at once. */
const abortListenersPerContenderMax = 8;
/** Bound on one resignation's handover (it takes milliseconds). */
const resignDeadlineMs = 10_000;
/** Unmeasured resignations before the measured ones. */
export const resignWarmupRounds = 2;
/** Bound on a wait for the queue to reach its expected size (session expiries included). */
const queueDeadlineMs = 30_000;
const queuePollEveryMs = 5;
/** Bound on a candidate process's start (node, tsx, connect). */
const candidateStartDeadlineMs = 30_000;
/** Bound on a handover after a kill, in session timeouts. */
const killHandoverTimeoutsMax = 10;

export interface StepTiming {
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface LockStepResult {
  contenders: number;
  cyclesPerSecond: number;
  /** One cycle: acquire, the wait included, then release. */
  cycle: LatencySummary;
  errors: number;
  firstError?: string;
}

/**
 * Each of `contenders` sessions acquires and releases the lock at `path` in a loop, holding it for
 * no time. Throughput counts cycles that end inside the measured window; latency, those that also
 * begin inside it. At the end the waiters abort (and leave the queue).
 */
export async function lockStep(options: { sessions: readonly RecipeSession[]; contenders: number; path: string; timing: StepTiming }): Promise<LockStepResult> {
  const { contenders, timing } = options;
  if (options.sessions.length < contenders) throw new Error(`${contenders} contenders need as many sessions, not ${options.sessions.length}`);
  const recorder = new LatencyRecorder();
  const measureFrom = nowMs() + timing.warmupMs;
  const measureTo = measureFrom + timing.measureMs;
  const stop = new AbortController();
  // Every waiting contender listens on it (a few listeners each, removed when its wait ends).
  setMaxListeners(Math.max(10, abortListenersPerContenderMax * contenders), stop.signal);
  const stopTimer = setTimeout(() => stop.abort(new Error('the step ended')), measureTo - nowMs());
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const failed = (err: unknown, issued: number): void => {
    if (issued >= measureFrom) errors++;
    firstError ??= String(err);
  };
  try {
    const loops = options.sessions.slice(0, contenders).map(async (session) => {
      const mutex = session.mutex(options.path);
      while (nowMs() < measureTo) {
        const issued = nowMs();
        try {
          await mutex.acquire(stop.signal);
        } catch (err) {
          if (stop.signal.aborted) return;
          failed(err, issued);
          await sleep(10);
          continue;
        }
        try {
          await mutex.release();
        } catch (err) {
          failed(err, issued);
          continue;
        }
        const done = nowMs();
        if (issued >= measureFrom && done <= measureTo) recorder.record(done - issued);
        if (done >= measureFrom && done <= measureTo) completed++;
      }
    });
    await withDeadline(Promise.all(loops), timing.warmupMs + timing.measureMs + lockDrainDeadlineMs, `lock step with ${contenders} contenders`);
  } finally {
    clearTimeout(stopTimer);
    stop.abort();
  }
  return {
    contenders,
    cyclesPerSecond: completed / (timing.measureMs / 1000),
    cycle: recorder.summary(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
}

/**
 * Polls until `count` participants queue under `path` (as `observer` sees it). A failed read (a
 * connection lost on a loaded machine) is tried again until the deadline.
 */
export async function waitForQueue(observer: RecipeSession, path: string, count: number, deadlineMs = queueDeadlineMs): Promise<void> {
  const deadline = nowMs() + deadlineMs;
  let seen: number | string = 'no answer';
  while (nowMs() < deadline) {
    try {
      seen = await withDeadline(observer.participants(path), deadlineMs, `participants of ${path}`);
      if (seen === count) return;
    } catch (err) {
      seen = String(err);
    }
    await sleep(queuePollEveryMs);
  }
  throw new Error(`${path}: not ${count} participants after ${deadlineMs} ms (last: ${seen})`);
}

export interface HandoverResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  allMs: number[];
}

/**
 * One candidate per session campaigns at `path`; the leader resigns and the time runs until the
 * next candidate's campaign resolves in this process. The resigned candidate then campaigns
 * again, at the back of the queue, so that every round has the same number of standbys.
 */
export async function resignHandover(options: { sessions: readonly RecipeSession[]; observer: RecipeSession; path: string; rounds: number }): Promise<HandoverResult> {
  const { path } = options;
  const candidates: Candidate[] = options.sessions.map((s, i) => s.candidate(path, `c${i}`));
  const elected: { index: number; atMs: number }[] = [];
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  const campaign = (index: number): void => {
    candidates[index]!.campaign().then(
      () => {
        elected.push({ index, atMs: nowMs() });
        wake?.();
      },
      (err: unknown) => {
        failure ??= err;
        wake?.();
      },
    );
  };
  const nextElected = async (): Promise<{ index: number; atMs: number }> => {
    const deadline = nowMs() + resignDeadlineMs;
    while (elected.length === 0) {
      if (failure !== null) throw failure instanceof Error ? failure : new Error(String(failure));
      if (nowMs() > deadline) throw new Error(`${path}: no candidate elected within ${resignDeadlineMs} ms`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
      wake = null;
    }
    return elected.shift()!;
  };
  const samples: number[] = [];
  try {
    candidates.forEach((_, i) => campaign(i));
    let leader = (await nextElected()).index;
    for (let round = 0; round < resignWarmupRounds + options.rounds; round++) {
      await waitForQueue(options.observer, path, candidates.length);
      await sleep(20);
      const resignedAt = nowMs();
      const resigned = candidates[leader]!.resign();
      const next = await nextElected();
      await resigned;
      if (next.index === leader) throw new Error(`${path}: the resigned candidate was elected again`);
      if (round >= resignWarmupRounds) samples.push(next.atMs - resignedAt);
      campaign(leader);
      leader = next.index;
    }
  } finally {
    await Promise.all(candidates.map((c) => c.resign().catch(() => undefined)));
  }
  const recorder = new LatencyRecorder();
  for (const s of samples) recorder.record(s);
  const summary = recorder.summary();
  return { p50Ms: summary.p50Ms, p99Ms: summary.p99Ms, maxMs: summary.maxMs, allMs: samples };
}

// ---- kill -9 of the leading process ----

/** The child's settings, in this environment variable as JSON. */
export const candidateSettingsEnv = 'VIGIL_BENCH_CANDIDATE';

export interface CandidateSettings extends RecipeSessionOptions {
  readonly path: string;
  readonly id: string;
}

/** What a candidate process tells its parent over IPC. `atMs` is `nowMs()`: CLOCK_MONOTONIC, the same clock in every process. */
export type CandidateMessage =
  | { readonly type: 'ready'; readonly grantedTimeoutMs: number }
  | { readonly type: 'leading'; readonly atMs: number }
  | { readonly type: 'failed'; readonly error: string };

const candidateScript = fileURLToPath(new URL('./recipe-candidate.ts', import.meta.url));

interface CandidateProcess {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly ready: Promise<number>;
  readonly leading: Promise<{ id: string; atMs: number }>;
}

function spawnCandidate(settings: CandidateSettings, logDir: string): CandidateProcess {
  const proc = spawnLogged({
    command: process.execPath,
    args: ['--import', 'tsx', candidateScript],
    logPath: join(logDir, `candidate-${settings.id}.log`),
    env: { ...process.env, [candidateSettingsEnv]: JSON.stringify(settings) },
    ipc: true,
  });
  const messages = (type: CandidateMessage['type']): Promise<CandidateMessage> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: CandidateMessage): void => {
        if (m.type === type) resolve(m);
        else if (m.type === 'failed') reject(new Error(`candidate ${settings.id}: ${m.error}`));
      };
      proc.on('message', onMessage);
      proc.once('exit', (code, signal) => reject(new Error(`candidate ${settings.id} exited (${signal ?? code}) before '${type}'`)));
    });
  const ready = messages('ready').then((m) => (m.type === 'ready' ? m.grantedTimeoutMs : Number.NaN));
  const leading = messages('leading').then((m) => ({ id: settings.id, atMs: m.type === 'leading' ? m.atMs : Number.NaN }));
  // Rejections are looked at only for the candidates that matter; the others' are expected (killed).
  ready.catch(() => undefined);
  leading.catch(() => undefined);
  return { id: settings.id, proc, ready, leading };
}

export interface KillHandoverResult {
  /** Per kill: kill -9 of the leader's process → another candidate's campaign resolves, ms. */
  allMs: number[];
  medianMs: number;
  /** What the cluster granted the candidates (session timeout or lease TTL), ms. */
  grantedTimeoutMs: number;
}

/**
 * `kills + standbys` processes campaign at `path`, each with its own session of timeout
 * `timeoutMs`, all started at once (a process start takes seconds on a loaded machine); `kills`
 * times: SIGKILL the leader's process and time until another candidate leads (it learns so when
 * the dead session's node goes: after the session timeout / lease TTL). The last kill still
 * finds `standbys` candidates behind the leader. Every child is SIGKILLed at the end.
 */
export async function killHandover(options: {
  session: Omit<RecipeSessionOptions, 'endpoints'>;
  endpoints: (member: number) => readonly string[];
  observer: RecipeSession;
  path: string;
  standbys: number;
  kills: number;
  logDir: string;
}): Promise<KillHandoverResult> {
  const { path } = options;
  const live: CandidateProcess[] = Array.from({ length: options.kills + options.standbys }, (_, n) =>
    spawnCandidate({ ...options.session, endpoints: options.endpoints(n % 3), path, id: `p${n}` }, options.logDir));
  const allMs: number[] = [];
  const granted = new Set<number>();
  try {
    for (const c of live) granted.add(await withDeadline(c.ready, candidateStartDeadlineMs, `candidate ${c.id} start`));
    const handoverDeadlineMs = killHandoverTimeoutsMax * options.session.timeoutMs;
    let leader = await withDeadline(Promise.race(live.map((c) => c.leading)), handoverDeadlineMs, 'a first leader');
    for (let kill = 0; kill < options.kills; kill++) {
      await waitForQueue(options.observer, path, live.length);
      const victim = live.find((c) => c.id === leader.id)!;
      live.splice(live.indexOf(victim), 1);
      const killedAt = nowMs();
      await killHard(victim.proc);
      leader = await withDeadline(Promise.race(live.map((c) => c.leading)), handoverDeadlineMs, `a leader after kill -9 of ${victim.id}`);
      allMs.push(leader.atMs - killedAt);
    }
  } finally {
    await Promise.all(live.map((c) => killHard(c.proc)));
  }
  if (granted.size !== 1) throw new Error(`${path}: candidates were granted different timeouts: ${[...granted].join(', ')} ms`);
  return { allMs, medianMs: median(allMs), grantedTimeoutMs: [...granted][0]! };
}
