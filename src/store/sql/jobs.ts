/** Job rows outside the lease path: insert, read, list, count, edit, requeue, delete, purge, history. */

import type { Kysely, RawBuilder, SelectQueryBuilder } from "kysely";
import { sql } from "kysely";
import { duplicateId, TickerQError } from "../../errors.js";
import { FINAL_STATUSES, PRIORITY_RANK, TICKER_STATUSES } from "../../lifecycle.js";
import type { TickerStatus } from "../../lifecycle.js";
import type {
  AttemptRecord,
  JobPatch,
  JobQuery,
  JobRecord,
  NewJob,
  Page,
  StoreSignal,
  UpdateResult,
} from "../contract.js";
import type { SqlContext } from "./context.js";
import { chunks, paged } from "./context.js";
import type { CallerExecutor } from "./dialect.js";
import { attemptFromRow, intervalsIn, jobFromRow, jobToRow, msOrNull, toDateOrNull } from "./rows.js";
import type { Database, JobsTable } from "./schema.js";

export function dueSignal(jobs: readonly { executionTime: Date | null }[]): StoreSignal | null {
  let earliest: number | null = null;
  for (const job of jobs) {
    const time = job.executionTime?.getTime();
    if (time !== undefined && (earliest === null || time < earliest)) earliest = time;
  }
  return earliest === null ? null : { type: "due", at: new Date(earliest) };
}

/**
 * One statement on PostgreSQL; elsewhere one multi-row INSERT per chunk, run in one transaction
 * (ours or the caller's) when there are several.
 */
export async function jobInsert(
  ctx: SqlContext,
  jobs: readonly NewJob[],
  caller: CallerExecutor | null,
  /** A signal expression (pg_notify) sent with the insert's own commit. */
  notify?: RawBuilder<unknown>,
): Promise<void> {
  const { dialect, t } = ctx;
  const insert = (db: Kysely<Database>, rows: JobsTable[]) => db.insertInto(t.jobs).values(rows);
  try {
    if (dialect.insertJobs) {
      // PostgreSQL: COPY for a large batch, else one JSON parameter expanded by the server (no
      // 65k-parameter ceiling, no chunks, far less work per row than a parameter per column).
      await dialect.insertJobs(t.jobs, jobs, caller, notify);
      return;
    }
    const batches = chunks(jobs.map((job) => jobToRow(job, null)));
    if (caller) {
      for (const rows of batches) await caller(insert(dialect.db, rows).compile());
    } else if (batches.length === 1 && notify) {
      const rows = batches[0] ?? [];
      await sql`with inserted as (${insert(dialect.db, rows).returning("id")})
        select ${notify} where exists (select 1 from inserted)`.execute(dialect.db);
    } else if (batches.length === 1) {
      await insert(dialect.db, batches[0] ?? []).execute();
    } else {
      await dialect.writeTx(async (tx) => {
        for (const rows of batches) await insert(tx, rows).execute();
        if (notify) await sql`select ${notify}`.execute(tx);
      });
    }
  } catch (error) {
    if (dialect.isUniqueViolation(error)) throw await duplicateIdError(ctx, jobs, error);
    throw error;
  }
}

/** Up to this many ids, a refused batch is looked up to name the id that exists already. */
const NAMED_DUPLICATE_LOOKUP = 1000;

/**
 * The error for a batch the unique key refused, naming the id as the memory store does: one
 * the batch repeats, else one stored already (looked up outside the batch's transaction, so an
 * id the caller's own transaction inserted earlier is not found, and the message says less).
 */
async function duplicateIdError(ctx: SqlContext, jobs: readonly NewJob[], cause: unknown): Promise<TickerQError> {
  const seen = new Set<string>();
  for (const job of jobs) {
    if (seen.has(job.id)) return duplicateId(job.id, "appears twice in the batch", cause);
    seen.add(job.id);
  }
  const stored =
    jobs.length <= NAMED_DUPLICATE_LOOKUP
      ? await ctx.dialect.db
          .selectFrom(ctx.t.jobs)
          .select("id")
          .where("id", "in", [...seen])
          .limit(1)
          .executeTakeFirst()
          .catch(() => undefined)
      : undefined;
  if (stored) return duplicateId(stored.id, "already exists", cause);
  return new TickerQError(
    "INVALID_ARGUMENT",
    "jobs[].id must be unique; the batch repeats an id or reuses an existing one, so nothing was inserted",
    { cause, field: "id" },
  );
}

