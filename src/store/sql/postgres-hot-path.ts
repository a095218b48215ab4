/**
 * PostgreSQL's hot path in hand-written SQL: claim, start and complete are one statement
 * each (a completion settles its children in the same statement), where the portable path
 * in leases.ts needs a transaction of several. Each text is constant, values travel as
 * parameters (arrays for batches), and the dialect runs it as a named prepared statement:
 * parsed and planned once per connection. Same rules as leases.ts, fewer round trips.
 */

import { childRuns, FINAL_STATUSES, RUN_CONDITIONS } from "../../lifecycle.js";
import type { JobCompletion, JobLease, JobRecord, StoreSignal } from "../contract.js";
import type { SqlContext } from "./context.js";
import type { ClaimParams, HotPath } from "./dialect.js";
import { dueSignal } from "./jobs.js";
import { jobFromRow } from "./rows.js";
import type { JobsTable } from "./schema.js";

interface Statements {
  claim: string;
  start: string;
  complete: string;
  nextDue: string;
  /** Each of the four with values that match no row, as a pool's warm-up runs them. */
  warmUp: { text: string; values: unknown[] }[];
}

const cache = new WeakMap<SqlContext, Statements>();

/** `"schema"."prefix_name"`: checkIdentifier() allowed only letters, digits and underscores. */
function quoted(qualified: string): string {
  return qualified
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
}

/** (run_condition, parent status) pairs under which a waiting child runs, from childRuns(). */
const RUNS_PAIRS = RUN_CONDITIONS.flatMap((condition) =>
  FINAL_STATUSES.filter((status) => childRuns(condition, status)).map((status) => `('${condition}', '${status}')`),
).join(", ");

