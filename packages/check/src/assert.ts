/** A malformed input or a broken invariant of the checker itself: fail loudly rather than report a wrong verdict. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`@vigil/check: ${message}`);
}