export async function jobGet(ctx: SqlContext, db: Kysely<Database>, id: string): Promise<JobRecord | null> {
  const row = await db.selectFrom(ctx.t.jobs).selectAll().where("id", "=", id).executeTakeFirst();
  return row ? jobFromRow(row) : null;
}

/** LIKE pattern for a literal substring; '!' escapes because backslash means different things per dialect. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[!%_]/g, (c) => `!${c}`)}%`;
}

function applyFilters<O>(
  ctx: SqlContext,
  query: SelectQueryBuilder<Database, "jobs", O>,
  filter: JobQuery,
): SelectQueryBuilder<Database, "jobs", O> {
  let q = query;
  if (filter.type) q = q.where("type", "=", filter.type);
  if (filter.status !== undefined) {
    const statuses = typeof filter.status === "string" ? [filter.status] : [...filter.status];
    q = statuses.length === 0 ? q.where(sql<boolean>`1 = 0`) : q.where("status", "in", statuses);
  }
  if (filter.function !== undefined) q = q.where("function", "=", filter.function);
  if (filter.cronTickerId !== undefined) q = q.where("cron_ticker_id", "=", filter.cronTickerId);
  if (filter.parentId === null) q = q.where("parent_id", "is", null);
  else if (filter.parentId !== undefined) q = q.where("parent_id", "=", filter.parentId);
  if (filter.from) q = q.where("execution_time", ">=", filter.from.getTime());
  if (filter.to) q = q.where("execution_time", "<", filter.to.getTime());
  if (filter.updatedSince) q = q.where("updated_at", ">", filter.updatedSince.getTime());
  if (filter.search) q = q.where(searchCondition(ctx, filter.search, filter.searchRequest === true));
  return q;
}

/** Shorter substrings have no trigram: they scan. */
const INDEXED_SEARCH_MIN = 3;

/**
 * A case-insensitive substring of id, function or description (and request when asked), in
 * the dialect's indexed form when it has one (SqlDialect.searchCondition): the same matches either way.
 */
function searchCondition(ctx: SqlContext, text: string, withRequest: boolean): RawBuilder<boolean> {
  const pattern = likePattern(text);
  const like = (expression: RawBuilder<unknown>) => sql<boolean>`${expression} like ${pattern} escape '!'`;
  const lower = (column: "id" | "function" | "description" | "request") => sql`lower(${sql.ref(column)})`;
  const scan = () => {
    const columns = [like(lower("id")), like(lower("function")), like(lower("description"))];
    if (withRequest) columns.push(like(lower("request")));
    return sql<boolean>`(${sql.join(columns, sql` or `)})`;
  };
  const indexed =
    [...text].length >= INDEXED_SEARCH_MIN ? ctx.dialect.searchCondition?.(ctx, text, withRequest, like) : null;
  return indexed ?? scan();
}

const ORDER_COLUMNS = { executionTime: "execution_time", updatedAt: "updated_at", createdAt: "created_at" } as const;

export async function jobList(ctx: SqlContext, filter: JobQuery): Promise<Page<JobRecord>> {
  const { db } = ctx.dialect;
  const column = ORDER_COLUMNS[filter.orderBy ?? "executionTime"];
  const direction = filter.order ?? "desc";
  // Only a child waiting for its parent lacks an executionTime (and a time bound excludes it):
  // the other lists and sort keys never meet a NULL and order by the column, from an index.
  const nullable = column === "execution_time" && filter.parentId !== null && !filter.from && !filter.to;
  // async: a filter that throws rejects this promise, never leaves the page query beside it unawaited.
  const count = async () =>
    filter.withTotal === false
      ? { n: -1 }
      : applyFilters(
          ctx,
          db.selectFrom(ctx.t.jobs).select((eb) => eb.fn.countAll().as("n")),
          filter,
        ).executeTakeFirstOrThrow();
  const base = () => applyFilters(ctx, db.selectFrom(ctx.t.jobs).selectAll(), filter);
  if (!nullable) {
    const after = filter.after;
    const [items, total] = await Promise.all([
      orderedPage(ctx, filter, (q) => (after ? q.where(afterKey(column, direction, false, after)) : q), {
        column,
        direction,
        limit: filter.limit,
        offset: filter.offset ?? 0,
      }),
      count(),
    ]);
    return { items: items.map(jobFromRow), total: Number(total.n) };
  }
  // NULLs last, as two index-ordered reads: the jobs with a time, then (if the page is not full)
  // those without, by id. One ORDER BY with a NULLS-LAST expression would sort every match instead.
  const after = filter.after;
  const limit = filter.limit ?? Number.MAX_SAFE_INTEGER;
  let offset = filter.offset ?? 0;
  const items: JobsTable[] = [];
  if (!after || after.value !== null) {
    const page = await orderedPage(
      ctx,
      filter,
      (q) => {
        const timed = q.where(column, "is not", null);
        return after ? timed.where(afterKey(column, direction, false, after)) : timed;
      },
      { column, direction, limit, offset },
    );
    items.push(...page);
    if (offset > 0 && page.length === 0) {
      // The offset may reach past the timed jobs: skip what they hold.
      let counted = base()
        .where(column, "is not", null)
        .clearSelect()
        .select((eb) => eb.fn.countAll().as("n"));
      if (after) counted = counted.where(afterKey(column, direction, false, after));
      offset = Math.max(0, offset - Number((await counted.executeTakeFirstOrThrow()).n));
    } else offset = 0;
  }
  if (items.length < limit) {
    let untimed = base().where(column, "is", null);
    if (after?.value === null) untimed = untimed.where("id", direction === "desc" ? "<" : ">", after.id);
    items.push(...(await paged(untimed.orderBy("id", direction), limit - items.length, offset || undefined).execute()));
  }
  const total = await count();
  return { items: items.map(jobFromRow), total: Number(total.n) };
}