function statements(ctx: SqlContext): Statements {
  let s = cache.get(ctx);
  if (s) return s;
  const jobs = quoted(ctx.t.jobs);
  const attempts = quoted(ctx.t.attempts);
  s = {
    // $1 node, $2 now, $3 until, $4 limit, $5 longRunningLimit, $6 startLimit.
    // Per priority rank an index range scan (LATERAL, so each stays O(log n)), locked with
    // SKIP LOCKED, best ranks first, plus the LongRunning rank on its own limit. The jobs that
    // start at once become InProgress in the same statement, and their InProgress children due.
    claim: `
      with slotted as (
        select c.id, c.priority_rank, c.execution_time from (values (0), (1), (2)) as r(rank)
        cross join lateral (
          select id, priority_rank, execution_time from ${jobs}
          where status = 'Idle' and priority_rank = r.rank and execution_time <= $3::bigint
          order by execution_time, id limit $4::int
          for update skip locked
        ) c
        order by c.priority_rank, c.execution_time, c.id
        limit $4::int
      ), long_running as (
        select id, priority_rank, execution_time from ${jobs}
        where status = 'Idle' and priority_rank = 3 and execution_time <= $3::bigint
        order by execution_time, id limit $5::int
        for update skip locked
      ), picked as (
        select id, (execution_time <= $2::bigint and (row_number() over (
            order by priority_rank, execution_time, id) <= $6::int)) as starts
        from slotted where execution_time <= $2::bigint
        union all
        select id, false from slotted where execution_time > $2::bigint
        union all
        select id, execution_time <= $2::bigint from long_running
      ), claimed as (
        update ${jobs} j
        set status = case when picked.starts then 'InProgress' else 'Queued' end,
            executed_at = case when picked.starts then $2::bigint else j.executed_at end,
            lock_holder = $1::text, locked_at = $2::bigint, lease_token = j.lease_token + 1, updated_at = $2::bigint,
            scheduled_for = coalesce(j.scheduled_for, j.execution_time)
        from picked where j.id = picked.id
        returning j.*
      ), children as (
        update ${jobs} k set execution_time = $2::bigint, scheduled_for = $2::bigint, updated_at = $2::bigint
        from claimed
        where claimed.status = 'InProgress' and k.parent_id = claimed.id and k.status = 'Idle'
          and k.execution_time is null and k.run_condition = 'InProgress'
        returning k.id
      )
      select claimed.*, (select count(*) from children) as children from claimed`,
    // $1 ids, $2 node, $3 at, $4 lease tokens: Queued → InProgress for the rows this node
    // holds under those leases (executed at their due instant when started ahead), and their
    // InProgress children due.
    start: `
      with started as (
        update ${jobs} j set status = 'InProgress', executed_at = greatest(j.execution_time, $3::bigint),
          updated_at = $3::bigint
        from unnest($1::text[], $4::bigint[]) as l(id, token)
        where j.id = l.id and j.lease_token = l.token and j.lock_holder = $2::text and j.status = 'Queued'
        returning j.id
      ), children as (
        update ${jobs} k set execution_time = $3::bigint, scheduled_for = $3::bigint, updated_at = $3::bigint
        from started
        where k.parent_id = started.id and k.status = 'Idle' and k.execution_time is null
          and k.run_condition = 'InProgress'
        returning k.id
      )
      select id, (select count(*) from children) as children from started`,
    // $1: the completions as one JSON array (keys in pgCompleteMany). Ends the attempts whose
    // lease the job still carries, appends their history, and settles the waiting children of
    // jobs that reached a final status: released (due at the parent's end) when their run
    // condition holds, otherwise Skipped with their whole waiting subtree. A stale completion
    // only appends its attempt, marked superseded. Returns the ended jobs, the superseded ones,
    // then one row per release instant.
    complete: `
      with recursive v as (
        select i as id, n as node, s as status, e as elapsed, m as message, d as details, f as finished,
          r as retry_at, a as attempt, t as attempt_status, b as started, k as token
        from json_to_recordset($1::json) as x(i text, n text, s text, e bigint, m text, d text, f bigint,
          r bigint, a int, t text, b bigint, k bigint)
      ), ended as (
        update ${jobs} j
        set status = v.status, lock_holder = null, locked_at = null, cancel_requested = 0,
            elapsed_ms = v.elapsed, exception_message = v.message, exception_details = v.details,
            updated_at = v.finished,
            execution_time = case when v.status = 'Idle' then v.retry_at else j.execution_time end,
            retry_count = case when v.status = 'Idle' then j.retry_count + 1 else j.retry_count end
        from v
        where j.id = v.id and j.lock_holder = v.node and j.lease_token = v.token
          and j.status in ('Queued', 'InProgress')
        returning j.id, j.status, v.finished, v.retry_at
      ), stale as (
        select v.id from v join ${jobs} j on j.id = v.id where not exists (select 1 from ended where ended.id = v.id)
      ), history as (
        insert into ${attempts} (job_id, attempt, status, node_id, started_at, finished_at, elapsed_ms,
          exception_message, exception_details, superseded)
        select v.id, v.attempt, v.attempt_status, v.node, v.started, v.finished, v.elapsed, v.message, v.details,
          case when ended.id is null then 1 else 0 end
        from v left join ended on ended.id = v.id
        where ended.id is not null or v.id in (select id from stale)
      ), waiting as (
        select k.id, e.finished as at, (k.run_condition, e.status) in (${RUNS_PAIRS}) as runs
        from ended e join ${jobs} k on k.parent_id = e.id
        where e.status <> 'Idle' and k.status = 'Idle' and k.execution_time is null
      ), released as (
        update ${jobs} k set execution_time = w.at, scheduled_for = w.at, updated_at = w.at
        from waiting w where k.id = w.id and w.runs
        returning w.at
      ), doomed(id, at) as (
        select id, at from waiting where not runs
        union all
        select c.id, d.at from ${jobs} c join doomed d on c.parent_id = d.id where c.status = 'Idle'
      ), skipped as (
        update ${jobs} k set status = 'Skipped', updated_at = d.at
        from doomed d where k.id = d.id and k.status = 'Idle'
      )
      select id, status, retry_at as at from ended
      union all
      select v.id, 'Superseded', null from v where not exists (select 1 from ended where ended.id = v.id)
      union all
      select distinct null, 'Released', at from released`,
    nextDue: `
      select execution_time from ${jobs}
      where status = 'Idle' and execution_time is not null
      order by execution_time limit 1`,
    warmUp: [],
  };
  s.warmUp = [
    { text: s.claim, values: ["", 0, 0, 0, 0, 0] },
    { text: s.start, values: [[], "", 0, []] },
    { text: s.complete, values: ["[]"] },
    { text: s.nextDue, values: [] },
  ];
  cache.set(ctx, s);
  return s;
}

