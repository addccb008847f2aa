// Timelines of a linearizability violation: one row per process, each operation as its interval,
// the linearized prefix, the candidates that do not fit and the unknown outcomes told apart. The
// text form goes into test failures and logs; the HTML form is a page to open beside them.

import { describeOp, type ZnodeOp } from './history.js';
import type { KeyViolation, LinearizabilityReport } from './linearizable.js';
import { describeZnodeState } from './znode-model.js';

/** Options of renderTimeline. */
export interface TimelineOptions {
  /** Columns of the time axis (default 72, at least 16). */
  readonly widthColumns?: number;
}

/** How an operation in a violation's window took part. */
type Role = 'prefix' | 'candidate' | 'other';

interface WindowRow {
  readonly number: number;
  readonly op: ZnodeOp;
  readonly role: Role;
  readonly note: string;
}

const widthColumnsDefault = 72;
const widthColumnsMin = 16;
const timePrecision = 3;

/** Plain-text timelines of every violation in a report (or of one violation). */
export function renderTimeline(report: LinearizabilityReport | KeyViolation, options: TimelineOptions = {}): string {
  const widthColumns = Math.max(widthColumnsMin, Math.floor(options.widthColumns ?? widthColumnsDefault));
  if (!('violations' in report)) return renderViolationText(report, widthColumns);
  if (report.violations.length === 0) return `${summary(report)}\n`;
  return [summary(report), ...report.violations.map((v) => renderViolationText(v, widthColumns))].join('\n');
}

/** A self-contained HTML page (inline SVG and CSS, no scripts) with the timelines of a report (or of one violation). */
export function renderTimelineHtml(report: LinearizabilityReport | KeyViolation): string {
  const violations = 'violations' in report ? report.violations : [report];
  const heading = 'violations' in report ? summary(report) : `znode ${report.key} is not linearizable`;
  const sections = violations.map(renderViolationHtml).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(heading)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 2em; font-family: monospace; }
