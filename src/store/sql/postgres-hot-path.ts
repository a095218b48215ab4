/**
 * PostgreSQL's hot path in hand-written SQL: claim, start and complete each in one statement
 * (completion plus its children in one transaction), where the portable path in leases.ts
 * needs a transaction of several. Same rules, fewer round trips.
 */

import { sql, type Kysely } from "kysely";
import type { FinalStatus } from "../../lifecycle.js";
import type { JobCompletion, JobRecord, StoreSignal } from "../contract.js";
import { settleChildren } from "./children.js";
import type { SqlContext } from "./context.js";
import { dueSignal } from "./jobs.js";
import { jobFromRow } from "./rows.js";
import type { Database, JobsTable } from "./schema.js";

const table = (ctx: SqlContext, name: "jobs" | "attempts") => sql.table(ctx.t[name]);

/**
 * One statement: per priority rank an index range scan (LATERAL, so each stays O(log n)),
 * locked with SKIP LOCKED, best ranks first, plus the LongRunning rank on its own limit. The
 * jobs that start at once become InProgress in the same statement, and their InProgress
 * children due.
 */
export async function pgClaimDue(
  ctx: SqlContext,
  params: { nodeId: string; now: Date; until: Date; limit: number; longRunningLimit: number; startLimit?: number },
  signals: StoreSignal[],
): Promise<JobRecord[]> {
  const jobs = table(ctx, "jobs");
  const now = params.now.getTime();
  const until = params.until.getTime();
  const { rows } = await sql<JobsTable & { children: string }>`
    with slotted as (
      select c.id, c.priority_rank, c.execution_time from (values (0), (1), (2)) as r(rank)
      cross join lateral (
        select id, priority_rank, execution_time from ${jobs}
        where status = 'Idle' and priority_rank = r.rank and execution_time <= ${until}
        order by execution_time, id limit ${params.limit}
        for update skip locked
      ) c
      order by c.priority_rank, c.execution_time, c.id
      limit ${params.limit}
    ), long_running as (
      select id, priority_rank, execution_time from ${jobs}
      where status = 'Idle' and priority_rank = 3 and execution_time <= ${until}
      order by execution_time, id limit ${params.longRunningLimit}
      for update skip locked
    ), picked as (
      select id, (execution_time <= ${now} and (row_number() over (
          order by priority_rank, execution_time, id) <= ${params.startLimit ?? 0})) as starts
      from slotted where execution_time <= ${now}
      union all
      select id, false from slotted where execution_time > ${now}
      union all
      select id, execution_time <= ${now} from long_running
    ), claimed as (
      update ${jobs} j
      set status = case when picked.starts then 'InProgress' else 'Queued' end,
          executed_at = case when picked.starts then ${now} else j.executed_at end,
          lock_holder = ${params.nodeId}, locked_at = ${now}, updated_at = ${now},
          scheduled_for = coalesce(j.scheduled_for, j.execution_time)
      from picked where j.id = picked.id
      returning j.*
    ), children as (
      update ${jobs} k set execution_time = ${now}, scheduled_for = ${now}, updated_at = ${now}
      from claimed
      where claimed.status = 'InProgress' and k.parent_id = claimed.id and k.status = 'Idle'
        and k.execution_time is null and k.run_condition = 'InProgress'
      returning k.id
    )
    select claimed.*, (select count(*) from children) as children from claimed`.execute(ctx.dialect.db);
  if (rows.some((row) => Number(row.children) > 0)) signals.push({ type: "due", at: params.now });
  // RETURNING has no order: hand them back best first, as the contract says.
  const order = (r: JobsTable) => [r.priority_rank, Number(r.execution_time), r.id] as const;
  rows.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
  return rows.map(jobFromRow);
}