function run<R>(ctx: SqlContext, text: string, values: readonly unknown[]): Promise<R[]> {
  return ctx.dialect.prepared!<R>(text, values);
}

/**
 * After each claim, in the background: the pool's standing connections that are missing (at
 * the first claim, or after the server dropped some) are opened and the hot statements
 * planned on each, with values that match no row. A burst of jobs later (the first due
 * instant, a backlog after a quiet spell or an outage) then finds them ready instead of paying
 * for a new connection and a cold plan in the middle of its start writes. Best effort: should
 * it fail (the database went away meanwhile), the pool opens connections on demand as before,
 * and the next claim tries again.
 */
function warmPool(ctx: SqlContext): void {
  ctx.dialect.warm?.(statements(ctx).warmUp).catch(() => {});
}

async function pgClaimDue(ctx: SqlContext, params: ClaimParams, signals: StoreSignal[]): Promise<JobRecord[]> {
  const rows = await run<JobsTable & { children: string }>(ctx, statements(ctx).claim, [
    params.nodeId,
    params.now.getTime(),
    params.until.getTime(),
    params.limit,
    params.longRunningLimit,
    params.startLimit ?? 0,
  ]);
  warmPool(ctx);
  if (rows.some((row) => Number(row.children) > 0)) signals.push({ type: "due", at: params.now });
  // RETURNING has no order: hand them back best first, as the contract says.
  const order = (r: JobsTable) => [r.priority_rank, Number(r.execution_time), r.id] as const;
  rows.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
  });
  return rows.map(jobFromRow);
}

async function pgStartMany(
  ctx: SqlContext,
  leases: readonly JobLease[],
  nodeId: string,
  at: Date,
  signals: StoreSignal[],
): Promise<string[]> {
  if (leases.length === 0) return [];
  const ids = leases.map((lease) => lease.id);
  const tokens = leases.map((lease) => lease.leaseToken);
  const rows = await run<{ id: string; children: string }>(ctx, statements(ctx).start, [
    ids,
    nodeId,
    at.getTime(),
    tokens,
  ]);
  if (rows.some((row) => Number(row.children) > 0)) signals.push({ type: "due", at });
  const started = new Set(rows.map((row) => row.id));
  return ids.filter((id) => started.has(id));
}

async function pgCompleteMany(
  ctx: SqlContext,
  completions: readonly JobCompletion[],
  signals: StoreSignal[],
): Promise<{ superseded: string[] }> {
  if (completions.length === 0) return { superseded: [] };
  // One JSON parameter: cheaper for the driver to send and the server to read than an array per column.
  const json = JSON.stringify(
    completions.map((c) => ({
      i: c.id,
      n: c.nodeId,
      s: c.status,
      e: Math.round(c.elapsedMs),
      m: c.exceptionMessage,
      d: c.exceptionDetails,
      f: c.finishedAt.getTime(),
      r: (c.retryAt ?? c.finishedAt).getTime(),
      a: c.attempt.attempt,
      t: c.attempt.status,
      b: c.attempt.startedAt.getTime(),
      k: c.leaseToken,
    })),
  );
  const rows = await run<{ id: string | null; status: string; at: string }>(ctx, statements(ctx).complete, [json]);
  const due = dueSignal(
    rows
      .filter((row) => row.status === "Idle" || row.status === "Released")
      .map((row) => ({ executionTime: new Date(Number(row.at)) })),
  );
  if (due) signals.push(due);
  return { superseded: rows.filter((row) => row.status === "Superseded").map((row) => row.id!) };
}

export const postgresHotPath: HotPath = {
  claimDue: pgClaimDue,
  startMany: pgStartMany,
  completeMany: pgCompleteMany,
  nextDue: pgNextDue,
};

async function pgNextDue(ctx: SqlContext): Promise<Date | null> {
  const [row] = await run<{ execution_time: string }>(ctx, statements(ctx).nextDue, []);
  return row ? new Date(Number(row.execution_time)) : null;
}
