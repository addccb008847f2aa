/**
 * Latency samples in milliseconds. A benchmark step holds at most a few hundred thousand samples,
 * so keeping them all and sorting once is exact and cheap enough; no bucketed histogram needed.
 */
export const samplesMax = 5_000_000;

export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private length = 0;

  record(ms: number): void {
    if (this.length === this.samples.length) {
      if (this.length >= samplesMax) return;
      const bigger = new Float64Array(Math.min(samplesMax, this.length * 2));
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.length++] = ms;
  }

  get count(): number {
    return this.length;
  }

  summary(): LatencySummary {
    const sorted = this.samples.slice(0, this.length).sort();
    return {
      count: this.length,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      p999Ms: quantile(sorted, 0.999),
      maxMs: this.length === 0 ? Number.NaN : sorted[this.length - 1]!,
    };
  }
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

/** Nearest-rank quantile of ascending `sorted`. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
