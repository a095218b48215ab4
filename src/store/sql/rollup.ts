/**
 * The run rollup a writer appends for a batch of attempts itself (migration 8, `rolled_up`):
 * the rows migration 5's trigger would have appended one by one, merged per (span, bucket,
 * function, status). The bins are aggregates.ts's, of the stored whole milliseconds; lateness
 * counts for first attempts of jobs with an intended time; superseded runs count for nothing.
 * The batch is grouped per minute first, then spread over the spans: minutes nest in hours
 * and days.
 */

import { HISTOGRAM_BINS, SPAN_MS, binOf, bucketOf, type RollupSpan } from "../aggregates.js";
import type { AttemptRecord } from "../contract.js";

/** The columns of a rollup row, in the order batchRollup gives their values. */
export const ROLLUP_COLUMNS = [
  "span_ms",
  "bucket",
  "function",
  "status",
  "runs",
  "duration_sum",
  ...Array.from({ length: HISTOGRAM_BINS }, (_, k) => `d${k}`),
  ...Array.from({ length: HISTOGRAM_BINS }, (_, k) => `l${k}`),
] as const;

/** An attempt with what its job adds: the function and the intended time (ms), as stored. */
export interface RolledAttempt {
  attempt: AttemptRecord;
  function: string | null;
  scheduledFor: number | string | null;
}

/** The rollup rows of these attempts, each a list of values in ROLLUP_COLUMNS order. */
export function batchRollup(attempts: readonly RolledAttempt[]): (string | number)[][] {
  const groups = new Map<
    string,
    { minute: number; fn: string; status: string; d: number; l: number; n: number; ms: number }
  >();
  for (const { attempt: a, function: name, scheduledFor } of attempts) {
    if (a.superseded) continue;
    const fn = name ?? "";
    const elapsed = Math.round(a.elapsedMs);
    const at = bucketOf("minute", a.finishedAt.getTime());
    const d = binOf(elapsed);
    const l = a.attempt === 0 && scheduledFor !== null ? binOf(a.startedAt.getTime() - Number(scheduledFor)) : -1;
    const key = `${at}|${fn}|${a.status}|${d}|${l}`;
    const group = groups.get(key);
    if (group) {
      group.n++;
      group.ms += elapsed;
    } else groups.set(key, { minute: at, fn, status: a.status, d, l, n: 1, ms: elapsed });
  }
  const rows = new Map<string, { key: [number, number, string, string]; runs: number; ms: number; bins: number[] }>();
  for (const g of groups.values()) {
    for (const unit of Object.keys(SPAN_MS) as RollupSpan[]) {
      const span = SPAN_MS[unit];
      const bucket = bucketOf(unit, g.minute);
      const id = `${span}|${bucket}|${g.fn}|${g.status}`;
      let row = rows.get(id);
      if (!row) {
        row = {
          key: [span, bucket, g.fn, g.status],
          runs: 0,
          ms: 0,
          bins: new Array<number>(2 * HISTOGRAM_BINS).fill(0),
        };
        rows.set(id, row);
      }
      row.runs += g.n;
      row.ms += g.ms;
      row.bins[g.d]! += g.n;
      if (g.l >= 0) row.bins[HISTOGRAM_BINS + g.l]! += g.n;
    }
  }
  return [...rows.values()].map((row) => [...row.key, row.runs, row.ms, ...row.bins]);
}
