import { homedir } from 'node:os';
import type { InterruptSource } from './cli-io.js';
import { exitCodes } from './exit-codes.js';
import { runCli } from './program.js';

// The process entry point (bin/vigil.js). The only place that touches process.argv and exits.

/**
 * Ctrl-C goes to whatever command is running (it cancels, and the command winds down); a second
 * Ctrl-C before it has finished, or one with nobody listening, exits at once. `vigil server`
 * installs its own handlers and does not use this.
 */
function interrupts(): InterruptSource {
  const listeners = new Set<() => void>();
  let pending = false;
  let installed = false;
  const onSigint = (): void => {
    if (listeners.size === 0 || pending) process.exit(exitCodes.interrupted);
    pending = true;
    for (const l of [...listeners]) l();
  };
  return {
    on: (_event, listener) => {
      if (!installed) {
        installed = true;
        process.on('SIGINT', onSigint);
      }
      listeners.add(listener);
      // The shell gets one Ctrl-C per command; a new listener starts a new count.
      pending = false;
    },
    off: (_event, listener) => void listeners.delete(listener),
  };
}

// A reader that stopped reading (`vigil ls -R / | head`) is not a failure of ours: leave quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(exitCodes.ok);
    throw err;
  });
}

const code = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stdoutBytes: (bytes) => void process.stdout.write(bytes),
  env: process.env,
  // Loaded on demand, with @vigil/server: the other commands start faster without it.
  runServer: async (config) => (await import('./server-command.js')).runServer(config),
  streams: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  interrupts: interrupts(),
  homeDir: homedir(),
});
// Let stdout drain before exiting (a pipe may still hold the output).
process.exitCode = code;
if (process.stdout.writableLength > 0) process.stdout.once('drain', () => process.exit(code));
else process.exit(code);
