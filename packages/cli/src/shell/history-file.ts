import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Lines of history kept, in memory and in the file. */
export const historyLinesMax = 1000;
/** A longer history file is not ours, or is damaged: only its end is read. */
const historyFileBytesMax = 1024 * 1024;

export const historyFileName = '.vigil_history';
export const historyEnv = 'VIGIL_HISTORY';

/** `VIGIL_HISTORY` (empty: no history file), else `~/.vigil_history`, else none. */
export function historyPath(env: Readonly<Record<string, string | undefined>>, homeDir: string | undefined): string | null {
  const named = env[historyEnv];
  if (named !== undefined) return named === '' ? null : named;
  return homeDir === undefined ? null : join(homeDir, historyFileName);
}

/** The saved lines, newest first (as readline wants them); none if the file is missing or unreadable. */
export async function loadHistory(path: string): Promise<string[]> {
  let text: string;
  try {
    const bytes = await readFile(path);
    text = bytes.subarray(Math.max(0, bytes.length - historyFileBytesMax)).toString('utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.trim().length > 0).slice(-historyLinesMax).reverse();
}

/**
 * Writes the history (newest first, as readline keeps it) oldest first, one line each, readable by
 * the user only (lines may hold data). Replaces the file atomically; writes run one at a time.
 */
export function historyWriter(path: string): { save(lines: readonly string[]): void; flush(): Promise<void> } {
  let chain: Promise<void> = Promise.resolve();
  let latest: readonly string[] | null = null;
  return {
    save(lines) {
      latest = lines;
      chain = chain.then(async () => {
        if (latest === null) return;
        const text = `${[...latest.slice(0, historyLinesMax)].reverse().join('\n')}\n`;
        latest = null;
        const tmp = `${path}.${process.pid}.tmp`;
        try {
          await writeFile(tmp, text, { mode: 0o600 });
          await rename(tmp, path);
        } catch {
          // History is a convenience: a read-only home must not break the shell.
        }
      });
    },
    flush: () => chain,
  };
}
