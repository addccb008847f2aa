// npm run test:faults -- [--time 60] [--seed N] [--members 3|5] [--faults kill,pause,…]
//                        [--known-bad stale-reads,early-ack,keep-ephemerals] [--out DIR] [--availability]
// A fault run against real members in network namespaces (root only): prints each fault, the
// checks and the availability figures; exits 1 on any violation. docs/testing.md.
import { parseArgs } from 'node:util';
import { faultSuiteUnavailable } from './net.js';
import { faultKinds, type FaultKind } from './nemesis.js';
import { knownBugs, runFaults, type KnownBug } from './suite.js';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '60' },
    seed: { type: 'string' },
    members: { type: 'string', default: '3' },
    faults: { type: 'string' },
    'known-bad': { type: 'string' },
    out: { type: 'string' },
    availability: { type: 'boolean', default: false },
  },
});

function list<T extends string>(text: string | undefined, allowed: readonly T[], what: string): T[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const item of items) if (!(allowed as readonly string[]).includes(item)) usage(`unknown ${what} "${item}" (one of ${allowed.join(', ')})`);
  return items as T[];
}

function usage(message: string): never {
  process.stderr.write(`test:faults: ${message}\n`);
  process.exit(2);
}

const unavailable = await faultSuiteUnavailable();
if (unavailable !== undefined) usage(`cannot run here: ${unavailable}`);

const timeS = Number(values.time);
if (!(timeS > 0)) usage(`--time: seconds > 0, not ${values.time}`);
const members = Number(values.members);
if (members !== 3 && members !== 5) usage(`--members: 3 or 5, not ${values.members}`);
const seed = values.seed === undefined ? Math.floor(Math.random() * 1_000_000) : Number(values.seed);
if (!Number.isSafeInteger(seed) || seed < 0) usage(`--seed: an integer ≥ 0, not ${values.seed}`);
// The availability run: the leader killed or isolated every 10 s, nothing else.
const faults: FaultKind[] = values.availability ? ['isolate-leader', 'kill-leader'] : list(values.faults, faultKinds, 'fault') ?? [...faultKinds];
const knownBad = list(values['known-bad'], knownBugs, 'known-bad bug') ?? [];

process.stdout.write(`fault run: seed ${seed}, ${members} members, ${timeS} s, faults ${faults.join(',')}${knownBad.length > 0 ? `, KNOWN-BAD ${knownBad.join(',')}` : ''}\n`);
const report = await runFaults({
  members,
  timeMs: timeS * 1000,
  seed,
  faults,
  faultMs: values.availability ? [1_500, 1_500] : [2_000, 5_000],
  quietMs: values.availability ? [8_500, 8_500] : [1_000, 3_000],
  knownBad: knownBad as KnownBug[],
  ...(values.out !== undefined ? { outDir: values.out } : {}),
  log: (line) => process.stdout.write(`  ${line}\n`),
});
for (const c of report.checks) process.stdout.write(`${c.valid ? 'ok  ' : 'FAIL'} ${c.name}: ${c.summary}\n`);
const a = report.availability;
process.stdout.write(
  `register ops ${a.ops} (clients that move between members); all by kind, pinned and sequential reads included: (${Object.entries(report.opCounts).map(([k, v]) => `${k} ${v}`).join(', ')})\n` +
    `faults ${report.faults.length}; answered within 2 s ${(a.within2sFraction * 100).toFixed(3)} %; p50 ${a.latencyP50Ms.toFixed(1)} ms, p99 ${a.latencyP99Ms.toFixed(1)} ms; longest gap ${a.longestGapMs.toFixed(0)} ms\n`,
);
for (const v of report.violations) process.stdout.write(`VIOLATION ${v}\n`);
const replay = [
  `--seed ${seed} --time ${timeS} --members ${members}`,
  values.availability ? '--availability' : values.faults !== undefined ? `--faults ${values.faults}` : '',
  knownBad.length > 0 ? `--known-bad ${knownBad.join(',')}` : '',
].filter((p) => p !== '').join(' ');
process.stdout.write(`${report.violations.length} violations (replay: npm run test:faults -- ${replay})\n`);
process.exit(report.violations.length === 0 ? 0 : 1);
