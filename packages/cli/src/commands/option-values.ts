import { InvalidArgumentError } from 'commander';

/** A commander parser for an integer flag within [min, max]. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`not an integer: ${JSON.stringify(value)}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}, got ${value}`);
    return n;
  };
}

/** Member ids: positive integers. */
export const memberId = integerIn(1, Number.MAX_SAFE_INTEGER);
/** Versions: -1 is "any" in ZooKeeper; here leaving -v out means any. */
export const version = integerIn(0, 2 ** 31 - 1);
export const timeoutMs = integerIn(1, 600_000);
