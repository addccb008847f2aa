import type { NodeConfig } from '@vigil/server';

/** What the shell and `-` (data from stdin) read and write, when the CLI runs as a process. */
export interface CliStreams {
  readonly stdin: NodeJS.ReadableStream & { readonly isTTY?: boolean };
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean; readonly columns?: number };
  readonly stderr: NodeJS.WritableStream & { readonly isTTY?: boolean };
}

/** Ctrl-C: `process`, or a test double. */
export interface InterruptSource {
  on(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
}

/** Everything the program touches outside itself, so tests can run it in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Runs a node until it is told to stop; resolves with the exit code. */
  readonly runServer: (config: NodeConfig) => Promise<number>;
  /** Bytes as they are, for `get --raw`; without it they are written as UTF-8 text. */
  readonly stdoutBytes?: (bytes: Uint8Array) => void;
  /** Standard streams: the shell's terminal, and the data of `set /x -`. */
  readonly streams?: CliStreams;
  /** Ctrl-C cancels the running command; without it, commands run to their end. */
  readonly interrupts?: InterruptSource;
  /** Where the shell keeps its history (`~/.vigil_history`); without it, no history file. */
  readonly homeDir?: string;
}
