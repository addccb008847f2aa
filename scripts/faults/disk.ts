import { execFile } from 'node:child_process';
import { open, statfs, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';

/**
 * A full disk for one member: its data directory lives on a tmpfs of its own, and a filler file
 * beside the data takes every free byte until it is removed.
 */

const execFileAsync = promisify(execFile);

/** Mounts a tmpfs of `bytes` on `dir` (which must exist). */
export async function mountDisk(dir: string, bytes: number): Promise<void> {
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { timeout: 10_000 });
}

/** Unmounts it (lazily, so that a process still holding a file there cannot stop it); never throws. */
export async function unmountDisk(dir: string): Promise<void> {
  await execFileAsync('umount', ['-l', dir], { timeout: 10_000 }).catch(() => undefined);
}

/** Takes every free byte of the file system that holds `dir` with the file `filler`. */
export async function fillDisk(dir: string, filler: string): Promise<void> {
  // The member keeps writing meanwhile: take the bulk at once, then the rest until ENOSPC.
  const fs = await statfs(dir);
  // fallocate is all or nothing, and the member may take more than the margin between statfs and
  // the call: then ask for half as much, down to 1 MB (the writes below take the rest).
  for (let bulk = Math.max(0, fs.bavail * fs.bsize - 1024 * 1024); bulk >= 1024 * 1024; bulk = Math.floor(bulk / 2)) {
    const taken = await execFileAsync('fallocate', ['-l', String(bulk), filler], { timeout: 10_000 }).then(
      () => true,
      (err: unknown) => {
        if (/No space left/.test(String((err as { stderr?: string }).stderr ?? err))) return false;
        throw err;
      },
    );
    if (taken) break;
  }
  const file = await open(filler, 'a');
  try {
    for (const size of [64 * 1024, 4 * 1024, 512]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          await file.write(chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    await file.close();
  }
}

/** Gives the space back (nothing to do if there is no filler). */
export async function freeDisk(filler: string): Promise<void> {
  await unlink(filler).catch(() => undefined);
}
