/**
 * @vigil/server/start — only what a process that runs a node needs: settings, `startNode`, the
 * logger and the test-only switches read from the environment. `vigil server` loads this rather
 * than the whole package, so that a (re)starting member does not first load what it only needs
 * later (the HTTP routes' fastify is loaded once the member serves its clients).
 *
 * ```ts
 * const config = loadConfig({ argv: process.argv.slice(2), env: process.env });
 * const node = await startNode(config);
 * ```
 */
export { startNode } from './node/vigil-node.js';
export type { StartNodeOptions, VigilNode } from './node/vigil-node.js';
export { createRootLogger } from './node/logger.js';
export type { Logger } from './node/logger.js';
export * from './config/index.js';
export { isServerError } from './errors.js';
export { knownBadFromEnv } from './testing/known-bad.js';
export { powerLossFromEnv } from './testing/power-loss.js';
export { crashPointsFromEnv } from './testing/crash-points.js';
