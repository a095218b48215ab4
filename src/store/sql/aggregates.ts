/**
 * Reading and compacting the aggregates of migration 5: job counts and the run rollup. A read
 * sums the folded totals and the increments the triggers appended since; compaction folds the
 * increments into the totals and drops rollup buckets past retention.
 */

import { sql } from "kysely";
import type { Kysely } from "kysely";
import type { FinalStatus, TickerStatus, TickerType } from "../../lifecycle.js";
import { HISTOGRAM_BINS, ROLLUP_RETENTION_MS, SPAN_MS, type RollupSpan } from "../aggregates.js";
import type { JobCount, RunRollup } from "../contract.js";
import type { SqlContext } from "./context.js";
import type { Database } from "./schema.js";

const D = Array.from({ length: HISTOGRAM_BINS }, (_, k) => `d${k}`);
const L = Array.from({ length: HISTOGRAM_BINS }, (_, k) => `l${k}`);
const SUMMED = ["runs", "duration_sum", ...D, ...L];
/** Two compactions at once would only wait on each other's rows: one key for PostgreSQL's advisory lock. */
const COMPACT_LOCK = 0x74715f61;

function q(ctx: SqlContext, qualified: string): string {
  const mark = ctx.dialect.kind === "mysql" ? "`" : '"';
  return qualified
    .split(".")
    .map((part) => `${mark}${part}${mark}`)
    .join(".");
}

const num = (value: unknown): number => Number(value ?? 0);

export async function jobCountList(ctx: SqlContext): Promise<JobCount[]> {
  const fn = q(ctx, "function");
  const counts = q(ctx, ctx.t.job_counts);
  const deltas = q(ctx, ctx.t.job_count_deltas);
  const { rows } = await sql<{ type: string; function: string; status: string; n: unknown }>`${sql.raw(`
    select type, ${fn} as ${fn}, status, sum(n) as n from (
      select type, ${fn}, status, n from ${counts}
      union all select type, ${fn}, status, delta from ${deltas}) x
    group by type, ${fn}, status`)}`.execute(ctx.dialect.db);
  return rows
    .map((row) => ({
      type: row.type as TickerType,
      function: row.function,
      status: row.status as TickerStatus,
      count: num(row.n),
    }))
    .filter((row) => row.count !== 0);
}

export async function runRollupList(ctx: SqlContext, span: RollupSpan, from: Date, to: Date): Promise<RunRollup[]> {
  const fn = q(ctx, "function");
  const spanMs = SPAN_MS[span];
  // Rows come back as they are stored, the folded totals and the increments appended since,
  // and are summed here: summing 48 bigint bins per group in SQL runs them through numeric
  // (a week by the hour: ~50 ms of the server's time, plus ~20 ms planning the expression).
  // The bins travel as one comma-joined text: a row object with 50 numeric properties costs
  // the driver far more to build than the text costs to split.
  const bins = [...D, ...L];
  const packed = ctx.dialect.kind === "mysql" ? `concat_ws(',', ${bins.join(", ")})` : bins.join(` || ',' || `);
  const columns = `bucket, ${fn} as ${fn}, status, runs, duration_sum, ${packed} as bins`;
  const where = `span_ms = ${spanMs} and bucket >= ${Math.floor(from.getTime())} and bucket < ${Math.floor(to.getTime())}`;
  const { rows } = await sql<Record<string, unknown>>`${sql.raw(`
    select ${columns} from ${q(ctx, ctx.t.run_rollup)} where ${where}
    union all select ${columns} from ${q(ctx, ctx.t.run_rollup_deltas)} where ${where}`)}`.execute(ctx.dialect.db);
  const groups = new Map<string, RunRollup>();
  for (const row of rows) {
    const at = num(row.bucket);
    const key = `${at}\u0000${String(row.function)}\u0000${String(row.status)}`;
    const values = String(row.bins).split(",").map(Number);
    let group = groups.get(key);
    if (group === undefined) {
      group = {
        span,
        at: new Date(at),
        function: String(row.function),
        status: row.status as FinalStatus,
        runs: 0,
        durationMsSum: 0,
        durationBins: new Array<number>(HISTOGRAM_BINS).fill(0),
        latenessBins: new Array<number>(HISTOGRAM_BINS).fill(0),
      };
      groups.set(key, group);
    }
    group.runs += num(row.runs);
    group.durationMsSum += num(row.duration_sum);
    for (let k = 0; k < HISTOGRAM_BINS; k++) {
      group.durationBins[k]! += values[k] ?? 0;
      group.latenessBins[k]! += values[HISTOGRAM_BINS + k] ?? 0;
    }
  }
  // In the order the contract promises: bucket, then function, then status.
  return [...groups.values()].sort(
    (a, b) =>
      a.at.getTime() - b.at.getTime() ||
      (a.function < b.function ? -1 : a.function > b.function ? 1 : 0) ||
      (a.status < b.status ? -1 : a.status > b.status ? 1 : 0),
  );
}

/** When each store last pruned its rollup past retention (by the `now` it was given). */
const prunedAt = new WeakMap<SqlContext, number>();
/** Rollup buckets are kept for days: pruning them once an hour is plenty. */
const PRUNE_EVERY_MS = 3_600_000;

