import { ESLint } from 'eslint';
import { describe, expect, test } from 'vitest';

/** The lint step is what holds docs/design.md and §3; prove that it really rejects violations. */
const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.map((m) => m.ruleId ?? m.message);
}

describe('lint boundaries', () => {
  const raftFile = 'packages/raft/src/lint-probe.ts';

  test.each([
    ['Math.random', 'export const x = Math.random();\n', 'no-restricted-properties'],
    ['Date', 'export const x = Date.now();\n', 'no-restricted-globals'],
    ['timers', 'export const x = setTimeout(() => undefined, 1);\n', 'no-restricted-globals'],
    ['performance', 'export const x = performance.now();\n', 'no-restricted-globals'],
    ['node I/O', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", 'no-restricted-imports'],
  ])('the Raft core may not use %s', async (_name, code, rule) => {
    expect(await ruleIds(code, raftFile)).toContain(rule);
  });

  test('imports against the layering are rejected', async () => {
    expect(await ruleIds("import { x } from '@vigil/server';\nexport const y = x;\n", 'packages/store/src/lint-probe.ts')).toContain('no-restricted-imports');
    expect(await ruleIds("import { x } from '@vigil/sim';\nexport const y = x;\n", 'packages/raft/src/lint-probe.ts')).toContain('no-restricted-imports');
  });

  test('recipes may use only the SDK\'s public API', async () => {
    const recipe = 'packages/client/src/recipes/lint-probe.ts';
    expect(await ruleIds("import { Session } from '../session.js';\nexport const y = Session;\n", recipe)).toContain('no-restricted-imports');
    expect(await ruleIds("import { encodeFrame } from '@vigil/protocol';\nexport const y = encodeFrame;\n", recipe)).toContain('no-restricted-imports');
    expect(await ruleIds("import { connect } from '../index.js';\nexport const y = connect;\n", recipe)).toEqual([]);
    expect(await ruleIds("import { Lock } from './lock.js';\nexport const y = Lock;\n", recipe)).toEqual([]);
  });

  test('allowed imports pass', async () => {
    expect(await ruleIds("import { RawNode } from '@vigil/raft';\nexport const y = RawNode;\n", 'packages/sim/src/lint-probe.ts')).toEqual([]);
  });
});
