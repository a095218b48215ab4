/**
 * SQLite's hot path in hand-written SQL on better-sqlite3's own prepared statements: a claim,
 * a start and a batch of completions are one or two statements each, with batches passed as
 * one JSON parameter (json_each), so every text is constant and prepared once. The dialect runs
 * them through its group commit (sqlite-dialect.ts): the claims, starts and completions that
 * wait for the connection together share one write transaction, each in a savepoint of its own.
 * Same rules as leases.ts: every write names the lease it holds (holder and lease_token).
 * The rare parts (children settled by a final status) reuse the portable code on the same
 * connection.
 */

import type BetterSqlite3 from "better-sqlite3";
import type { Kysely } from "kysely";
import type { FinalStatus } from "../../lifecycle.js";
import type { JobCompletion, JobLease, JobRecord, StoreSignal } from "../contract.js";
import { settleChildren } from "./children.js";
import type { SqlContext } from "./context.js";
import type { ClaimParams, HotPath } from "./dialect.js";
import { dueSignal } from "./jobs.js";
import { byClaimOrder } from "./claim.js";
import { ROLLUP_COLUMNS, batchRollup } from "./rollup.js";
import { jobFromRow } from "./rows.js";
import type { Database, JobsTable } from "./schema.js";

/** Runs `fn` inside a write transaction shared with whatever else is waiting (sqlite-dialect.ts). */
export type GroupCommit = <T>(
  fn: (raw: BetterSqlite3.Database, conn: Kysely<Database>) => T | Promise<T>,
) => Promise<T>;

interface Statements {
  claim: BetterSqlite3.Statement;
  startChildren: BetterSqlite3.Statement;
  start: BetterSqlite3.Statement;
  complete: BetterSqlite3.Statement;
  existing: BetterSqlite3.Statement;
  waiting: BetterSqlite3.Statement;
  history: BetterSqlite3.Statement;
  rollup: BetterSqlite3.Statement;
}

/** `"name"`: checkIdentifier() allowed only letters, digits and underscores. */
function quoted(qualified: string): string {
  return qualified
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
}

/** A rank's due Idle jobs, oldest first: one range of the claim index (status = 'Idle' is its predicate). */
function rank(jobs: string, n: number, limit: string): string {
  return `select * from (select id, priority_rank, execution_time from ${jobs}
    where status = 'Idle' and priority_rank = ${n} and execution_time <= @until
    order by execution_time, id limit ${limit})`;
}

/**
 * A unary `+` on a column keeps the planner off that column's index: without it SQLite walks
 * every held (or every waiting Idle) row through the (status, execution_time) index and probes
 * the JSON batch for each, instead of looking each id of the batch up by primary key (or each
 * parent through the parent index), which costs the batch's size whatever the table holds.
 */
