import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { assert, type SnapshotBytes } from '@vigil/raft';

/**
 * A snapshot file as Raft's `SnapshotBytes`: its length, and ranges read from the file when a
 * follower that fell behind the log needs them, so that the image (≈ 170 bytes per znode) is not
 * held in memory between transfers. Reads are synchronous, as Raft's core is, one chunk at a time
 * (256 KiB by default), from the page cache in the common case. The open descriptor keeps the
 * bytes readable after a newer snapshot prunes the file; `close()` releases it.
 */
export class SnapshotFileBytes implements SnapshotBytes {
  private fd: number | null;

  private constructor(fd: number, readonly length: number) {
    this.fd = fd;
  }

  static open(path: string): SnapshotFileBytes {
    const fd = openSync(path, 'r');
    try {
      return new SnapshotFileBytes(fd, fstatSync(fd).size);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** A fresh copy of bytes [start, end) of the file. */
  subarray(start: number, end: number): Uint8Array {
    assert(this.fd !== null, 'snapshot file read after close');
    assert(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= this.length, `snapshot range ${start}..${end} of ${this.length} bytes`);
    const out = Buffer.allocUnsafe(end - start);
    for (let done = 0; done < out.length; ) {
      const n = readSync(this.fd, out, done, out.length - done, start + done);
      assert(n > 0, `snapshot file ended at ${start + done} of its ${this.length} bytes`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}
