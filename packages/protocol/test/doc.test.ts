import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeClientFrame, decodeServerFrame, encodeFrame } from '../src/index.js';
import { exampleRequest, exampleResponse, renderErrors, renderExample, renderLimits, withSection } from './doc-tables.js';

const docPath = fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url));

function generated(doc: string): string {
  return withSection(withSection(withSection(doc, 'example', renderExample()), 'errors', renderErrors()), 'limits', renderLimits());
}

describe('docs/protocol.md', () => {
  it('holds the limits table, error table and byte example the code generates', () => {
    const doc = readFileSync(docPath, 'utf8');
    const expected = generated(doc);
    if (process.env['UPDATE_DOCS'] === '1' && expected !== doc) writeFileSync(docPath, expected);
    else expect(doc, 'run with UPDATE_DOCS=1 to regenerate').toBe(expected);
  });

  it('shows an example that decodes', () => {
    expect(decodeClientFrame(encodeFrame(exampleRequest)).ok).toBe(true);
    expect(decodeServerFrame(encodeFrame(exampleResponse)).ok).toBe(true);
  });
});
