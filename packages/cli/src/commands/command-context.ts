import type { Command } from 'commander';
import type { TlsOptions, VigilClient } from '@vigil/client';
import type { Palette } from '../format/palette.js';
import type { Progress } from '../format/progress-bar.js';
import type { Credentials } from './credentials.js';

/** Where a command's output goes: stdout in one-shot use, the terminal in the shell. */
export interface CommandOutput {
  /** A line of the result (stdout). */
  line(text: string): void;
  /** Bytes as they are (stdout; `get --raw`). */
  bytes(data: Uint8Array): void;
  /** A notice that is not the result: stderr in one-shot use, so pipes carry only results. */
  note(text: string): void;
  /** Something that happened after the command returned (a one-shot watch firing in the shell). */
  later(text: string): void;
}

/** What one run of a command works with. */
export interface CommandContext {
  readonly mode: 'oneShot' | 'shell';
  /** `--json`: one JSON document per line on stdout. */
  readonly json: boolean;
  readonly out: CommandOutput;
  readonly palette: Palette;
  /** Aborted by Ctrl-C; every SDK call and HTTP request of the command takes it. */
  readonly signal: AbortSignal;
  /** Deadline of each request. */
  readonly timeoutMs: number;
  /** Client endpoints (ws://…); admin HTTP uses the same host:port. */
  readonly endpoints: readonly string[];
  /** `--user` and its secret (null: anonymous): the session's and the admin API's identity. */
  readonly credentials: Credentials | null;
  /** `--ca`, `--cert`, `--key`: for the session (wss://) and admin HTTP (https://); null without them. */
  readonly tls: TlsOptions | null;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The session: opened on first use in one-shot use, the shell's own in the shell. */
  client(): Promise<VigilClient>;
  /** Standard input's bytes (one-shot use only; at most `maxBytes`). */
  readStdin(maxBytes: number): Promise<Uint8Array>;
  /** A progress bar on stderr when it is a terminal; otherwise nothing. */
  progress(label: string, totalBytes: number | null): Progress;
}

/** Runs actions in one mode: builds each run's context from the command's parsed options. */
export interface CommandHost {
  readonly mode: 'oneShot' | 'shell';
  /** Adds the options every cluster command takes in this mode (`--json`; one-shot: `--endpoints`, `--timeout-ms`, `--user`, `--secret-file`). */
  commonOptions(command: Command): Command;
  run(command: Command, action: (ctx: CommandContext) => Promise<void>): Promise<void>;
}

/** Prints `json` as one line with `--json`, else the text lines. */
export function emit(ctx: CommandContext, json: unknown, text: () => readonly string[]): void {
  if (ctx.json) ctx.out.line(JSON.stringify(json));
  else for (const line of text()) ctx.out.line(line);
}
