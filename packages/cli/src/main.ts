import { runCli } from './program.js';
import { runServer } from './server-command.js';

// The process entry point (bin/vigil.js). The only place that touches process.argv and exits.
const code = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  runServer: (config) => runServer(config),
});
process.exit(code);
