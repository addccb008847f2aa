/**
 * One election candidate in its own process, for the kill -9 handover of recipes.ts: the parent
 * kills the leading candidate's process and times how long the next one takes to learn it leads.
 *
 * Started by recipe-workloads.ts with `node --import tsx`, an IPC channel, and its settings as JSON
 * in VIGIL_BENCH_CANDIDATE. Opens one session, reports 'ready' with the timeout the cluster granted,
 * campaigns, reports 'leading' with the time on the shared monotonic clock, and then holds on
 * until killed. Exits when the parent goes away (the IPC channel closes), so a benchmark that dies
 * leaves no candidate behind.
 */
import { nowMs } from './latency.js';
import { openRecipeSession } from './recipe-clients.js';
import { type CandidateMessage, type CandidateSettings, candidateSettingsEnv } from './recipe-workloads.js';

function send(message: CandidateMessage): void {
  process.send?.(message);
}

process.on('disconnect', () => process.exit(0));

const raw = process.env[candidateSettingsEnv];
if (raw === undefined || process.send === undefined) throw new Error(`recipe-candidate: start it with an IPC channel and ${candidateSettingsEnv}`);
const settings = JSON.parse(raw) as CandidateSettings;

try {
  const session = await openRecipeSession(settings);
  send({ type: 'ready', grantedTimeoutMs: await session.grantedTimeoutMs() });
  await session.candidate(settings.path, settings.id).campaign();
  send({ type: 'leading', atMs: nowMs() });
} catch (err) {
  const failed: CandidateMessage = { type: 'failed', error: err instanceof Error ? err.stack ?? err.message : String(err) };
  process.send(failed, () => process.exit(1));
}