/** Folds the appended increments into the totals, then prunes old rollup buckets. */
export async function aggregateCompact(ctx: SqlContext, now: Date): Promise<void> {
  const { dialect, t } = ctx;
  const fn = q(ctx, "function");
  const counts = q(ctx, t.job_counts);
  const countDeltas = q(ctx, t.job_count_deltas);
  const rollup = q(ctx, t.run_rollup);
  const rollupDeltas = q(ctx, t.run_rollup_deltas);
  const rollupKey = `span_ms, bucket, ${fn}, status`;
  const rollupSums = SUMMED.map((c) => `sum(${c})`).join(", ");
  const run = (db: Kysely<Database>, text: string) => sql.raw(text).execute(db);

  const prune = now.getTime() - (prunedAt.get(ctx) ?? Number.NEGATIVE_INFINITY) >= PRUNE_EVERY_MS;
  if (!prune) {
    // Nothing appended since the last fold and no prune due: an idle cluster's compaction is
    // this one read (it was a transaction of eight statements a minute).
    const { rows } = await sql<{ counts: unknown; runs: unknown }>`${sql.raw(
      `select exists(select 1 from ${countDeltas}) as counts, exists(select 1 from ${rollupDeltas}) as runs`,
    )}`.execute(dialect.db);
    const appended = (value: unknown) => value === true || Number(value) > 0;
    if (!appended(rows[0]?.counts) && !appended(rows[0]?.runs)) return;
  }

  let pruned = false;
  await dialect.writeTx(async (tx) => {
    if (dialect.kind === "postgres") {
      const { rows } = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(${COMPACT_LOCK}) as locked`.execute(tx);
      if (!rows[0]?.locked) return;
      // DELETE … RETURNING takes exactly the increments this statement sees, so one committed
      // meanwhile stays for the next compaction instead of being deleted uncounted.
      await run(
        tx,
        `with d as (delete from ${countDeltas} returning type, ${fn}, status, delta)
        insert into ${counts} (type, ${fn}, status, n)
        select type, ${fn}, status, sum(delta) from d group by type, ${fn}, status
        on conflict (type, ${fn}, status) do update set n = ${counts}.n + excluded.n`,
      );
      await run(
        tx,
        `with d as (delete from ${rollupDeltas} returning ${rollupKey}, ${SUMMED.join(", ")})
        insert into ${rollup} (${rollupKey}, ${SUMMED.join(", ")})
        select ${rollupKey}, ${rollupSums} from d group by ${rollupKey} order by ${rollupKey}
        on conflict (${rollupKey}) do update set ${SUMMED.map((c) => `${c} = ${rollup}.${c} + excluded.${c}`).join(", ")}`,
      );
    } else {
      // SQLite: the write transaction is the only writer. MySQL (READ COMMITTED): the locking
      // read waits for any increment below the bound still uncommitted, so the fold that
      // follows sees every row the delete removes.
      for (const [deltas, fold] of [
        [
          countDeltas,
          (bound: number) =>
            `insert into ${counts} (type, ${fn}, status, n)
            select type, ${fn}, status, sum(delta) from ${countDeltas} where seq <= ${bound}
            group by type, ${fn}, status ${upsert(ctx, ["type", fn, "status"], ["n"], counts)}`,
        ],
        [
          rollupDeltas,
          (bound: number) =>
            `insert into ${rollup} (${rollupKey}, ${SUMMED.join(", ")})
            select ${rollupKey}, ${rollupSums} from ${rollupDeltas} where seq <= ${bound}
            group by ${rollupKey} ${upsert(ctx, ["span_ms", "bucket", fn, "status"], SUMMED, rollup)}`,
        ],
      ] as const) {
        const { rows } = await sql<{ m: unknown }>`${sql.raw(`select max(seq) as m from ${deltas}`)}`.execute(tx);
        const bound = rows[0]?.m;
        if (bound === null || bound === undefined) continue;
        if (dialect.kind === "mysql") await run(tx, `select seq from ${deltas} where seq <= ${num(bound)} for update`);
        await run(tx, fold(num(bound)));
        await run(tx, `delete from ${deltas} where seq <= ${num(bound)}`);
      }
    }
    await run(tx, `delete from ${counts} where n = 0`);
    if (!prune) return;
    for (const span of Object.keys(SPAN_MS) as RollupSpan[]) {
      const before = now.getTime() - ROLLUP_RETENTION_MS[span];
      await run(tx, `delete from ${rollup} where span_ms = ${SPAN_MS[span]} and bucket < ${before}`);
    }
    pruned = true;
  });
  if (pruned) prunedAt.set(ctx, now.getTime());
}

/** The dialect's "add to the existing row" clause for an INSERT … SELECT. */
function upsert(ctx: SqlContext, key: readonly string[], summed: readonly string[], table: string): string {
  if (ctx.dialect.kind === "mysql")
    return `on duplicate key update ${summed.map((c) => `${c} = ${c} + values(${c})`).join(", ")}`;
  return `on conflict (${key.join(", ")}) do update set ${summed.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(", ")}`;
}
