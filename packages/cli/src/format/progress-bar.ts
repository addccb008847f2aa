import { formatBytes } from './data-text.js';

/** A transfer shorter than this shows no bar at all. */
const progressDelayMs = 500;
/** Redraws at most this often. */
const progressRedrawMs = 100;
const barCells = 24;

export interface Progress {
  update(doneBytes: number): void;
  /** Clears the bar (the caller prints the outcome). Idempotent. */
  finish(): void;
}

export const noProgress: Progress = { update: () => undefined, finish: () => undefined };

/**
 * One line on a terminal's stderr, redrawn in place: `label [#####·····] 12.0 MiB / 40.0 MiB 30%`.
 * It appears only once a transfer has run for half a second; callers create it only when stderr
 * is a TTY, so logs and pipes never see carriage returns.
 */
export function progressBar(options: { write: (text: string) => void; label: string; totalBytes: number | null; nowMs?: () => number }): Progress {
  const now = options.nowMs ?? (() => performance.now());
  const started = now();
  let drawnAt = -Infinity;
  let drawn = false;
  let finished = false;
  return {
    update(doneBytes) {
      if (finished) return;
      const t = now();
      if (t - started < progressDelayMs || t - drawnAt < progressRedrawMs) return;
      drawnAt = t;
      drawn = true;
      const total = options.totalBytes;
      let text = `${options.label} ${formatBytes(doneBytes)}`;
      if (total !== null && total > 0) {
        const ratio = Math.min(1, doneBytes / total);
        const full = Math.round(ratio * barCells);
        text = `${options.label} [${'#'.repeat(full)}${'·'.repeat(barCells - full)}] ${formatBytes(doneBytes)} / ${formatBytes(total)} ${Math.floor(ratio * 100)}%`;
      }
      options.write(`\r\u001b[2K${text}`);
    },
    finish() {
      if (finished) return;
      finished = true;
      if (drawn) options.write('\r\u001b[2K');
    },
  };
}
