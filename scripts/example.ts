// `npm run example -- <name>`: runs examples/<name>.ts against VIGIL_ENDPOINTS (default: the
// cluster `npm start` runs). `npm run example` alone lists them.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../examples/', import.meta.url));
const names = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'endpoints.ts').map((f) => f.slice(0, -3)).sort();
const name = process.argv[2];
if (name === undefined || !names.includes(name)) {
  console.error(`usage: npm run example -- <${names.join('|')}>`);
  process.exit(name === undefined ? 0 : 2);
}
const run = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`], { stdio: 'inherit' });
process.exit(run.status ?? 1);
