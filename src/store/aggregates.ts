/**
 * Store-side aggregates: job counts per (type, function, status) and the rollup of finished
 * runs per minute, hour and day, with the duration and lateness histograms that per-function
 * percentiles are read from. Every store keeps them as jobs change, so reading them costs the
 * same at a million jobs as at a thousand. This module owns their shapes, the histogram bins,
 * the retention of each span, and turning rollups into series and per-function stats.
 */

import type { FinalStatus, TickerStatus, TickerType } from "../lifecycle.js";
import type { AttemptRecord, JobRecord } from "./contract.js";

/** How many jobs there are of one type and function in one status. */
export interface JobCount {
  type: TickerType;
  function: string;
  status: TickerStatus;
  count: number;
}

export type RollupSpan = "minute" | "hour" | "day";

export const SPAN_MS: Readonly<Record<RollupSpan, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** How long each span's buckets are kept: a day view needs minutes, a week hours, a year days. */
export const ROLLUP_RETENTION_MS: Readonly<Record<RollupSpan, number>> = {
  minute: 2 * 86_400_000,
  hour: 35 * 86_400_000,
  day: 400 * 86_400_000,
};

/**
 * Histogram bins in milliseconds: bin 0 holds values below 1 ms, bin k (1 ≤ k < 23) holds
 * [2^(k-1), 2^k), and the last bin everything from 2^22 ms (about 70 minutes) up. A
 * percentile read from them is within a factor of √2 of the truth: plenty for a dashboard.
 */
export const HISTOGRAM_BINS = 24;

/** The [low, high) bounds of bin `k`; the last bin's high is Infinity. */
export function binBounds(k: number): [number, number] {
  if (k === 0) return [Number.NEGATIVE_INFINITY, 1];
  return [2 ** (k - 1), k === HISTOGRAM_BINS - 1 ? Number.POSITIVE_INFINITY : 2 ** k];
}

export function binOf(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.log2(ms)) + 1);
}

/**
 * Finished runs of one function ending in one status within one bucket. Superseded runs are
 * not counted: they changed nothing. Lateness (start minus the intended time) is counted for
 * first attempts only: retries are late by design.
 */
export interface RunRollup {
  span: RollupSpan;
  /** The bucket's start (a multiple of the span since the epoch, UTC). */
  at: Date;
  function: string;
  status: FinalStatus;
  runs: number;
  durationMsSum: number;
  /** Runs per duration bin (HISTOGRAM_BINS entries). */
  durationBins: number[];
  /** First attempts per lateness bin (HISTOGRAM_BINS entries). */
  latenessBins: number[];
}

/** The bucket start of `ms` in `span`. */
export function bucketOf(span: RollupSpan, ms: number): number {
  return Math.floor(ms / SPAN_MS[span]) * SPAN_MS[span];
}

/**
 * The rollup contributions of one finished attempt: one per span. `job` gives the function and
 * the intended time (null when the job is gone).
 */
export function attemptRollups(
  attempt: AttemptRecord,
  job: Pick<JobRecord, "function" | "scheduledFor"> | null,
): RunRollup[] {
  if (attempt.superseded) return [];
  const durationBins = new Array<number>(HISTOGRAM_BINS).fill(0);
  const latenessBins = new Array<number>(HISTOGRAM_BINS).fill(0);
  durationBins[binOf(attempt.elapsedMs)]! += 1;
  if (attempt.attempt === 0 && job?.scheduledFor)
    latenessBins[binOf(attempt.startedAt.getTime() - job.scheduledFor.getTime())]! += 1;
  return (Object.keys(SPAN_MS) as RollupSpan[]).map((span) => ({
    span,
    at: new Date(bucketOf(span, attempt.finishedAt.getTime())),
    function: job?.function ?? "",
    status: attempt.status,
    runs: 1,
    durationMsSum: attempt.elapsedMs,
    durationBins: [...durationBins],
    latenessBins: [...latenessBins],
  }));
}

const rollupKey = (r: RunRollup) => `${r.span}|${r.at.getTime()}|${r.function}|${r.status}`;

/** Adds rollups with the same (span, bucket, function, status) together; order: bucket, function, status. */
export function mergeRollups(rollups: Iterable<RunRollup>): RunRollup[] {
  const merged = new Map<string, RunRollup>();
  for (const r of rollups) {
    const key = rollupKey(r);
    const into = merged.get(key);
    if (!into) {
      merged.set(key, { ...r, durationBins: [...r.durationBins], latenessBins: [...r.latenessBins] });
      continue;
    }
    into.runs += r.runs;
    into.durationMsSum += r.durationMsSum;
    for (let k = 0; k < HISTOGRAM_BINS; k++) {
      into.durationBins[k]! += r.durationBins[k] ?? 0;
      into.latenessBins[k]! += r.latenessBins[k] ?? 0;
    }
  }
  return [...merged.values()].sort(
    (a, b) =>
      a.at.getTime() - b.at.getTime() || a.function.localeCompare(b.function) || a.status.localeCompare(b.status),
  );
}

