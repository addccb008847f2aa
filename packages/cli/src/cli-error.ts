import type { ExitCode } from './exit-codes.js';

/**
 * An operational failure of a command, already phrased for the operator: one line, an exit code,
 * and a code for `--json` error output (a VigilError's or server error's code, or the CLI's own:
 * USAGE, UNREACHABLE, FAILED).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

/** Ends a command with an exit code after it printed its output (e.g. `exists` of a missing node). */
export class ExitWith extends Error {
  override readonly name = 'ExitWith';
  constructor(readonly exitCode: ExitCode | number) {
    super(`exit ${exitCode}`);
  }
}
