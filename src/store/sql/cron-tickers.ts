/** Cron ticker rows, their seeding from code, and the occurrence rows planned from them. */

import { sql, type Kysely } from "kysely";
import { TickerQError, show } from "../../errors.js";
import { FINAL_STATUSES } from "../../lifecycle.js";
import type {
  CronTickerPatch,
  CronTickerQuery,
  CronTickerRecord,
  JobRecord,
  NewCronTicker,
  NewJob,
  Page,
  StoreSignal,
} from "../contract.js";
import type { SqlContext } from "./context.js";
import { chunks, paged } from "./context.js";
import { deleteJobRows, dueSignal, withDescendants } from "./jobs.js";
import { cronFromRow, cronToRow, intervalsIn, jobFromRow, jobToRow } from "./rows.js";
import type { CronTickersTable, Database, JobsTable } from "./schema.js";

type Signals = StoreSignal[];

export async function cronTickerInsert(ctx: SqlContext, ticker: NewCronTicker, signals: Signals): Promise<void> {
  try {
    await ctx.dialect.db.insertInto(ctx.t.cron_tickers).values(cronToRow(ticker)).execute();
  } catch (error) {
    if (ctx.dialect.isUniqueViolation(error)) {
      throw new TickerQError("INVALID_ARGUMENT", `cronTicker.id must be unique; ${show(ticker.id)} exists already`, {
        field: "id",
        cause: error,
      });
    }
    throw error;
  }
  signals.push({ type: "cron" });
}

export async function cronTickerGet(
  ctx: SqlContext,
  db: Kysely<Database>,
  id: string,
): Promise<CronTickerRecord | null> {
  const row = await db.selectFrom(ctx.t.cron_tickers).selectAll().where("id", "=", id).executeTakeFirst();
  return row ? cronFromRow(row) : null;
}

export async function cronTickerList(ctx: SqlContext, filter: CronTickerQuery): Promise<Page<CronTickerRecord>> {
  const { db } = ctx.dialect;
  const filtered = <Q extends { where: (...args: any[]) => Q }>(query: Q): Q => {
    let q = query;
    if (filter.function !== undefined) q = q.where("function", "=", filter.function);
    if (filter.enabled !== undefined) q = q.where("enabled", "=", filter.enabled ? 1 : 0);
    return q;
  };
  let rows = filtered(db.selectFrom(ctx.t.cron_tickers).selectAll()).orderBy("created_at").orderBy("id");
  rows = paged(rows, filter.limit, filter.offset);
  const items = (await rows.execute()).map(cronFromRow);
  // A page that is not full (and not past the end) already tells the total: no count. The
  // schedulers' reload of every enabled ticker is one statement, which an idle cluster repeats.
  const offset = filter.offset ?? 0;
  if ((filter.limit === undefined || items.length < filter.limit) && (items.length > 0 || offset === 0)) {
    return { items, total: offset + items.length };
  }
  const count = await filtered(
    db.selectFrom(ctx.t.cron_tickers).select((eb) => eb.fn.countAll().as("n")),
  ).executeTakeFirstOrThrow();
  return { items, total: Number(count.n) };
}

/** Idle occurrences are plans made from the old schedule: drop them so they are re-planned. */
async function deleteIdleOccurrences(ctx: SqlContext, db: Kysely<Database>, cronTickerId: string): Promise<void> {
  const rows = await db
    .selectFrom(ctx.t.jobs)
    .select("id")
    .where("cron_ticker_id", "=", cronTickerId)
    .where("status", "=", "Idle")
    .execute();
  await deleteJobRows(
    ctx,
    db,
    rows.map((r) => r.id),
  );
}

function patchToRow(patch: CronTickerPatch): Partial<CronTickersTable> {
  const set: Partial<CronTickersTable> = {};
  if (patch.expression !== undefined) set.expression = patch.expression;
  if (patch.timeZone !== undefined) set.time_zone = patch.timeZone;
  if (patch.request !== undefined) set.request = patch.request;
  if (patch.retries !== undefined) set.retries = patch.retries;
  if (patch.retryIntervals !== undefined) set.retry_intervals = intervalsIn(patch.retryIntervals);
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.priority !== undefined) set.priority = patch.priority;
  if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
  return set;
}

export async function cronTickerUpdate(
  ctx: SqlContext,
  id: string,
  patch: CronTickerPatch,
  now: Date,
  signals: Signals,
): Promise<CronTickerRecord | null> {
  const updated = await ctx.dialect.writeTx(async (tx) => {
    const result = await tx
      .updateTable(ctx.t.cron_tickers)
      .set({ ...patchToRow(patch), updated_at: now.getTime() })
      .where("id", "=", id)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return null;
    await deleteIdleOccurrences(ctx, tx, id);
    return cronTickerGet(ctx, tx, id);
  });
  if (updated) signals.push({ type: "cron" });
  return updated;
}

