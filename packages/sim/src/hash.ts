/** FNV-1a, 32-bit: fast, deterministic, enough to compare logs and applied sequences. */
export function fnv1a(data: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Fold numbers into a running 32-bit hash. */
export function mix(h: number, ...values: number[]): number {
  for (const v of values) {
    h ^= v >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= (v / 0x1_0000_0000) >>> 0;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
