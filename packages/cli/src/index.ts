export { buildProgram, runCli, exitCodes } from './program.js';
export type { CliIo } from './program.js';
export { runServer } from './server-command.js';
export type { RunServerOptions, RunningNode, SignalSource, StartNode } from './server-command.js';
export { serverFlagsHelp } from './server-help.js';