svg text { font: 12px monospace; }
rect.prefix { fill: #b7e1b0; stroke: #3c8a34; }
rect.candidate { fill: #f4b6b6; stroke: #b02a2a; stroke-width: 2; }
rect.other { fill: #ddd; stroke: #888; }
rect.unknown { stroke-dasharray: 4 3; fill-opacity: 0.5; }
table { border-collapse: collapse; margin-top: 1em; font: 12px monospace; }
td, th { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
tr.candidate td { background: #fde8e8; } tr.prefix td { background: #eef8ec; }
.legend span { display: inline-block; margin-right: 1.5em; }
</style>
</head>
<body>
<h1>${escapeHtml(heading)}</h1>
<p class="legend"><span>green: linearized in the longest prefix</span><span>red: could come next, does not fit</span><span>grey: other</span><span>dashed: outcome unknown (may take effect at any time after invocation)</span></p>
${sections}
</body>
</html>
`;
}

function summary(report: LinearizabilityReport): string {
  const unknown = report.unknownKeys.length === 0 ? '' : `; search gave up on ${report.unknownKeys.length}: ${report.unknownKeys.join(', ')}`;
  const verdict = report.violations.length === 0 ? 'no violation' : `${report.violations.length} not linearizable`;
  return `linearizability: ${report.keys.length} znodes, ${verdict}${unknown}`;
}

function rowsOf(violation: KeyViolation): WindowRow[] {
  const position = new Map<ZnodeOp, number>();
  violation.linearizedPrefix.forEach((op, i) => position.set(op, i + 1));
  const why = new Map(violation.candidates.map((c) => [c.op, c.why] as const));
  return violation.window.map((op, i) => {
    const candidateWhy = why.get(op);
    const prefixPosition = position.get(op);
    const role: Role = candidateWhy !== undefined ? 'candidate' : prefixPosition !== undefined ? 'prefix' : 'other';
    let note = candidateWhy !== undefined ? `! ${candidateWhy}` : prefixPosition !== undefined ? `prefix #${prefixPosition}` : '';
    if (op === violation.blocking) note = `${note} (must take effect before it completes)`;
    return { number: i + 1, op, role, note };
  });
}

function headline(violation: KeyViolation): string[] {
  const prefix = `longest linearizable prefix: ${violation.linearizedPrefix.length} operations, leaving the znode ${describeZnodeState(violation.stateAfterPrefix)}`;
  if (violation.impossibleRead !== undefined) {
    return [
      `znode ${violation.key}: not linearizable (the search gave up; ${prefix})`,
      `no order can place ${describeOp(violation.blocking)}`,
      `it ${violation.impossibleRead.because}`,
    ];
  }
  return [
    `znode ${violation.key}: not linearizable`,
    prefix,
    `no order continues it before ${describeOp(violation.blocking)} completes at ${violation.blocking.completeMs.toFixed(timePrecision)} ms`,
  ];
}

function timeSpan(ops: readonly ZnodeOp[]): { fromMs: number; toMs: number } {
  const fromMs = Math.min(...ops.map((op) => op.invokeMs));
  const toMs = Math.max(...ops.map((op) => Math.max(op.completeMs, op.invokeMs)));
  return { fromMs, toMs: toMs > fromMs ? toMs : fromMs + 1 };
}

function processesOf(rows: readonly WindowRow[]): number[] {
  return [...new Set(rows.map((r) => r.op.process))].sort((a, b) => a - b);
}

function renderViolationText(violation: KeyViolation, widthColumns: number): string {
  const rows = rowsOf(violation);
  const { fromMs, toMs } = timeSpan(violation.window);
  const column = (t: number): number => Math.round(((t - fromMs) / (toMs - fromMs)) * (widthColumns - 1));
  const processes = processesOf(rows);
  const labelWidth = Math.max(...processes.map((p) => `p${p}`.length));
  const lines = [...headline(violation)];
  lines.push(`time ${fromMs.toFixed(timePrecision)} .. ${toMs.toFixed(timePrecision)} ms, one column = ${((toMs - fromMs) / (widthColumns - 1)).toFixed(timePrecision)} ms`, '');
  for (const process of processes) {
    const cells = Array.from({ length: widthColumns }, () => ' ');
    for (const row of rows.filter((r) => r.op.process === process)) {
      const unknown = row.op.outcome === 'info';
      const fill = row.role === 'candidate' ? '#' : row.role === 'prefix' ? '=' : unknown ? '~' : '-';
      const start = column(row.op.invokeMs);
      const end = Math.max(start, column(row.op.completeMs));
      for (let c = start + 1; c < end; c++) cells[c] = fill;
      cells[start] = end === start ? '|' : '[';
      if (end > start) cells[end] = unknown ? '?' : ']';
      const label = String(row.number);
      if (end - start - 1 >= label.length) {
        const at = start + 1 + Math.floor((end - start - 1 - label.length) / 2);
        for (let k = 0; k < label.length; k++) cells[at + k] = label[k]!;
      }
    }
    lines.push(`${`p${process}`.padEnd(labelWidth)} |${cells.join('')}|`);
  }
  lines.push('', '[==] linearized in the prefix   [##] could come next, does not fit   [--] other   ...?] outcome unknown', '');
  const intervals = rows.map((r) => `${r.op.invokeMs.toFixed(timePrecision)}-${r.op.outcome === 'info' ? '?' : r.op.completeMs.toFixed(timePrecision)}`);
  const intervalWidth = Math.max(...intervals.map((s) => s.length));
  const descriptions = rows.map((r) => describeOp(r.op));
  const descriptionWidth = Math.max(...descriptions.map((s) => s.length));
  const numberWidth = String(rows.length).length;
  rows.forEach((r, i) => {
    lines.push(`${String(r.number).padStart(numberWidth)}  ${intervals[i]!.padEnd(intervalWidth)}  ${descriptions[i]!.padEnd(descriptionWidth)}  ${r.note}`.trimEnd());
  });
  return `${lines.join('\n')}\n`;
}

function renderViolationHtml(violation: KeyViolation): string {
  const rows = rowsOf(violation);
  const { fromMs, toMs } = timeSpan(violation.window);
  const processes = processesOf(rows);
  const labelPx = 60;
  const plotPx = 900;
  const rowPx = 28;
  const barPx = 18;
  const x = (t: number): number => labelPx + ((t - fromMs) / (toMs - fromMs)) * plotPx;
  const heightPx = processes.length * rowPx + 30;
  const shapes: string[] = [];
  processes.forEach((process, lane) => {
    const y = lane * rowPx + 4;
    shapes.push(`<text x="4" y="${y + 14}">p${process}</text>`);
    for (const row of rows.filter((r) => r.op.process === process)) {
      const x1 = x(row.op.invokeMs);
      const w = Math.max(3, x(row.op.completeMs) - x1);
      const classes = `${row.role}${row.op.outcome === 'info' ? ' unknown' : ''}`;
      const tip = `${row.number}: ${describeOp(row.op)}${row.note === '' ? '' : `\n${row.note}`}`;
      shapes.push(`<rect class="${classes}" x="${x1.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barPx}" rx="3"><title>${escapeHtml(tip)}</title></rect>`);
      if (w > 8 * String(row.number).length + 4) shapes.push(`<text x="${(x1 + w / 2).toFixed(1)}" y="${y + 13}" text-anchor="middle">${row.number}</text>`);
    }
  });
  const axisY = processes.length * rowPx + 20;
  shapes.push(`<text x="${labelPx}" y="${axisY}">${fromMs.toFixed(timePrecision)} ms</text>`);
  shapes.push(`<text x="${labelPx + plotPx}" y="${axisY}" text-anchor="end">${toMs.toFixed(timePrecision)} ms</text>`);
  const table = rows
    .map((r) => `<tr class="${r.role}"><td>${r.number}</td><td>p${r.op.process}</td><td>${r.op.invokeMs.toFixed(timePrecision)}</td><td>${r.op.outcome === 'info' ? '?' : r.op.completeMs.toFixed(timePrecision)}</td><td>${escapeHtml(describeOp(r.op))}</td><td>${escapeHtml(r.note)}</td></tr>`)
    .join('\n');
  return `<section>
<h2>${escapeHtml(violation.key)}</h2>
${headline(violation).slice(1).map((line) => `<p>${escapeHtml(line)}</p>`).join('\n')}
<svg xmlns="http://www.w3.org/2000/svg" width="${labelPx + plotPx + 20}" height="${heightPx}">
${shapes.join('\n')}
</svg>
<table>
<tr><th>#</th><th>process</th><th>invoke ms</th><th>complete ms</th><th>operation</th><th>note</th></tr>
${table}
</table>
</section>`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
