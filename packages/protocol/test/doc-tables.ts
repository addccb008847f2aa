// The generated sections of docs/protocol.md: the limits table, the error table and the byte-level
// example all come from the code, so the document cannot drift from it (test/doc.test.ts).
import { closeCodeOf, encodeFrame, errorCatalogue, errorCodes, limits, type ClientFrame, type ServerFrame } from '../src/index.js';

export function renderLimits(): string {
  const rows = Object.entries(limits).map(([name, l]) => {
    const value = typeof l.value === 'number' ? l.value.toLocaleString('en-US').replace(/,/g, '_') : `\`${l.value}\``;
    return `| \`${name}\` | ${value} | ${l.unit} | ${l.meaning} |`;
  });
  return ['| name | value | unit | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export function renderErrors(): string {
  const rows = errorCodes.map((code) => {
    const e = errorCatalogue[code];
    const close = e.origin === 'server' ? String(closeCodeOf(code)) : '—';
    return `| ${e.wire} | \`${code}\` | ${e.retryable ? 'yes' : 'no'} | ${e.origin} | ${close} | ${e.description} |`;
  });
  return ['| wire | name | retryable | origin | close code | meaning |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

export const exampleRequest: ClientFrame = { t: 'req', id: 1, op: 'set', path: '/a', data: new Uint8Array([0x68, 0x69]), version: 3 };
export const exampleResponse: ServerFrame = {
  t: 'res', id: 1, ok: true, revision: 42, op: 'set',
  stat: { czxid: 40, mzxid: 42, pzxid: 40, ctime: 1_700_000_000_000, mtime: 1_700_000_000_500, version: 4, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 2, numChildren: 0 },
};

const hex = (bytes: Uint8Array): string => {
  const h = Buffer.from(bytes).toString('hex').replace(/(..)/g, '$1 ').trim();
  // 32 bytes a line.
  return h.replace(/((?:.. ){31}..) /g, '$1\n');
};

export function renderExample(): string {
  return [
    'Request `{ t: "req", id: 1, op: "set", path: "/a", data: <bin 68 69>, version: 3 }`:',
    '',
    '```',
    hex(encodeFrame(exampleRequest)),
    '```',
    '',
    'Response `{ t: "res", id: 1, ok: true, revision: 42, op: "set", stat: { czxid: 40, mzxid: 42, pzxid: 40, ctime: 1700000000000, mtime: 1700000000500, version: 4, cversion: 0, aversion: 0, ephemeralOwner: 0, dataLength: 2, numChildren: 0 } }` (the times are above 2^32, so msgpackr writes them as float64, `cb …`):',
    '',
    '```',
    hex(encodeFrame(exampleResponse)),
    '```',
  ].join('\n');
}

/** Replaces the body between `<!-- generated:name -->` and `<!-- /generated:name -->`. */
export function withSection(doc: string, name: string, body: string): string {
  const open = `<!-- generated:${name} -->`;
  const close = `<!-- /generated:${name} -->`;
  const from = doc.indexOf(open);
  const to = doc.indexOf(close);
  if (from < 0 || to < from) throw new Error(`docs/protocol.md lacks the ${name} section markers`);
  return `${doc.slice(0, from + open.length)}\n${body}\n${doc.slice(to)}`;
}
