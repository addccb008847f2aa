// Where the examples connect: VIGIL_ENDPOINTS (comma-separated), or the cluster `npm start` runs.
export const endpoints = (process.env.VIGIL_ENDPOINTS ?? 'ws://127.0.0.1:8181,ws://127.0.0.1:8182,ws://127.0.0.1:8183').split(',');

/** Fails the example loudly: examples run in CI, and one that stops doing what it shows must fail. */
export function check(condition: boolean, what: string): void {
  if (!condition) throw new Error(`example check failed: ${what}`);
}