function prepare(raw: BetterSqlite3.Database, ctx: SqlContext): Statements {
  const jobs = quoted(ctx.t.jobs);
  const attempts = quoted(ctx.t.attempts);
  return {
    // @node, @now, @until, @limit, @longRunningLimit, @startLimit. The best `limit` jobs of the
    // slotted ranks and `longRunningLimit` LongRunning ones become held by @node with a new
    // lease token; the first `startLimit` slotted ones due by now, and every LongRunning one
    // due, start at once (InProgress). Returns the claimed rows as they now are, in no order.
    claim: raw.prepare(`
      with slotted as (
        select * from (${rank(jobs, 0, "@limit")} union all ${rank(jobs, 1, "@limit")} union all ${rank(jobs, 2, "@limit")})
        order by priority_rank, execution_time, id limit @limit
      ), picked(id, starts) as (
        select id, row_number() over (order by priority_rank, execution_time, id) <= @startLimit
        from slotted where execution_time <= @now
        union all
        select id, 0 from slotted where execution_time > @now
        union all
        select id, execution_time <= @now from (${rank(jobs, 3, "@longRunningLimit")})
      )
      update ${jobs} set
        status = case when picked.starts then 'InProgress' else 'Queued' end,
        executed_at = case when picked.starts then @now else ${jobs}.executed_at end,
        lock_holder = @node, locked_at = @now, lease_token = ${jobs}.lease_token + 1, updated_at = @now,
        scheduled_for = coalesce(${jobs}.scheduled_for, ${jobs}.execution_time)
      from picked where ${jobs}.id = picked.id
      returning *`),
    // @parents (JSON array of ids), @at: the InProgress children of started parents become due.
    startChildren: raw.prepare(`
      update ${jobs} set execution_time = @at, scheduled_for = @at, updated_at = @at
      where parent_id in (select value from json_each(@parents)) and +status = 'Idle'
        and +execution_time is null and run_condition = 'InProgress'`),
    // @leases (JSON [[id, token], …]), @node, @at: Queued → InProgress for the rows @node holds
    // under those tokens, executed at their due instant when started ahead of it. Returns their ids.
    start: raw.prepare(`
      update ${jobs} set status = 'InProgress', updated_at = @at,
        executed_at = case when ${jobs}.execution_time > @at then ${jobs}.execution_time else @at end
      from (select value ->> 0 as id, value ->> 1 as token from json_each(@leases)) as l
      where ${jobs}.id = l.id and ${jobs}.lease_token = l.token and ${jobs}.lock_holder = @node
        and +${jobs}.status = 'Queued'
      returning ${jobs}.id`),
    // @completions (JSON [[id, node, status, elapsed, message, details, finished, next, token], …]):
    // ends the attempts whose lease the job still carries (a retry is Idle again, due at `next`,
    // one retry more). Returns the ids it ended.
    complete: raw.prepare(`
      update ${jobs} set status = v.status, lock_holder = null, locked_at = null, cancel_requested = 0,
        elapsed_ms = v.elapsed, exception_message = v.message, exception_details = v.details, updated_at = v.finished,
        execution_time = case when v.status = 'Idle' then v.next else ${jobs}.execution_time end,
        retry_count = case when v.status = 'Idle' then ${jobs}.retry_count + 1 else ${jobs}.retry_count end
      from (select value ->> 0 as id, value ->> 1 as node, value ->> 2 as status, value ->> 3 as elapsed,
          value ->> 4 as message, value ->> 5 as details, value ->> 6 as finished, value ->> 7 as next,
          value ->> 8 as token
        from json_each(@completions)) as v
      where ${jobs}.id = v.id and ${jobs}.lock_holder = v.node and ${jobs}.lease_token = v.token
        and +${jobs}.status in ('Queued', 'InProgress')
      returning ${jobs}.id, ${jobs}."function" as fn, ${jobs}.scheduled_for as scheduled`),
    // @ids: which of these jobs exist (a stale run leaves its trace only on a job that does).
    existing: raw.prepare(`select id from ${jobs} where id in (select value from json_each(@ids))`),
    // @ids: whether any of these jobs has a child still waiting for it (then the portable code settles them).
    waiting: raw.prepare(`
      select 1 from ${jobs} where parent_id in (select value from json_each(@ids)) and +status = 'Idle'
        and +execution_time is null limit 1`),
    // @attempts (JSON [[job_id, attempt, status, node, started, finished, elapsed, message, details, superseded], …]):
    // rolled_up, as the batch's rollup rows come with them (`rollup`), so the row trigger skips them.
    history: raw.prepare(`
      insert into ${attempts} (job_id, attempt, status, node_id, started_at, finished_at, elapsed_ms,
        exception_message, exception_details, superseded, rolled_up)
      select value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6,
        value ->> 7, value ->> 8, value ->> 9, 1
      from json_each(@attempts)`),
    // @rows (JSON [[span, bucket, function, status, runs, duration, d0…d23, l0…l23], …]): a batch's run rollup.
    rollup: raw.prepare(`
      insert into ${quoted(ctx.t.run_rollup_deltas)} (${ROLLUP_COLUMNS.map((c) => `"${c}"`).join(", ")})
      select ${ROLLUP_COLUMNS.map((_, i) => `value ->> ${i}`).join(", ")} from json_each(@rows)`),
  };
}

/** Statements per connection and store (the table names differ by prefix). */
const cache = new WeakMap<BetterSqlite3.Database, WeakMap<SqlContext, Statements>>();

function statements(raw: BetterSqlite3.Database, ctx: SqlContext): Statements {
  let byCtx = cache.get(raw);
  if (!byCtx) cache.set(raw, (byCtx = new WeakMap()));
  let s = byCtx.get(ctx);
  if (!s) byCtx.set(ctx, (s = prepare(raw, ctx)));
  return s;
}

