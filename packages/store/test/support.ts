import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Applied, type Command, type Entry, type Store } from '../src/index.js';

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A temp directory removed by the returned cleanup. */
export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'vigil-store-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A store in a fresh temp directory, plus a driver that numbers entries and stamps times. */
export async function scratchStore(): Promise<{
  store: Store;
  path: string;
  run: (command: Command, timeMs?: number) => Promise<Applied>;
  dispose: () => Promise<void>;
}> {
  const dir = await tempDir();
  const store = await openStore({ path: dir.path });
  let clockMs = 1_000;
  const run = async (command: Command, timeMs?: number): Promise<Applied> => {
    clockMs = timeMs ?? clockMs + 1;
    const entry: Entry = { index: store.appliedIndex + 1, timeMs: clockMs, command };
    const [applied] = await store.apply([entry]);
    if (applied === undefined) throw new Error('entry was not applied');
    return applied;
  };
  return {
    store,
    path: dir.path,
    run,
    dispose: async () => {
      await store.close();
      await dir.remove();
    },
  };
}
