/**
 * The tree's own copy of a node's data. What a command carries is a view into a larger buffer:
 * the Raft entry it was decoded from (path, session, sequence and all), which itself may sit in a
 * peer frame. Keeping the view would keep that buffer alive as long as the node lives (measured:
 * 385 bytes held per 100-byte node on a follower) and let whoever owns it change the node's bytes.
 */
export function ownedCopy(data: Uint8Array): Uint8Array {
  return data.byteLength === 0 ? noBytes : new Uint8Array(data);
}

const noBytes = new Uint8Array(0);

/**
 * Copies for a whole tree loaded at once (a member's start, a snapshot installed), cut one after
 * another from slabs of 64 KiB rather than each given an ArrayBuffer of its own (decision 48): at
 * a million znodes that is a million fewer ArrayBuffers to make (about 0.7 µs each) and to keep.
 * Only that tree's data goes into the slabs, densely, so a slab outlives its data only while some
 * of its nodes keep their loaded data; at worst that keeps the loaded data's size alive until the
 * last of them changes. Data written later by commands gets its own copy (`ownedCopy`).
 */
export class DataArena {
  private slab = new Uint8Array(0);
  private used = 0;

  copy(data: Uint8Array): Uint8Array {
    const n = data.byteLength;
    if (n === 0) return noBytes;
    if (n > arenaLargestCopy) return ownedCopy(data);
    if (this.used + n > this.slab.byteLength) {
      this.slab = new Uint8Array(arenaSlabBytes);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    out.set(data);
    this.used += n;
    return out;
  }
}

const arenaSlabBytes = 64 * 1024;
/** Larger data gets an ArrayBuffer of its own: it would leave too much of a slab unused. */
const arenaLargestCopy = 4 * 1024;