/**
 * The rollup as the memory store keeps it: one entry per (span, bucket, function, status),
 * added to as attempts are appended.
 */
export class RollupBook {
  private readonly entries = new Map<string, RunRollup>();

  add(attempt: AttemptRecord, job: Pick<JobRecord, "function" | "scheduledFor"> | null): void {
    for (const r of attemptRollups(attempt, job)) {
      const key = rollupKey(r);
      const into = this.entries.get(key);
      this.entries.set(key, into ? mergeRollups([into, r])[0]! : r);
    }
  }

  list(span: RollupSpan, from: Date, to: Date): RunRollup[] {
    const out: RunRollup[] = [];
    for (const r of this.entries.values()) {
      const t = r.at.getTime();
      if (r.span === span && t >= from.getTime() && t < to.getTime())
        out.push({ ...r, durationBins: [...r.durationBins], latenessBins: [...r.latenessBins] });
    }
    return mergeRollups(out);
  }

  /** Drops buckets past their span's retention. */
  prune(now: Date): void {
    for (const [key, r] of this.entries) {
      if (r.at.getTime() < now.getTime() - ROLLUP_RETENTION_MS[r.span]) this.entries.delete(key);
    }
  }
}

/** An estimate of the `q` quantile from histogram bins: the geometric middle of the bin it falls in. */
export function binQuantile(bins: readonly number[], q: number): number | null {
  const total = bins.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let k = 0; k < bins.length; k++) {
    seen += bins[k]!;
    if (seen >= rank) {
      if (k === 0) return 0;
      const [low, high] = binBounds(k);
      return Math.round(Number.isFinite(high) ? Math.sqrt(low * high) : low);
    }
  }
  return null;
}

export const SUCCEEDED: readonly FinalStatus[] = ["Done", "DueDone"];

/** Runs, failures, duration and lateness of one function over a window. */
export interface FunctionStats {
  function: string;
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  skipped: number;
  /** failed / runs, 0 when there were no runs. */
  failureRate: number;
  durationMs: { avg: number | null; p50: number | null; p95: number | null };
  latenessMs: { samples: number; p50: number | null; p95: number | null };
}

export function functionStats(rollups: readonly RunRollup[]): FunctionStats[] {
  const by = new Map<string, { stats: FunctionStats; duration: number[]; lateness: number[]; sum: number }>();
  for (const r of rollups) {
    let entry = by.get(r.function);
    if (!entry) {
      entry = {
        stats: {
          function: r.function,
          runs: 0,
          succeeded: 0,
          failed: 0,
          cancelled: 0,
          skipped: 0,
          failureRate: 0,
          durationMs: { avg: null, p50: null, p95: null },
          latenessMs: { samples: 0, p50: null, p95: null },
        },
        duration: new Array<number>(HISTOGRAM_BINS).fill(0),
        lateness: new Array<number>(HISTOGRAM_BINS).fill(0),
        sum: 0,
      };
      by.set(r.function, entry);
    }
    const s = entry.stats;
    s.runs += r.runs;
    if (SUCCEEDED.includes(r.status)) s.succeeded += r.runs;
    else if (r.status === "Failed") s.failed += r.runs;
    else if (r.status === "Cancelled") s.cancelled += r.runs;
    else s.skipped += r.runs;
    entry.sum += r.durationMsSum;
    for (let k = 0; k < HISTOGRAM_BINS; k++) {
      entry.duration[k]! += r.durationBins[k] ?? 0;
      entry.lateness[k]! += r.latenessBins[k] ?? 0;
    }
  }
  return [...by.values()]
    .map(({ stats, duration, lateness, sum }) => ({
      ...stats,
      failureRate: stats.runs === 0 ? 0 : stats.failed / stats.runs,
      durationMs: {
        avg: stats.runs === 0 ? null : Math.round(sum / stats.runs),
        p50: binQuantile(duration, 0.5),
        p95: binQuantile(duration, 0.95),
      },
      latenessMs: {
        samples: lateness.reduce((a, b) => a + b, 0),
        p50: binQuantile(lateness, 0.5),
        p95: binQuantile(lateness, 0.95),
      },
    }))
    .sort((a, b) => a.function.localeCompare(b.function));
}
