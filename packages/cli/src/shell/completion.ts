import type { Command } from 'commander';
import { splitLine } from './split-line.js';

/** What completion needs: the shell's commands, and the children of a node (live from the cluster). */
export interface CompletionSource {
  readonly program: Command;
  listChildren(path: string): Promise<readonly string[]>;
}

/**
 * Completes the word before the cursor: a command (or subcommand) name, a flag of the command
 * being typed, or a znode path where the command takes one (the children of the path's parent,
 * listed from the cluster). Returns readline's `[completions, word being completed]`.
 */
export async function completeLine(line: string, source: CompletionSource): Promise<[string[], string]> {
  const { words, endsInWord, openQuote } = splitLine(line);
  if (openQuote) return [[], ''];
  const current = endsInWord ? words.pop()! : '';
  const names = (c: Command): string[] => c.commands.flatMap((sub) => [sub.name(), ...sub.aliases()]);
  const match = (candidates: readonly string[]): [string[], string] => [[...new Set(candidates.filter((c) => c.startsWith(current)))].sort(), current];

  if (words.length === 0) return match(names(source.program));
  // `help get` completes like the command word.
  if (words[0] === 'help') return words.length === 1 ? match(names(source.program)) : [[], current];

  // Descend through the command words (`member add`, `snapshot save`).
  let command = source.program;
  let at = 0;
  for (; at < words.length; at++) {
    const sub = command.commands.find((c) => c.name() === words[at] || c.aliases().includes(words[at]!));
    if (sub === undefined) break;
    command = sub;
  }
  if (command === source.program) return [[], current];
  if (command.commands.length > 0) return at === words.length ? match(names(command)) : [[], current];
  const takesValue = (word: string | undefined): boolean => {
    const option = command.options.find((o) => o.long === word || o.short === word);
    return option !== undefined && (option.required || option.optional);
  };
  if (current.startsWith('-')) {
    return match(command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)));
  }
  if (takesValue(words[words.length - 1])) return [[], current];

  let operands = 0;
  for (let i = at; i < words.length; i++) {
    if (!words[i]!.startsWith('-')) operands++;
    else if (takesValue(words[i])) i++;
  }
  const argument = command.registeredArguments[operands];
  if (argument?.name() !== 'path' || (current !== '' && !current.startsWith('/'))) return [[], current];
  const slash = current.lastIndexOf('/');
  const parent = slash <= 0 ? '/' : current.slice(0, slash);
  const prefix = current.slice(slash + 1);
  const base = parent === '/' ? '/' : `${parent}/`;
  const hits = (await source.listChildren(parent)).filter((name) => name.startsWith(prefix)).map((name) => `${base}${name}`);
  // A path typed in full goes on to its children, as a directory would.
  if (hits.length === 1 && hits[0] === current && current !== '/') {
    const below = (await source.listChildren(current)).map((name) => `${current}/${name}`);
    if (below.length > 0) return match(below);
  }
  return match(hits);
}
