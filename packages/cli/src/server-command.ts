import { createRootLogger, crashPointsFromEnv, knownBadFromEnv, powerLossFromEnv, startNode, type Logger, type NodeConfig, type StartNodeOptions } from '@vigil/server/start';

/** What `startNode` gives back; all the CLI needs of a running node. */
export interface RunningNode {
  close(): Promise<void>;
}

export type StartNode = (config: NodeConfig, options: StartNodeOptions) => Promise<RunningNode>;

/** `process`, or a test double. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface RunServerOptions {
  /** Defaults to `startNode` from `@vigil/server`. */
  readonly start?: StartNode;
  readonly logger?: Logger;
  /** Defaults to `process`. */
  readonly signals?: SignalSource;
  /** Called with 1 on a second signal, to leave at once; defaults to `process.exit`. */
  readonly exit?: (code: number) => void;
  /** Extra time on top of `shutdownTimeoutMs` before the CLI stops waiting for `close()`. */
  readonly shutdownGraceMs?: number;
}

const shutdownSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/**
 * Starts the node and runs it until SIGTERM or SIGINT. The first signal closes the node once
 * (resolving 0, or 1 if closing fails or outlasts its deadline); a second signal exits 1 at once,
 * for an operator who will not wait.
 */
export async function runServer(config: NodeConfig, options: RunServerOptions = {}): Promise<number> {
  const start = options.start ?? startNode;
  const logger = options.logger ?? createRootLogger({ level: config.logLevel, nodeId: config.id });
  const signals = options.signals ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const log = logger.child({ component: 'cli' });

  // Test-only switches from the environment (@vigil/server testing/): the fault suite's known-bad
  // bugs, power loss at every restart, crash points.
  const env = process.env;
  const node = await start(config, { logger, knownBad: knownBadFromEnv(env), powerLoss: powerLossFromEnv(env), crashAt: crashPointsFromEnv(env) });

  return new Promise<number>((resolve) => {
    let closing = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        log.warn({ signal }, 'second signal: exiting without waiting for shutdown');
        exit(1);
        return;
      }
      closing = true;
      log.info({ signal }, 'shutting down');
      const deadlineMs = config.shutdownTimeoutMs + (options.shutdownGraceMs ?? 1_000);
      const timer = setTimeout(() => {
        log.error({ deadlineMs }, 'shutdown did not finish in time');
        finish(1);
      }, deadlineMs);
      timer.unref();
      node.close().then(
        () => {
          clearTimeout(timer);
          finish(0);
        },
        (err: unknown) => {
          clearTimeout(timer);
          log.error({ err }, 'shutdown failed');
          finish(1);
        },
      );
    };
    let finished = false;
    const finish = (code: number): void => {
      if (finished) return;
      finished = true;
      // The second-signal handler stays installed until the process exits.
      resolve(code);
    };
    for (const signal of shutdownSignals) signals.on(signal, onSignal);
  });
}
