import { describe, expect, it } from 'vitest';
import { checkAcknowledgedPresent } from '../src/index.js';
import { history } from './history-text.js';

const acknowledged = history(`
  p1 0-1 create a key=/w/1 -> v0
  p2 0-1 create b key=/w/2 -> v0
  p3 0-1 create c key=/w/3 -> v0
  p3 2-3 create d key=/w/4 -> ?
  p3 4-5 set e key=/w/1 -> v1
`);

describe('checkAcknowledgedPresent', () => {
  it('accepts when every acknowledged create is still there after healing', () => {
    const finalReads = history(`
      p9 100-101 get key=/w/1 -> e v1
      p9 102-103 get key=/w/2 -> b v0
      p9 104-105 get key=/w/4 -> NO_NODE
    `);
    expect(checkAcknowledgedPresent({ acknowledged, finalReads, finalListing: ['/w/1', '/w/2', '/w/3'] })).toEqual({ valid: true, missing: [], unverified: [], present: 3 });
  });

  it('names an acknowledged znode a final read found absent, with the evidence', () => {
    const finalReads = history(`
      p9 100-101 get key=/w/1 -> e v1
      p9 102-103 get key=/w/2 -> NO_NODE
      p9 104-105 get key=/w/3 -> c v0
    `);
    const report = checkAcknowledgedPresent({ acknowledged, finalReads });
    expect(report.valid).toBe(false);
    expect(report.missing).toEqual([{ key: '/w/2', create: acknowledged[1], evidence: finalReads[1] }]);
  });

  it('names one missing from the final listing, and says which it could not verify', () => {
    const finalReads = history('p9 100-101 get key=/w/3 -> ? TIMEOUT');
    const report = checkAcknowledgedPresent({ acknowledged: acknowledged.slice(0, 3), finalReads, finalListing: ['/w/1', '/w/4'] });
    expect(report.missing.map((m) => [m.key, m.evidence])).toEqual([['/w/2', 'listing'], ['/w/3', 'listing']]);
    expect(checkAcknowledgedPresent({ acknowledged, finalReads })).toEqual({ valid: true, missing: [], unverified: ['/w/1', '/w/2', '/w/3'], present: 0 });
  });
});
