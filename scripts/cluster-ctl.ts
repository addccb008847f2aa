/**
 * Fault tooling for the cluster `npm start` runs (by PID from ./data/<id>.pid, never by name):
 *
 *   npm run cluster -- status            role, term, leader, commit/applied of every node
 *   npm run cluster -- kill 2            SIGKILL   (crash)
 *   npm run cluster -- pause 2           SIGSTOP   (a frozen process: sockets open, nothing answered)
 *   npm run cluster -- resume 2          SIGCONT
 *   npm run cluster -- stop 2            SIGTERM   (graceful)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'data-dir': { type: 'string', default: './data' }, 'base-port': { type: 'string', default: '8181' } },
});
const root = resolve(values['data-dir']);
const [command, idText] = positionals;
const signals: Record<string, NodeJS.Signals> = { kill: 'SIGKILL', pause: 'SIGSTOP', resume: 'SIGCONT', stop: 'SIGTERM' };

async function pidOf(id: string): Promise<number> {
  const pid = Number((await readFile(join(root, `${id}.pid`), 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid for node ${id} in ${root}`);
  return pid;
}

if (command === 'status') {
  const ids = (await readdir(root)).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4)).sort();
  for (const id of ids) {
    const port = Number(values['base-port']) + Number(id) - 1;
    try {
      const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(1_000) });
      const s = (await res.json()) as { role: string; term: number; leaderId: number | null; commitIndex: number; appliedIndex: number };
      console.log(`node ${id}: ${s.role} term ${s.term} leader ${s.leaderId ?? '-'} commit ${s.commitIndex} applied ${s.appliedIndex}`);
    } catch (err) {
      console.log(`node ${id}: not answering (${(err as Error).message})`);
    }
  }
} else if (command !== undefined && signals[command] !== undefined && idText !== undefined) {
  const pid = await pidOf(idText);
  process.kill(pid, signals[command]);
  console.log(`node ${idText} (pid ${pid}): ${signals[command]}`);
} else {
  console.error('usage: npm run cluster -- status | kill <id> | pause <id> | resume <id> | stop <id>');
  process.exitCode = 2;
}