export async function cronTickerDelete(ctx: SqlContext, id: string, signals: Signals): Promise<boolean> {
  const deleted = await ctx.dialect.writeTx(async (tx) => {
    const occurrences = await tx.selectFrom(ctx.t.jobs).select("id").where("cron_ticker_id", "=", id).execute();
    await deleteJobRows(
      ctx,
      tx,
      await withDescendants(
        ctx,
        tx,
        occurrences.map((r) => r.id),
      ),
    );
    const result = await tx.deleteFrom(ctx.t.cron_tickers).where("id", "=", id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  });
  if (deleted) signals.push({ type: "cron" });
  return deleted;
}

/** The fields code owns for a seeded ticker; operators own `enabled` and `request`. */
function seededFields(ticker: NewCronTicker): Partial<CronTickersTable> {
  return {
    function: ticker.function,
    expression: ticker.expression,
    time_zone: ticker.timeZone,
    retries: ticker.retries,
    retry_intervals: intervalsIn(ticker.retryIntervals),
    description: ticker.description,
    priority: ticker.priority,
  };
}

/**
 * Insert-if-absent keyed by the unique `seeded_by`, then bring the row in line with the code.
 * Several nodes may do this at once: the unique key picks one row, and their updates agree.
 */
export async function cronTickerSeed(
  ctx: SqlContext,
  tickers: readonly NewCronTicker[],
  now: Date,
  signals: Signals,
): Promise<CronTickerRecord[]> {
  const out: CronTickerRecord[] = [];
  let changed = false;
  for (const ticker of tickers) {
    const seededBy = ticker.seededBy ?? ticker.function;
    const insert = ctx.dialect.insertIgnoringDuplicates(
      ctx.dialect.db.insertInto(ctx.t.cron_tickers).values({ ...cronToRow(ticker), seeded_by: seededBy }),
    );
    changed = ctx.dialect.insertedRows(await insert.execute()) > 0 || changed;
    const record = await ctx.dialect.writeTx(async (tx) => {
      let query = tx.selectFrom(ctx.t.cron_tickers).selectAll().where("seeded_by", "=", seededBy);
      if (ctx.dialect.skipLocked) query = query.forUpdate();
      const row = await query.executeTakeFirstOrThrow();
      const wanted = seededFields(ticker);
      const differs = (Object.keys(wanted) as (keyof CronTickersTable)[]).some((key) => wanted[key] !== row[key]);
      if (!differs) return cronFromRow(row);
      await tx
        .updateTable(ctx.t.cron_tickers)
        .set({ ...wanted, updated_at: now.getTime() })
        .where("id", "=", row.id)
        .execute();
      if (wanted.expression !== row.expression || wanted.time_zone !== row.time_zone)
        await deleteIdleOccurrences(ctx, tx, row.id);
      changed = true;
      return cronFromRow({ ...row, ...wanted, updated_at: now.getTime() });
    });
    out.push(record);
  }
  if (changed) signals.push({ type: "cron" });
  return out;
}

/** The unique (cron_ticker_id, occurrence_time) key makes a second insert of one instant a no-op. */
export async function occurrenceInsertMany(
  ctx: SqlContext,
  occurrences: readonly NewJob[],
  signals: Signals,
): Promise<number> {
  let inserted = 0;
  for (const part of chunks(occurrences)) {
    const rows = part.map((job) =>
      jobToRow(job, job.cronTickerId && job.executionTime ? job.executionTime.getTime() : null),
    );
    const result = await ctx.dialect
      .insertIgnoringDuplicates(ctx.dialect.db.insertInto(ctx.t.jobs).values(rows))
      .execute();
    inserted += ctx.dialect.insertedRows(result);
  }
  const due = inserted > 0 ? dueSignal(occurrences) : null;
  if (due) signals.push(due);
  return inserted;
}

/**
 * Of each cron ticker, the occurrence that ended last (greatest updated_at, then id): one
 * statement per chunk of tickers, each picking its row with a correlated subquery through the
 * jobs' cron_ticker_id index.
 */
export async function occurrenceLastEnded(
  ctx: SqlContext,
  cronTickerIds: readonly string[],
): Promise<Record<string, JobRecord>> {
  const jobs = sql.table(ctx.t.jobs);
  const last: Record<string, JobRecord> = {};
  for (const part of chunks(cronTickerIds)) {
    const { rows } = await sql<JobsTable>`select * from ${jobs} where id in (
      select (
        select o.id from ${jobs} o
        where o.cron_ticker_id = c.id and o.type = 'CronTickerOccurrence'
          and o.status in (${sql.join(FINAL_STATUSES)})
        order by o.updated_at desc, o.id desc limit 1
      ) from ${sql.table(ctx.t.cron_tickers)} c where c.id in (${sql.join(part)})
    )`.execute(ctx.dialect.db);
    for (const row of rows) {
      const job = jobFromRow(row);
      if (job.cronTickerId !== null) last[job.cronTickerId] = job;
    }
  }
  return last;
}