/** From this offset on, a page jump first finds its key from the index alone. */
const JUMP_FROM_OFFSET = 1_000;

type Narrow = <O>(query: SelectQueryBuilder<Database, "jobs", O>) => SelectQueryBuilder<Database, "jobs", O>;

/**
 * One page in (column, id) order. A deep offset (a page jump) reads only the sort key and id of
 * the rows it skips, which the list indexes hold (an index-only scan), then takes the page by
 * keyset from the key it landed on, instead of fetching and discarding every skipped row.
 */
async function orderedPage(
  ctx: SqlContext,
  filter: JobQuery,
  narrow: Narrow,
  page: {
    column: (typeof ORDER_COLUMNS)[keyof typeof ORDER_COLUMNS];
    direction: "asc" | "desc";
    limit: number | undefined;
    offset: number;
  },
): Promise<JobsTable[]> {
  const { db } = ctx.dialect;
  const { column, direction, limit, offset } = page;
  const rows = narrow(applyFilters(ctx, db.selectFrom(ctx.t.jobs).selectAll(), filter));
  const ordered = <O>(q: SelectQueryBuilder<Database, "jobs", O>) =>
    q.orderBy(column, direction).orderBy("id", direction);
  if (offset < JUMP_FROM_OFFSET || limit === undefined) return paged(ordered(rows), limit, offset).execute();
  const key = await ordered(
    narrow(
      applyFilters(
        ctx,
        db.selectFrom(ctx.t.jobs).select([sql<number | null>`${sql.ref(column)}`.as("k"), "id"]),
        filter,
      ),
    ),
  )
    .offset(offset)
    .limit(1)
    .executeTakeFirst();
  if (!key) return [];
  const from = { value: key.k === null ? null : new Date(Number(key.k)), id: key.id };
  return ordered(rows.where(afterKey(column, direction, false, from, true)))
    .limit(limit)
    .execute();
}

/**
 * The keyset condition "after (value, id) in this order" (or "at or after" when inclusive). Without NULLs it is one row-value
 * comparison, which every dialect turns into an index seek.
 */
function afterKey(
  column: (typeof ORDER_COLUMNS)[keyof typeof ORDER_COLUMNS],
  direction: "asc" | "desc",
  nullable: boolean,
  after: { value: Date | null; id: string },
  inclusive = false,
): RawBuilder<boolean> {
  const cmp = sql.raw(`${direction === "desc" ? "<" : ">"}${inclusive ? "=" : ""}`);
  const ref = sql.ref(column);
  const value = after.value?.getTime() ?? null;
  if (value === null) return sql<boolean>`(${ref} is null and id ${cmp} ${after.id})`;
  const seek = sql<boolean>`((${ref}, id) ${cmp} (${value}, ${after.id}))`;
  return nullable ? sql<boolean>`(${seek} or ${ref} is null)` : seek;
}

/** The node of each job's latest attempt: the highest seq per job, through the attempts' job index. */
export async function attemptLastNodes(ctx: SqlContext, jobIds: readonly string[]): Promise<Record<string, string>> {
  const nodes: Record<string, string> = {};
  for (const part of chunks(jobIds)) {
    const rows = await ctx.dialect.db
      .selectFrom(ctx.t.attempts)
      .select(["job_id", "node_id"])
      .where("seq", "in", (eb) =>
        eb
          .selectFrom(ctx.t.attempts)
          .select((e) => e.fn.max("seq").as("seq"))
          .where("job_id", "in", part)
          .groupBy("job_id"),
      )
      .execute();
    for (const row of rows) nodes[row.job_id] = row.node_id;
  }
  return nodes;
}

