// @vigil/cli — the `vigil` binary (docs/design.md; manual: docs/cli.md). Everything here is also
// reachable in-process, which is how the tests drive it.

// Running the CLI: runCli(argv, io) resolves with the exit status; the program is commander's.
export { buildProgram, runCli } from './program.js';
export type { CliIo, CliStreams, InterruptSource } from './cli-io.js';

// Exit statuses that say what happened, and how a failure becomes one line and a status.
export { exitCodes, exitCodeMeanings } from './exit-codes.js';
export type { ExitCode } from './exit-codes.js';
export { describeFailure } from './failure.js';
export type { Failure } from './failure.js';
export { CliError, ExitWith } from './cli-error.js';

// `vigil server`: a node until SIGTERM/SIGINT.
export { runServer } from './server-command.js';
export type { RunServerOptions, RunningNode, SignalSource, StartNode } from './server-command.js';
export { serverFlagsHelp } from './server-help.js';
export type { ServerSettingsApi } from './server-help.js';

// The cluster commands (znode, cluster, member, leader, snapshot), shared by both modes.
export { registerCommands } from './commands/register-commands.js';
export { oneShotHost } from './commands/command-host.js';
export type { CommandContext, CommandHost, CommandOutput } from './commands/command-context.js';
export { defaultEndpoints, resolveEndpoints, httpBaseOf } from './commands/endpoints.js';

// `vigil shell`: the interactive REPL, its completion, line splitting and history.
export { runShell } from './shell/shell.js';
export type { ShellOptions } from './shell/shell.js';
export { completeLine } from './shell/completion.js';
export type { CompletionSource } from './shell/completion.js';
export { splitLine } from './shell/split-line.js';
export { historyLinesMax, historyPath, loadHistory } from './shell/history-file.js';

// Output formats.
export { dataAsText, hexDump } from './format/data-text.js';

// `vigil certs`: a CA and member/client certificates for a test cluster (also for harnesses).
export { writeTestCerts, makeCertificateAuthority, makeCertificate } from './certs/make-certs.js';
export type { TestCertsOptions, TestCertsWritten, PemPair, CertificateOptions } from './certs/make-certs.js';
