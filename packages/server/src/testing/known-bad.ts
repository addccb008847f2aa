/**
 * The known-bad switch: deliberate bugs that the fault suite (scripts/faults, docs/testing.md)
 * must catch every time, to prove it can fail. Test-only: set through the environment variable
 * below by the fault runner, never by a configuration file or flag, and logged at `error` level
 * when on. Each bug breaks one guarantee users rely on.
 */
export const knownBadEnv = 'VIGIL_KNOWN_BAD';

export const knownBugs = {
  /** Linearizable reads answered from the local store without a ReadIndex round (stale reads). */
  'stale-reads': 'linearizable reads served locally without confirming leadership or catching up',
  /** The leader commits (and answers) an entry as soon as it has appended it, before a majority has it durable. */
  'early-ack': 'writes acknowledged before a majority made them durable',
  /** Sessions never expire, so a crashed client's ephemerals stay forever. */
  'keep-ephemerals': 'ephemerals not deleted when their session expires',
} as const;

export type KnownBug = keyof typeof knownBugs;

/** The bugs named (comma-separated) in `VIGIL_KNOWN_BAD`; an unknown name is an error, not ignored. */
export function knownBadFromEnv(env: Readonly<Record<string, string | undefined>>): ReadonlySet<KnownBug> {
  const text = env[knownBadEnv];
  if (text === undefined || text.trim() === '') return new Set();
  const bugs = new Set<KnownBug>();
  for (const name of text.split(',').map((s) => s.trim())) {
    if (!Object.prototype.hasOwnProperty.call(knownBugs, name)) throw new Error(`${knownBadEnv}: unknown bug "${name}" (known: ${Object.keys(knownBugs).join(', ')})`);
    bugs.add(name as KnownBug);
  }
  return bugs;
}
