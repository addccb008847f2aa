// npm run test:mutants -- [name …]
// Proves that the tests guard what they claim: each mutation in scripts/mutants/*.json (a bug put
// in on purpose: a dropped fsync, a skipped read gate, an early expiry, …) is applied to a scratch
// copy of the repository, the copy is built, and the tests named for it must FAIL. A mutation the
// tests do not catch ("survived") fails this script. docs/testing.md, "Mutation checks".
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Mutant {
  /** Short id, unique over every file. */
  readonly name: string;
  /** Repository-relative source file. */
  readonly file: string;
  /** Exact text, occurring exactly once in `file`. */
  readonly find: string;
  readonly replace: string;
  /** Repository-relative test files, at least one of which must fail with the mutation. */
  readonly tests: readonly string[];
  /** What the mutation breaks, in a sentence. */
  readonly why: string;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const here = join(root, 'scripts/mutants');

function loadMutants(): Mutant[] {
  const all: Mutant[] = [];
  for (const f of readdirSync(here).filter((n) => n.endsWith('.json')).sort()) {
    const list = JSON.parse(readFileSync(join(here, f), 'utf8')) as Mutant[];
    for (const m of list) {
      for (const key of ['name', 'file', 'find', 'replace', 'why'] as const) {
        if (typeof m[key] !== 'string') throw new Error(`${f}: mutant ${m.name ?? '?'}: "${key}" is not a string`);
      }
      if (!Array.isArray(m.tests) || m.tests.length === 0) throw new Error(`${f}: mutant ${m.name}: no tests`);
      all.push(m);
    }
  }
  const names = new Set<string>();
  for (const m of all) {
    if (names.has(m.name)) throw new Error(`mutant name ${m.name} is used twice`);
    names.add(m.name);
  }
  return all;
}

function run(cwd: string, command: string, args: readonly string[]): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
  // eslint-disable-next-line no-control-regex
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '') };
}

const wanted = new Set(process.argv.slice(2));
const mutants = loadMutants().filter((m) => wanted.size === 0 || wanted.has(m.name));
for (const w of wanted) if (!mutants.some((m) => m.name === w)) throw new Error(`no mutant named ${w}`);

// Every mutation must apply to the sources as they are, before anything is copied or built.
for (const m of mutants) {
  const text = readFileSync(join(root, m.file), 'utf8');
  const at = text.indexOf(m.find);
  if (at < 0 || text.indexOf(m.find, at + 1) >= 0) throw new Error(`mutant ${m.name}: its text occurs ${at < 0 ? 'nowhere' : 'more than once'} in ${m.file}`);
}

// One scratch copy (node_modules included: the workspace links are relative, so they point into
// the copy), reused: each mutation is applied, built, tested and reverted in turn.
const scratch = mkdtempSync(join(tmpdir(), 'vigil-mutants-'));
process.stdout.write(`scratch copy: ${scratch}\n`);
cpSync(root, scratch, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.startsWith(join(root, '.git')) });
const tsc = join(scratch, 'node_modules/.bin/tsc');
const vitest = join(scratch, 'node_modules/.bin/vitest');

const results: { name: string; caught: boolean; seconds: number; detail: string }[] = [];
try {
  const base = run(scratch, tsc, ['-b']);
  if (!base.ok) throw new Error(`the unmutated copy does not build:\n${base.output}`);
  for (const m of mutants) {
    const started = performance.now();
    const path = join(scratch, m.file);
    const original = readFileSync(path, 'utf8');
    const at = original.indexOf(m.find);
    if (at < 0 || original.indexOf(m.find, at + 1) >= 0) throw new Error(`mutant ${m.name}: its text occurs ${at < 0 ? 'nowhere' : 'more than once'} in ${m.file}`);
    writeFileSync(path, original.slice(0, at) + m.replace + original.slice(at + m.find.length));
    let caught: boolean;
    let detail: string;
    try {
      const build = run(scratch, tsc, ['-b']);
      if (!build.ok) {
        // A mutation that does not compile proves nothing about the tests.
        throw new Error(`mutant ${m.name} does not compile:\n${build.output}`);
      }
      const test = run(scratch, vitest, ['run', ...m.tests]);
      caught = !test.ok;
      const summary = test.output.split('\n').filter((l) => /Tests\s+\d|FAIL|×/.test(l)).slice(0, 4).map((l) => l.trim());
      detail = summary.join(' | ');
    } finally {
      writeFileSync(path, original);
    }
    const seconds = (performance.now() - started) / 1000;
    results.push({ name: m.name, caught, seconds, detail });
    process.stdout.write(`${caught ? 'caught  ' : 'SURVIVED'} ${m.name} (${seconds.toFixed(0)} s): ${m.why}\n         ${detail}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const survived = results.filter((r) => !r.caught);
process.stdout.write(`${results.length - survived.length} of ${results.length} mutants caught${survived.length > 0 ? `; survived: ${survived.map((r) => r.name).join(', ')}` : ''}\n`);
process.exit(survived.length === 0 ? 0 : 1);
