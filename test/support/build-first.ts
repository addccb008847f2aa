// Vitest global setup: the tests that start real servers run the compiled code in dist/, so a run
// of any test file first brings dist/ up to date with the sources (`tsc -b`, about a second when
// nothing changed). Without it, `npx vitest run test/x.test.ts` after an edit would silently test
// the previous build.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const tsc = fileURLToPath(new URL('../../node_modules/.bin/tsc', import.meta.url));
  try {
    execFileSync(tsc, ['-b'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const output = (err as { stdout?: Buffer }).stdout?.toString() ?? String(err);
    throw new Error(`the build (tsc -b) failed, so dist/ would be stale; fix it first:\n${output}`);
  }
}