/** One statement: Queued → InProgress for the rows this node holds, and their InProgress children due. */
export async function pgStartMany(
  ctx: SqlContext,
  ids: readonly string[],
  nodeId: string,
  at: Date,
  signals: StoreSignal[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const jobs = table(ctx, "jobs");
  const ms = at.getTime();
  const { rows } = await sql<{ id: string; children: string }>`
    with started as (
      update ${jobs} set status = 'InProgress', executed_at = ${ms}, updated_at = ${ms}
      where id = any(${[...ids]}::text[]) and lock_holder = ${nodeId} and status = 'Queued'
      returning id
    ), children as (
      update ${jobs} k set execution_time = ${ms}, scheduled_for = ${ms}, updated_at = ${ms}
      from started
      where k.parent_id = started.id and k.status = 'Idle' and k.execution_time is null
        and k.run_condition = 'InProgress'
      returning k.id
    )
    select id, (select count(*) from children) as children from started`.execute(ctx.dialect.db);
  if (rows.some((row) => Number(row.children) > 0)) signals.push({ type: "due", at });
  const started = new Set(rows.map((row) => row.id));
  return ids.filter((id) => started.has(id));
}

/**
 * One transaction: one statement ends the attempts this node still holds and appends their
 * history; children of ended jobs are settled only where there are any.
 */
export async function pgCompleteMany(
  ctx: SqlContext,
  completions: readonly JobCompletion[],
  signals: StoreSignal[],
): Promise<void> {
  if (completions.length === 0) return;
  const jobs = table(ctx, "jobs");
  const attempts = table(ctx, "attempts");
  const values = completions.map(
    (c) => sql`(${c.id}::text, ${c.nodeId}::text, ${c.status}::text, ${Math.round(c.elapsedMs)}::bigint,
      ${c.exceptionMessage}::text, ${c.exceptionDetails}::text, ${c.finishedAt.getTime()}::bigint,
      ${(c.retryAt ?? c.finishedAt).getTime()}::bigint, ${c.attempt.attempt}::int, ${c.attempt.status}::text,
      ${c.attempt.startedAt.getTime()}::bigint)`,
  );
  await ctx.dialect.db.transaction().execute(async (tx: Kysely<Database>) => {
    const { rows } = await sql<{ id: string; status: string; has_children: boolean }>`
      with v(id, node, status, elapsed, message, details, finished, retry_at, attempt, attempt_status, started) as (
        values ${sql.join(values)}
      ), ended as (
        update ${jobs} j
        set status = v.status, lock_holder = null, locked_at = null, cancel_requested = 0,
            elapsed_ms = v.elapsed, exception_message = v.message, exception_details = v.details,
            updated_at = v.finished,
            execution_time = case when v.status = 'Idle' then v.retry_at else j.execution_time end,
            retry_count = case when v.status = 'Idle' then j.retry_count + 1 else j.retry_count end
        from v
        where j.id = v.id and j.lock_holder = v.node and j.status in ('Queued', 'InProgress')
        returning j.id, j.status
      ), history as (
        insert into ${attempts}
          (job_id, attempt, status, node_id, started_at, finished_at, elapsed_ms, exception_message, exception_details)
        select v.id, v.attempt, v.attempt_status, v.node, v.started, v.finished, v.elapsed, v.message, v.details
        from v join ended on ended.id = v.id
      )
      select ended.id, ended.status,
        exists (select 1 from ${jobs} c where c.parent_id = ended.id and c.status = 'Idle') as has_children
      from ended`.execute(tx);
    const byId = new Map(completions.map((c) => [c.id, c]));
    const retried = rows.filter((row) => row.status === "Idle").map((row) => byId.get(row.id)!);
    const due = dueSignal(retried.map((c) => ({ executionTime: c.retryAt ?? c.finishedAt })));
    if (due) signals.push(due);
    const parents = rows.filter((row) => row.status !== "Idle" && row.has_children);
    if (parents.length === 0) return;
    const ended = new Map(
      parents.map((row) => [row.id, { status: row.status as FinalStatus, at: byId.get(row.id)!.finishedAt }]),
    );
    for (const signal of await settleChildren(ctx, tx, ended)) signals.push(signal);
  });
}
