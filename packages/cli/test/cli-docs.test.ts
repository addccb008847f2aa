import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/program.js';
import { exitCodeMeanings } from '../src/exit-codes.js';

/** docs/cli.md is the manual: it must name every command, every flag and every exit status the program has. */
const manual = readFileSync(fileURLToPath(new URL('../../../docs/cli.md', import.meta.url)), 'utf8');
const program = buildProgram({ stdout: () => undefined, stderr: () => undefined, env: {}, runServer: async () => 0 });
/** Documented once, in §1, for every command. */
const common = new Set(['--endpoints', '--timeout-ms', '--user', '--secret-file', '--json', '--help']);

function leaves(command: Command, path: string[] = []): { path: string; command: Command }[] {
  return command.commands.flatMap((c) => (c.commands.length > 0 ? leaves(c, [...path, c.name()]) : [{ path: [...path, c.name()].join(' '), command: c }]));
}

/** The text of `### \`name\`` up to the next heading. */
function section(name: string): string | undefined {
  const start = manual.indexOf(`### \`${name}\`\n`);
  if (start < 0) return undefined;
  const rest = manual.slice(start + 5);
  const end = rest.search(/\n#{2,3} /);
  return end < 0 ? rest : rest.slice(0, end);
}

describe('docs/cli.md', () => {
  const commands = leaves(program).filter((c) => !['server', 'shell', 'help'].includes(c.path));

  it.each(commands.map((c) => [c.path, c.command] as const))('documents `%s` with its usage and every flag', (path, command) => {
    const text = section(path);
    expect(text, `no section ### \`${path}\``).toBeDefined();
    expect(text).toContain(`\`vigil ${path}`);
    for (const option of command.options) {
      if (option.long === undefined || common.has(option.long)) continue;
      expect(text, `${path} ${option.long}`).toContain(option.long);
      if (option.short !== undefined) expect(text, `${path} ${option.short}`).toContain(`\`${option.short}\``);
    }
    for (const argument of command.registeredArguments) expect(text).toMatch(new RegExp(`[<\\[]${argument.name()}[>\\]]`));
  });

  it('documents the common flags, the shell, and every exit status with its number', () => {
    for (const flag of ['--endpoints <list>', '--timeout-ms <ms>', '--user <name>', '--secret-file <file>', '--json']) expect(manual).toContain(`\`${flag}\``);
    expect(manual).toContain('## 2. The shell');
    for (const [code] of exitCodeMeanings) expect(manual).toMatch(new RegExp(`\\n\\| ${code} \\| `));
  });
});
