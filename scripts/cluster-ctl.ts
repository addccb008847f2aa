/**
 * Fault tooling for the cluster `npm start` runs (by PID from ./data/<id>.pid, never by name):
 *
 *   npm run cluster -- status            role, term, leader, commit/applied of every node
 *   npm run cluster -- kill 2            SIGKILL   (crash)
 *   npm run cluster -- pause 2           SIGSTOP   (a frozen process: sockets open, nothing answered)
 *   npm run cluster -- resume 2          SIGCONT
 *   npm run cluster -- stop 2            SIGTERM   (graceful)
 *
 * Options: --data-dir <dir> (default ./data), --base-port <port> (default 8181). A mistake prints
 * one line and the usage, and exits 2.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const usage = 'usage: npm run cluster -- status | kill <id> | pause <id> | resume <id> | stop <id>  [--data-dir <dir>] [--base-port <port>]';
const signals: Record<string, NodeJS.Signals> = { kill: 'SIGKILL', pause: 'SIGSTOP', resume: 'SIGCONT', stop: 'SIGTERM' };

function fail(message: string, code = 2): never {
  console.error(`npm run cluster: ${message}`);
  if (code === 2) console.error(usage);
  process.exit(code);
}

let parsed: { values: { 'data-dir': string; 'base-port': string }; positionals: string[] };
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: { 'data-dir': { type: 'string', default: './data' }, 'base-port': { type: 'string', default: '8181' } },
  }) as typeof parsed;
} catch (err) {
  fail((err as Error).message);
}
const { values, positionals } = parsed;
const root = resolve(values['data-dir']);
const basePort = Number(values['base-port']);
if (!/^\d+$/.test(values['base-port']) || basePort < 1 || basePort > 65_535) fail(`--base-port must be a port number, got "${values['base-port']}"`);
const [command, idText, ...extra] = positionals;
if (command === undefined) fail('which command?');
if (extra.length > 0) fail(`unexpected argument '${extra[0]}'`);

async function nodeIds(): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(root);
  } catch {
    fail(`no cluster data in ${root} (is npm start running? pass its --data-dir)`);
  }
  const ids = files.filter((f) => /^\d+\.pid$/.test(f)).map((f) => f.slice(0, -4)).sort((a, b) => Number(a) - Number(b));
  if (ids.length === 0) fail(`no node pid files in ${root} (is npm start running? pass its --data-dir)`);
  return ids;
}

if (command === 'status') {
  if (idText !== undefined) fail(`status takes no node id (got '${idText}')`);
  for (const id of await nodeIds()) {
    const port = basePort + Number(id) - 1;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1_000) });
      const s = (await res.json()) as { role: string; term: number; leaderId: number | null; commitIndex: number; appliedIndex: number };
      console.log(`node ${id}: ${s.role} term ${s.term} leader ${s.leaderId ?? '-'} commit ${s.commitIndex} applied ${s.appliedIndex}`);
    } catch (err) {
      console.log(`node ${id}: not answering (${(err as Error).message})`);
    }
  }
} else if (signals[command] !== undefined) {
  const signal = signals[command];
  if (idText === undefined) fail(`${command} needs a node id`);
  const ids = await nodeIds();
  if (!ids.includes(idText)) fail(`no node ${idText} in ${root} (nodes: ${ids.join(', ')})`);
  const pid = Number((await readFile(join(root, `${idText}.pid`), 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) fail(`${join(root, `${idText}.pid`)} holds no pid`, 1);
  try {
    process.kill(pid, signal);
  } catch (err) {
    fail(`node ${idText} (pid ${pid}): ${(err as NodeJS.ErrnoException).code === 'ESRCH' ? 'not running' : (err as Error).message}`, 1);
  }
  console.log(`node ${idText} (pid ${pid}): ${signal}`);
} else {
  fail(`unknown command '${command}'`);
}
