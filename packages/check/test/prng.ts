/** mulberry32: a seeded source for randomized tests, so a failing seed replays. */
export function createPrng(seed: number): { int(maxExclusive: number): number; float(): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const float = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return {
    float,
    int: (maxExclusive) => Math.floor(float() * maxExclusive),
    pick: (items) => {
      const item = items[Math.floor(float() * items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
  };
}