export function sqliteHotPath(together: GroupCommit): HotPath {
  return {
    claimDue(ctx: SqlContext, params: ClaimParams, signals: StoreSignal[]): Promise<JobRecord[]> {
      const now = params.now.getTime();
      return together((raw) => {
        const s = statements(raw, ctx);
        const rows = s.claim.all({
          node: params.nodeId,
          now,
          until: params.until.getTime(),
          limit: Math.max(0, params.limit),
          longRunningLimit: Math.max(0, params.longRunningLimit),
          startLimit: Math.max(0, params.startLimit ?? 0),
        }) as JobsTable[];
        const started = rows.filter((row) => row.status === "InProgress").map((row) => row.id);
        if (started.length > 0 && s.startChildren.run({ parents: JSON.stringify(started), at: now }).changes > 0)
          signals.push({ type: "due", at: params.now });
        // RETURNING has no order: hand them back best first, as the contract says.
        return rows.sort(byClaimOrder).map(jobFromRow);
      });
    },

    startMany(
      ctx: SqlContext,
      leases: readonly JobLease[],
      nodeId: string,
      at: Date,
      signals: StoreSignal[],
    ): Promise<string[]> {
      if (leases.length === 0) return Promise.resolve([]);
      const ms = at.getTime();
      return together((raw) => {
        const s = statements(raw, ctx);
        const rows = s.start.all({
          leases: JSON.stringify(leases.map((lease) => [lease.id, lease.leaseToken])),
          node: nodeId,
          at: ms,
        }) as { id: string }[];
        const started = new Set(rows.map((row) => row.id));
        if (started.size > 0 && s.startChildren.run({ parents: JSON.stringify([...started]), at: ms }).changes > 0)
          signals.push({ type: "due", at });
        return leases.map((lease) => lease.id).filter((id) => started.has(id));
      });
    },

    completeMany(
      ctx: SqlContext,
      completions: readonly JobCompletion[],
      signals: StoreSignal[],
    ): Promise<{ superseded: string[] }> {
      if (completions.length === 0) return Promise.resolve({ superseded: [] });
      // Each job once: leases.ts splits a batch into rounds first.
      const json = JSON.stringify(
        completions.map((c) => [
          c.id,
          c.nodeId,
          c.status,
          Math.round(c.elapsedMs),
          c.exceptionMessage,
          c.exceptionDetails,
          c.finishedAt.getTime(),
          (c.retryAt ?? c.finishedAt).getTime(),
          c.leaseToken,
        ]),
      );
      return together(async (raw, conn) => {
        const s = statements(raw, ctx);
        const endedRows = s.complete.all({ completions: json }) as {
          id: string;
          fn: string;
          scheduled: number | null;
        }[];
        const ended = new Map(endedRows.map((row) => [row.id, row]));
        const stale = completions.filter((c) => !ended.has(c.id)).map((c) => c.id);
        // A stale run still leaves its trace, marked superseded, on a job that still exists.
        const traced =
          stale.length === 0
            ? ended
            : new Set([
                ...ended.keys(),
                ...(s.existing.all({ ids: JSON.stringify(stale) }) as { id: string }[]).map((row) => row.id),
              ]);
        const history = completions
          .filter((c) => traced.has(c.id))
          .map((c) => {
            const a = c.attempt;
            return [
              a.jobId,
              a.attempt,
              a.status,
              a.nodeId,
              a.startedAt.getTime(),
              a.finishedAt.getTime(),
              Math.round(a.elapsedMs),
              a.exceptionMessage,
              a.exceptionDetails,
              ended.has(c.id) && !a.superseded ? 0 : 1,
            ];
          });
        if (history.length > 0) s.history.run({ attempts: JSON.stringify(history) });
        const rollup = batchRollup(
          completions.flatMap((c) => {
            const job = ended.get(c.id);
            return job ? [{ attempt: c.attempt, function: job.fn, scheduledFor: job.scheduled }] : [];
          }),
        );
        if (rollup.length > 0) s.rollup.run({ rows: JSON.stringify(rollup) });
        const retries = completions.filter((c) => ended.has(c.id) && c.status === "Idle");
        const due = dueSignal(retries.map((c) => ({ executionTime: c.retryAt ?? c.finishedAt })));
        if (due) signals.push(due);
        const finals = completions.filter((c) => ended.has(c.id) && c.status !== "Idle");
        if (finals.length > 0 && s.waiting.get({ ids: JSON.stringify(finals.map((c) => c.id)) }) !== undefined) {
          const settled = new Map(finals.map((c) => [c.id, { status: c.status as FinalStatus, at: c.finishedAt }]));
          signals.push(...(await settleChildren(ctx, conn, settled)));
        }
        return { superseded: stale };
      });
    },
  };
}