export async function jobChildCounts(ctx: SqlContext, parentIds: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const part of chunks(parentIds)) {
    const rows = await ctx.dialect.db
      .selectFrom(ctx.t.jobs)
      .select((eb) => ["parent_id", eb.fn.countAll().as("n")])
      .where("parent_id", "in", part)
      .groupBy("parent_id")
      .execute();
    for (const row of rows) if (row.parent_id !== null) counts[row.parent_id] = Number(row.n);
  }
  return counts;
}

export async function jobCountByStatus(
  ctx: SqlContext,
  filter: Pick<JobQuery, "type" | "cronTickerId" | "function">,
): Promise<Record<TickerStatus, number>> {
  const rows = await applyFilters(
    ctx,
    ctx.dialect.db.selectFrom(ctx.t.jobs).select((eb) => ["status", eb.fn.countAll().as("n")]),
    filter,
  )
    .groupBy("status")
    .execute();
  const counts = Object.fromEntries(TICKER_STATUSES.map((s) => [s, 0])) as Record<TickerStatus, number>;
  for (const row of rows) counts[row.status as TickerStatus] = Number(row.n);
  return counts;
}

/**
 * The job as the guarded UPDATE left it, read in the UPDATE's transaction: read after its
 * commit, a claim in between (due now, the job is claimed at once) would show InProgress.
 */
async function updateResult(
  ctx: SqlContext,
  tx: Kysely<Database>,
  id: string,
  updated: bigint | number,
): Promise<UpdateResult> {
  const job = await jobGet(ctx, tx, id);
  if (!job) return { ok: false, reason: "not-found" };
  return Number(updated) > 0 ? { ok: true, job } : { ok: false, reason: "wrong-status", status: job.status };
}

/** One guarded UPDATE: the status check and the write cannot be split by a claim. */
export async function jobUpdateIdle(ctx: SqlContext, id: string, patch: JobPatch, now: Date): Promise<UpdateResult> {
  const set: Partial<JobsTable> = { updated_at: now.getTime() };
  if (patch.executionTime !== undefined) {
    set.execution_time = msOrNull(patch.executionTime);
    // An occurrence keeps its cron instant as the intended time; a time ticker's intent moved.
    set.scheduled_for = sql<
      number | null
    >`case when ${sql.ref("cron_ticker_id")} is null then ${msOrNull(patch.executionTime)} else ${sql.ref("scheduled_for")} end` as never;
  }
  if (patch.request !== undefined) set.request = patch.request;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.retries !== undefined) set.retries = patch.retries;
  if (patch.retryIntervals !== undefined) set.retry_intervals = intervalsIn(patch.retryIntervals);
  if (patch.priority !== undefined) {
    set.priority = patch.priority;
    set.priority_rank = PRIORITY_RANK[patch.priority];
  }
  return ctx.dialect.writeTx(async (tx) => {
    const result = await tx
      .updateTable(ctx.t.jobs)
      .set(set)
      .where("id", "=", id)
      .where("status", "=", "Idle")
      .executeTakeFirst();
    return updateResult(ctx, tx, id, result.numUpdatedRows);
  });
}

export async function jobRequeue(ctx: SqlContext, id: string, now: Date): Promise<UpdateResult> {
  const at = now.getTime();
  return ctx.dialect.writeTx(async (tx) => {
    const result = await tx
      .updateTable(ctx.t.jobs)
      .set({
        status: "Idle",
        execution_time: at,
        scheduled_for: at,
        retry_count: 0,
        lock_holder: null,
        locked_at: null,
        cancel_requested: 0,
        updated_at: at,
      })
      .where("id", "=", id)
      .where("status", "in", ["Failed", "Cancelled", "Skipped"])
      .executeTakeFirst();
    return updateResult(ctx, tx, id, result.numUpdatedRows);
  });
}

/** The ids with every descendant, found level by level through the parent_id index. */
export async function withDescendants(
  ctx: SqlContext,
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<string[]> {
  const all = new Set<string>();
  let frontier = [...new Set(ids)];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const part of chunks(frontier)) {
      const rows = await db.selectFrom(ctx.t.jobs).select("id").where("parent_id", "in", part).execute();
      for (const { id } of rows) if (!all.has(id) && !frontier.includes(id)) next.push(id);
    }
    for (const id of frontier) all.add(id);
    frontier = next;
  }
  return [...all];
}

