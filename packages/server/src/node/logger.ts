import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The one root logger of a node process; components take `logger.child({ component })`. */
export function createRootLogger(options: { level: LevelWithSilent; nodeId: number }): Logger {
  return pino({ level: options.level, base: { nodeId: options.nodeId } });
}

/** For libraries and tests: silent unless given a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
