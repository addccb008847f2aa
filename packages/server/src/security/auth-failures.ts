/**
 * Failed authentications per client address: each address may fail `burst` times, then once per
 * `refillMs`; while it has no attempt left, its attempts are refused without checking anything,
 * so a guesser learns nothing and costs the member no scrypt work. Remembers at most
 * `addressesMax` addresses (the one that failed longest ago is forgotten first).
 */
export class AuthFailures {
  readonly #byAddress = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly options: { readonly burst: number; readonly refillMs: number; readonly addressesMax: number } = { burst: 5, refillMs: 1_000, addressesMax: 10_000 },
    private readonly now: () => number = () => performance.now(),
  ) {}

  #refilled(address: string): { tokens: number; atMs: number } | undefined {
    const entry = this.#byAddress.get(address);
    if (entry === undefined) return undefined;
    const now = this.now();
    entry.tokens = Math.min(this.options.burst, entry.tokens + (now - entry.atMs) / this.options.refillMs);
    entry.atMs = now;
    if (entry.tokens >= this.options.burst) {
      this.#byAddress.delete(address);
      return undefined;
    }
    return entry;
  }

  /** How long `address` must wait before its next attempt is checked: 0 if it may try now. */
  waitMs(address: string): number {
    const entry = this.#refilled(address);
    if (entry === undefined || entry.tokens >= 1) return 0;
    return Math.ceil((1 - entry.tokens) * this.options.refillMs);
  }

  /** Counts one failure of `address`. */
  failed(address: string): void {
    const entry = this.#refilled(address) ?? { tokens: this.options.burst, atMs: this.now() };
    entry.tokens = Math.max(0, entry.tokens - 1);
    this.#byAddress.delete(address);
    this.#byAddress.set(address, entry);
    while (this.#byAddress.size > this.options.addressesMax) {
      const oldest = this.#byAddress.keys().next().value as string;
      this.#byAddress.delete(oldest);
    }
  }
}