/** Deletes exactly these jobs and their attempts; returns how many job rows went. */
export async function deleteJobRows(ctx: SqlContext, db: Kysely<Database>, ids: readonly string[]): Promise<number> {
  let deleted = 0;
  for (const part of chunks(ids)) {
    await db.deleteFrom(ctx.t.attempts).where("job_id", "in", part).execute();
    const result = await db.deleteFrom(ctx.t.jobs).where("id", "in", part).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
  }
  return deleted;
}

export async function jobDeleteMany(ctx: SqlContext, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return ctx.dialect.writeTx(async (tx) => deleteJobRows(ctx, tx, await withDescendants(ctx, tx, ids)));
}

/** Deletes old finished jobs, oldest first, but never a parent whose children are still to run. */
export async function jobPurge(ctx: SqlContext, before: Date, limit: number): Promise<number> {
  if (limit <= 0) return 0;
  const final = [...FINAL_STATUSES];
  const parents = `${ctx.t.jobs} as p` as "jobs as p";
  const children = `${ctx.t.jobs} as c` as "jobs as c";
  return ctx.dialect.writeTx(async (tx) => {
    const rows = await tx
      .selectFrom(parents)
      .select("p.id")
      .where("p.updated_at", "<", before.getTime())
      .where("p.status", "in", final)
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom(children).select("c.id").whereRef("c.parent_id", "=", "p.id").where("c.status", "not in", final),
          ),
        ),
      )
      .orderBy("p.updated_at")
      .limit(limit)
      .execute();
    return deleteJobRows(
      ctx,
      tx,
      rows.map((r) => r.id),
    );
  });
}

export async function jobNextDue(ctx: SqlContext): Promise<Date | null> {
  // ORDER BY + LIMIT 1 rather than MIN() so every planner walks the (status, execution_time) index.
  const row = await ctx.dialect.db
    .selectFrom(ctx.t.jobs)
    .select("execution_time")
    .where("status", "=", "Idle")
    .where("execution_time", "is not", null)
    .orderBy("execution_time")
    .limit(1)
    .executeTakeFirst();
  return toDateOrNull(row?.execution_time ?? null);
}

/** One grouped count over the (status, execution_time) index range of due Idle jobs. */
export async function jobDueCountByFunction(ctx: SqlContext, now: Date): Promise<Record<string, number>> {
  const rows = await ctx.dialect.db
    .selectFrom(ctx.t.jobs)
    .select(["function", (eb) => eb.fn.countAll<number | string>().as("n")])
    .where("status", "=", "Idle")
    .where("execution_time", "<=", now.getTime())
    .groupBy("function")
    .execute();
  const counts: Record<string, number> = {};
  for (const row of rows) counts[row.function] = Number(row.n);
  return counts;
}

export async function jobRunningCount(
  ctx: SqlContext,
  params: {
    cronTickerId: string | null;
    function: string;
    excludeId: string;
    startedBefore?: { at: Date; id: string };
  },
): Promise<number> {
  let q = ctx.dialect.db
    .selectFrom(ctx.t.jobs)
    .select((eb) => eb.fn.countAll().as("n"))
    .where("status", "=", "InProgress")
    .where("id", "!=", params.excludeId);
  q =
    params.cronTickerId === null
      ? q.where("function", "=", params.function)
      : q.where("cron_ticker_id", "=", params.cronTickerId);
  const before = params.startedBefore;
  if (before) {
    const at = before.at.getTime();
    // Ties on the start instant break by id in byte order, the same in every dialect.
    const idBefore = sql<boolean>`${sql.ref("id")}${sql.raw(ctx.dialect.binaryCollation)} < ${before.id}`;
    q = q.where((eb) => eb.or([eb("executed_at", "<", at), eb.and([eb("executed_at", "=", at), idBefore])]));
  }
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export async function jobCancelRequested(ctx: SqlContext, nodeId: string): Promise<string[]> {
  const rows = await ctx.dialect.db
    .selectFrom(ctx.t.jobs)
    .select("id")
    .where("status", "=", "InProgress")
    .where("lock_holder", "=", nodeId)
    .where("cancel_requested", "=", 1)
    .orderBy("id")
    .execute();
  return rows.map((r) => r.id);
}

export async function attemptList(ctx: SqlContext, jobId: string): Promise<AttemptRecord[]> {
  const rows = await ctx.dialect.db
    .selectFrom(ctx.t.attempts)
    .selectAll()
    .where("job_id", "=", jobId)
    .orderBy("seq")
    .execute();
  return rows.map(attemptFromRow);
}
