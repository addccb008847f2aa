import { describe, expect, it } from 'vitest';
import { checkLinearizable, renderTimeline, renderTimelineHtml } from '../src/index.js';
import { history } from './history-text.js';

const report = checkLinearizable(history(`
  p1 0-1 create a -> v0 @r1
  p1 10-50 set b -> v1 @r5
  p2 12-14 get -> b v1 @r5
  p3 16-18 get -> a v0 @r4
  p4 2-30 set c -> ?
  p4 31-33 get -> b v1
  p4 20-22 get key=/other -> NO_NODE
`));

describe('renderTimeline', () => {
  const text = renderTimeline(report);
  const lines = text.split('\n');

  it('says which znode failed, after how long a prefix, and where', () => {
    expect(lines[0]).toBe('linearizability: 2 znodes, 1 not linearizable');
    expect(text).toContain('znode /k: not linearizable');
    expect(text).toContain("longest linearizable prefix: 3 operations, leaving the znode 'b' v1");
    expect(text).toContain("no order continues it before p3 get /k → ok 'a' v0 @r4 completes at 18.000 ms");
  });

  it('draws one row per process, the operations as intervals, the offending ones marked', () => {
    const rows = lines.filter((line) => /^p\d+ \|/.test(line));
    expect(rows.map((row) => row.slice(0, 2))).toEqual(['p1', 'p2', 'p3', 'p4']);
    for (const row of rows) expect(row).toHaveLength(rows[0]!.length);
    expect(rows[2]).toMatch(/\[5#\]/);
    expect(rows[1]).toMatch(/\[4=\]/);
    expect(rows[3]).toMatch(/2#+\?/);
  });

  it('lists every drawn operation with its interval and why it does not fit', () => {
    expect(text).toMatch(/^5 {2}16\.000-18\.000 {2}p3 get \/k → ok 'a' v0 @r4 +! read 'a', but the znode is 'b' v1 \(must take effect before it completes\)$/m);
    expect(text).toMatch(/^2 {2}2\.000-\? +p4 set \/k 'c' → unknown TIMEOUT +! fits here/m);
    expect(text).toMatch(/^1 {2}0\.000-1\.000 +p1 create \/k 'a' → ok v0 @r1 +prefix #1$/m);
  });

  it('renders one violation alone, and a clean report as a summary', () => {
    expect(renderTimeline(report.violations[0]!, { widthColumns: 30 })).toMatch(/^znode \/k: not linearizable/);
    expect(renderTimeline(checkLinearizable(history('p1 0-1 get -> NO_NODE')))).toBe('linearizability: 1 znodes, no violation\n');
  });
});

describe('renderTimelineHtml', () => {
  it('is one self-contained page with a drawing and a table of the operations', () => {
    const html = renderTimelineHtml(report);
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|src=/);
    expect(html.match(/<rect /g)).toHaveLength(6);
    expect(html.match(/<rect class="candidate/g)).toHaveLength(2);
    expect(html).toContain('<tr class="candidate"><td>5</td><td>p3</td>');
  });

  it('escapes what the history carries', () => {
    const html = renderTimelineHtml(checkLinearizable(history(`
      p1 0-1 create <b>&x -> v0
      p2 2-3 get -> <i> v0
    `)));
    expect(html).not.toContain('<b>');
    expect(html).not.toContain('<i>');
    expect(html).toContain('&#60;i&#62;');
  });
});
