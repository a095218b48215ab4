/**
 * The portable claim: the candidates of every priority rank in one query, then one UPDATE that
 * leases them, compiled and sent in two round trips (MySQL/MariaDB). SQLite and PostgreSQL claim
 * in hand-written SQL of their own (their hot paths).
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { JobRecord, StoreSignal } from "../contract.js";
import { startChildrenQueries } from "./children.js";
import type { SqlContext } from "./context.js";
import { pipelined } from "./context.js";
import type { ClaimParams } from "./dialect.js";
import { jobFromRow, toMs } from "./rows.js";
import type { Database, JobsTable } from "./schema.js";

/** A candidate row, and whether a child waits for it to start (0/1; MySQL may answer a string). */
type Candidate = JobsTable & { waiting_children: number | string };

/**
 * Candidates of one priority rank, oldest first, locked against other claimers, each with
 * whether a child waits for it to start (run condition InProgress): a claim that starts none
 * of those skips the UPDATE of children, a round trip.
 */
function rankQuery(ctx: SqlContext, db: Kysely<Database>, rank: number, until: number, limit: number) {
  const waiting = sql<number>`exists (select 1 from ${sql.table(ctx.t.jobs)} k where k.parent_id = ${sql.ref(`${ctx.t.jobs}.id`)}
    and k.status = 'Idle' and k.execution_time is null and k.run_condition = 'InProgress')`;
  let query = db
    .selectFrom(ctx.t.jobs)
    .selectAll()
    .select(waiting.as("waiting_children"))
    // A literal, not a parameter: SQLite and PostgreSQL match it to the claim index's predicate.
    .where(sql.ref("status"), "=", sql.lit("Idle"))
    .where("priority_rank", "=", rank)
    .where("execution_time", "<=", until)
    .orderBy("execution_time")
    .orderBy("id")
    .limit(limit);
  if (ctx.dialect.skipLocked) query = query.forUpdate().skipLocked();
  return query;
}

/**
 * Every rank's candidates in one query: a UNION ALL of the per-rank queries, each still its own
 * index range scan on (status, priority_rank, execution_time) with its own LIMIT and SKIP
 * LOCKED, so the cost does not grow with the number of jobs. A rank may lock up to `limit` rows
 * that a higher rank's make unnecessary; pickCandidates leaves them, and the commit unlocks them.
 */
function candidatesQuery(ctx: SqlContext, db: Kysely<Database>, params: ClaimParams) {
  const until = params.until.getTime();
  const parts = [];
  if (params.limit > 0) for (const rank of [0, 1, 2]) parts.push(rankQuery(ctx, db, rank, until, params.limit));
  if (params.longRunningLimit > 0) parts.push(rankQuery(ctx, db, 3, until, params.longRunningLimit));
  return sql<Candidate>`${sql.join(parts, sql` union all `)}`;
}

/** The order claims take jobs in: priority rank, then due time, then id. */
export const byClaimOrder = (a: JobsTable, b: JobsTable): number =>
  Number(a.priority_rank) - Number(b.priority_rank) ||
  toMs(a.execution_time) - toMs(b.execution_time) ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** What the claim takes of the candidates: the first `limit` slotted ones in claim order, and every LongRunning one. */
function pickCandidates(rows: readonly Candidate[], limit: number): Candidate[] {
  const ordered = [...rows].sort(byClaimOrder);
  const longRunning = (row: JobsTable) => Number(row.priority_rank) === 3;
  return [...ordered.filter((row) => !longRunning(row)).slice(0, limit), ...ordered.filter(longRunning)];
}

/** Which claimed rows start at once: the first `startLimit` slotted ones due by now, and every LongRunning one. */
function startsAtClaim(
  picked: readonly Pick<JobsTable, "id" | "priority_rank" | "execution_time">[],
  now: number,
  startLimit: number,
): Set<string> {
  const starting = new Set<string>();
  let slots = startLimit;
  for (const row of picked) {
    if (toMs(row.execution_time) > now) continue;
    if (Number(row.priority_rank) === 3) starting.add(row.id);
    else if (slots-- > 0) starting.add(row.id);
  }
  return starting;
}

/**
 * The write of a claim of `picked`: one UPDATE that leases them all and starts those due now,
 * the parents among the started ones whose children wait for their start, and the records the
 * claim returns once the UPDATE is done.
 */
function claimWrite(ctx: SqlContext, db: Kysely<Database>, picked: readonly Candidate[], params: ClaimParams) {
  const now = params.now.getTime();
  const { nodeId } = params;
  const starting = startsAtClaim(picked, now, params.startLimit ?? 0);
  const startingNow = sql.join([...starting]);
  const whenStarting = <T>(then: unknown, otherwise: unknown) =>
    sql<T>`case when ${sql.ref("id")} in (${startingNow}) then ${then} else ${otherwise} end`;
  const update = db
    .updateTable(ctx.t.jobs)
    .set({
      status: starting.size > 0 ? whenStarting<string>(sql.lit("InProgress"), sql.lit("Queued")) : "Queued",
      ...(starting.size > 0 ? { executed_at: whenStarting<number>(now, sql.ref("executed_at")) } : {}),
      lock_holder: nodeId,
      locked_at: now,
      lease_token: sql<number>`${sql.ref("lease_token")} + 1`,
      updated_at: now,
      scheduled_for: sql<number>`coalesce(${sql.ref("scheduled_for")}, ${sql.ref("execution_time")})`,
    })
    .where(
      "id",
      "in",
      picked.map((row) => row.id),
    );
  const parents = picked.filter((row) => starting.has(row.id) && Number(row.waiting_children) > 0).map((r) => r.id);
  // The rows as the UPDATE leaves them (written over in place: the driver's rows are ours and
  // read no more), then records once: one object and its Dates per job.
  const records: JobRecord[] = picked.map((row) => {
    const starts = starting.has(row.id);
    row.status = starts ? "InProgress" : "Queued";
    if (starts) row.executed_at = now;
    row.lock_holder = nodeId;
    row.locked_at = now;
    row.lease_token = Number(row.lease_token) + 1;
    row.updated_at = now;
    row.scheduled_for ??= row.execution_time;
    return jobFromRow(row);
  });
  return { update, parents, records };
}

/**
 * Claims due jobs: the dialect's hot path when it has one, else the portable statements in one
 * write transaction of two steps (the candidates, then the lease UPDATE with the children it
 * releases), each one round trip where the dialect pipelines them (MySQL, mysql-dialect.ts).
 */
export async function jobClaimDue(ctx: SqlContext, params: ClaimParams, signals: StoreSignal[]): Promise<JobRecord[]> {
  if (params.limit <= 0 && params.longRunningLimit <= 0) return [];
  const { dialect } = ctx;
  if (dialect.hotPath) return dialect.hotPath.claimDue(ctx, params, signals);
  return pipelined(dialect)(async (send) => {
    const [found] = await send([candidatesQuery(ctx, dialect.db, params).compile(dialect.db)]);
    const picked = pickCandidates((found?.rows ?? []) as Candidate[], params.limit);
    if (picked.length === 0) return [];
    const claim = claimWrite(ctx, dialect.db, picked, params);
    const children = claim.parents.length > 0 ? startChildrenQueries(ctx, dialect.db, claim.parents, params.now) : [];
    const [, ...released] = await send([claim.update.compile(), ...children.map((query) => query.compile())], {
      last: true,
    });
    if (released.some((result) => Number(result.numAffectedRows ?? 0) > 0)) {
      signals.push({ type: "due", at: params.now });
    }
    return claim.records;
  });
}
