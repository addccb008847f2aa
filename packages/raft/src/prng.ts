/**
 * The only source of randomness the core sees. Injected so that a seed replays a run exactly
 * (etcd-io/raft's one flaw is a global random source).
 */
export interface Prng {
  /** A uniformly distributed integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/**
 * sfc32 seeded through splitmix32: small, fast, and good enough for timeouts and fault schedules.
 * Not for cryptography.
 */
export function createPrng(seed: number): Prng & { nextFloat(): number } {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  return {
    nextInt(maxExclusive: number): number {
      return Math.floor((next() / 0x1_0000_0000) * maxExclusive);
    },
    nextFloat(): number {
      return next() / 0x1_0000_0000;
    },
  };
}
