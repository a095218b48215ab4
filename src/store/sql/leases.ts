/**
 * The lease path after the claim (claim.ts): starting, completing, releasing, cancelling and
 * recovering jobs. Every write here checks that the job is still held by the writer.
 */

import type { Kysely, QueryResult } from "kysely";
import { sql } from "kysely";
import type { FinalStatus } from "../../lifecycle.js";
import { isFinal } from "../../lifecycle.js";
import type { CancelResult, JobCompletion, JobLease, JobRecord, StoreSignal } from "../contract.js";
import type { WaitingChild } from "./children.js";
import {
  childSettlement,
  settleChildren,
  skipSubtree,
  startChildrenQueries,
  waitingChildrenQuery,
} from "./children.js";
import type { SqlContext } from "./context.js";
import { chunks, pipelined, sequentially } from "./context.js";
import { dueSignal as jobsDue } from "./jobs.js";
import { ROLLUP_COLUMNS, batchRollup } from "./rollup.js";
import { attemptToRow, toMs } from "./rows.js";
import type { Database, JobsTable } from "./schema.js";

type Signals = StoreSignal[];

const HELD = ["Queued", "InProgress"];

/** The SELECTs of the rows `nodeId` holds (locked until the transaction ends), lease tokens not yet checked (heldUnder). */
function heldQueries(
  ctx: SqlContext,
  db: Kysely<Database>,
  leases: readonly JobLease[],
  nodeId: string,
  statuses: string[],
) {
  return chunks(leases.map((lease) => lease.id)).map((part) => {
    const query = db
      .selectFrom(ctx.t.jobs)
      .selectAll()
      .where("id", "in", part)
      .where("lock_holder", "=", nodeId)
      .where("status", "in", statuses);
    return (ctx.dialect.skipLocked ? query.forUpdate() : query).compile();
  });
}

/** The rows of heldQueries' results that still carry the lease token they were claimed under. */
function heldUnder(leases: readonly JobLease[], results: readonly QueryResult<unknown>[]): JobsTable[] {
  const tokens = new Map(leases.map((lease) => [lease.id, lease.leaseToken]));
  return results
    .flatMap((result) => result.rows as JobsTable[])
    .filter((row) => Number(row.lease_token) === tokens.get(row.id));
}

/** The rows that `nodeId` holds under these leases, locked until the transaction ends. */
async function held(
  ctx: SqlContext,
  tx: Kysely<Database>,
  leases: readonly JobLease[],
  nodeId: string,
  statuses: string[],
) {
  return heldUnder(leases, await sequentially(tx)(heldQueries(ctx, tx, leases, nodeId, statuses)));
}

/**
 * A batch split into rounds that each carry a job at most once, in the order given. A node that
 * claimed a job again after its lease was recovered can end its old run and its new one in the
 * same batch, and every dialect's statements match a batch to its rows by id: in rounds, each
 * write is judged against the lease it names (the old one is superseded, the new one applies).
 */
function byRounds<T extends { id: string }>(items: readonly T[]): T[][] {
  const rounds: T[][] = [];
  const seen = new Map<string, number>();
  for (const item of items) {
    const round = seen.get(item.id) ?? 0;
    seen.set(item.id, round + 1);
    (rounds[round] ??= []).push(item);
  }
  return rounds;
}

export async function jobStartMany(
  ctx: SqlContext,
  leases: readonly JobLease[],
  nodeId: string,
  at: Date,
  signals: Signals,
): Promise<string[]> {
  if (leases.length === 0) return [];
  const rounds = byRounds(leases);
  if (rounds.length > 1) {
    const started: string[] = [];
    for (const round of rounds) started.push(...(await jobStartMany(ctx, round, nodeId, at, signals)));
    return started;
  }
  if (ctx.dialect.hotPath) return ctx.dialect.hotPath.startMany(ctx, leases, nodeId, at, signals);
  const { db } = ctx.dialect;
  const ms = at.getTime();
  // Two round trips where the dialect pipelines them (MySQL): the held rows, then the UPDATE
  // with the InProgress children it makes due, and the commit.
  return pipelined(ctx.dialect)(async (send) => {
    const started = heldUnder(leases, await send(heldQueries(ctx, db, leases, nodeId, ["Queued"]))).map((r) => r.id);
    if (started.length === 0) return [];
    const updates = chunks(started).map((part) =>
      db
        .updateTable(ctx.t.jobs)
        .set({
          status: "InProgress",
          // A job started ahead of its time runs at its due instant.
          executed_at: sql<number>`case when ${sql.ref("execution_time")} > ${ms} then ${sql.ref("execution_time")} else ${ms} end`,
          updated_at: ms,
        })
        .where("id", "in", part)
        .compile(),
    );
    const children = startChildrenQueries(ctx, db, started, at).map((query) => query.compile());
    const results = await send([...updates, ...children], { last: true });
    if (results.slice(updates.length).some((result) => Number(result.numAffectedRows ?? 0) > 0)) {
      signals.push({ type: "due", at });
    }
    const ids = new Set(started);
    return leases.map((lease) => lease.id).filter((id) => ids.has(id));
  });
}

/** `CASE id WHEN … THEN … ELSE column END`: one UPDATE writes a different value per row. */
function perRow(column: keyof JobsTable, values: readonly (readonly [string, unknown])[]) {
  const whens = values.map(([id, value]) => sql`when ${id} then ${value}`);
  return sql<any>`case ${sql.ref("id")} ${sql.join(whens, sql` `)} else ${sql.ref(column)} end`;
}

/** The UPDATE of one part of a batch of completions: retries are due again at their retry time. */
function completionUpdate(ctx: SqlContext, part: readonly JobCompletion[], isRetry: boolean) {
  const pick = <T>(f: (c: JobCompletion) => T) => part.map((c) => [c.id, f(c)] as const);
  return ctx.dialect.db
    .updateTable(ctx.t.jobs)
    .set({
      // The lease ends with the attempt, whatever comes next.
      lock_holder: null,
      locked_at: null,
      cancel_requested: 0,
      status: perRow(
        "status",
        pick((c) => c.status),
      ),
      elapsed_ms: perRow(
        "elapsed_ms",
        pick((c) => Math.round(c.elapsedMs)),
      ),
      exception_message: perRow(
        "exception_message",
        pick((c) => c.exceptionMessage),
      ),
      exception_details: perRow(
        "exception_details",
        pick((c) => c.exceptionDetails),
      ),
      updated_at: perRow(
        "updated_at",
        pick((c) => c.finishedAt.getTime()),
      ),
      ...(isRetry
        ? {
            execution_time: perRow(
              "execution_time",
              pick((c) => (c.retryAt ?? c.finishedAt).getTime()),
            ),
            retry_count: sql<number>`${sql.ref("retry_count")} + 1`,
          }
        : {}),
    })
    .where(
      "id",
      "in",
      part.map((c) => c.id),
    )
    .compile();
}

/**
 * Applies a batch of completions in two groups of statements whatever its size, each one
 * round trip where the dialect pipelines them (MySQL): the batch's rows, locked, with the
 * children waiting on those that end; then one UPDATE for retries, one for final outcomes,
 * the children released, the attempts, and the commit. Skipping a waiting subtree (a run
 * condition not met) adds a round trip per level.
 */
export async function jobCompleteMany(
  ctx: SqlContext,
  completions: readonly JobCompletion[],
  signals: Signals,
): Promise<{ superseded: string[] }> {
  if (completions.length === 0) return { superseded: [] };
  const rounds = byRounds(completions);
  if (rounds.length > 1) {
    const superseded: string[] = [];
    for (const round of rounds) superseded.push(...(await jobCompleteMany(ctx, round, signals)).superseded);
    return { superseded };
  }
  if (ctx.dialect.hotPath) return ctx.dialect.hotPath.completeMany(ctx, completions, signals);
  const { db } = ctx.dialect;
  return pipelined(ctx.dialect)(async (send) => {
    // byRounds left each job once. Every row of the batch is read (and locked): the owned ones
    // end; the others, if they still exist, keep the stale run's attempt, marked superseded.
    const rowQueries = chunks(completions.map((c) => c.id)).map((part) => {
      const query = db
        .selectFrom(ctx.t.jobs)
        .select(["id", "lock_holder", "status", "lease_token", "function", "scheduled_for"])
        .where("id", "in", part);
      return (ctx.dialect.skipLocked ? query.forUpdate() : query).compile();
    });
    const ending = completions.filter((c) => c.status !== "Idle").map((c) => c.id);
    const childQueries = chunks(ending).map((part) => waitingChildrenQuery(ctx, db, part).compile());
    const results = await send([...rowQueries, ...childQueries]);
    const rows = new Map(
      results
        .slice(0, rowQueries.length)
        .flatMap(
          (result) =>
            result.rows as Pick<
              JobsTable,
              "id" | "lock_holder" | "status" | "lease_token" | "function" | "scheduled_for"
            >[],
        )
        .map((row) => [row.id, row]),
    );
    const owns = (c: JobCompletion) => {
      const row = rows.get(c.id);
      return row?.lock_holder === c.nodeId && HELD.includes(row.status) && Number(row.lease_token) === c.leaseToken;
    };
    const owned = completions.filter(owns);
    const stale = completions.filter((c) => !owns(c));
    const retries = owned.filter((c) => c.status === "Idle");
    const finals = owned.filter((c) => c.status !== "Idle");
    const ended = new Map(finals.map((c) => [c.id, { status: c.status as FinalStatus, at: c.finishedAt }]));
    const waiting = results.slice(rowQueries.length).flatMap((result) => result.rows as WaitingChild[]);
    const children = childSettlement(ctx, db, ended, waiting);
    // The attempts come with their run rollup (migration 8: rolled_up, so the trigger skips them).
    const history = [
      ...owned.map((c) => attemptToRow(c.attempt)),
      ...stale.filter((c) => rows.has(c.id)).map((c) => attemptToRow({ ...c.attempt, superseded: true })),
    ].map((row) => ({ ...row, rolled_up: 1 }));
    const rollup = batchRollup(
      owned.map((c) => {
        const row = rows.get(c.id);
        return { attempt: c.attempt, function: row?.function ?? null, scheduledFor: row?.scheduled_for ?? null };
      }),
    ).map((values) => Object.fromEntries(ROLLUP_COLUMNS.map((column, i) => [column, values[i]])));
    const writes = [
      ...chunks(retries, 100).map((part) => completionUpdate(ctx, part, true)),
      ...chunks(finals, 100).map((part) => completionUpdate(ctx, part, false)),
      ...children.releases,
      ...chunks(history).map((part) => db.insertInto(ctx.t.attempts).values(part).compile()),
      ...chunks(rollup, 100).map((part) =>
        db
          .insertInto(ctx.t.run_rollup_deltas)
          .values(part as never)
          .compile(),
      ),
    ];
    await send(writes, { last: children.skip.size === 0 });
    for (const [at, ids] of children.skip) await skipSubtree(ctx, db, send, ids, at);
    const due = jobsDue(retries.map((c) => ({ executionTime: c.retryAt ?? c.finishedAt })));
    if (due) signals.push(due);
    signals.push(...children.signals);
    return { superseded: stale.map((c) => c.id) };
  });
}

export async function jobRelease(
  ctx: SqlContext,
  leases: readonly JobLease[],
  nodeId: string,
  now: Date,
  signals: Signals,
): Promise<void> {
  if (leases.length === 0) return;
  await ctx.dialect.writeTx(async (tx) => {
    const rows = await held(ctx, tx, leases, nodeId, HELD);
    for (const part of chunks(rows.map((r) => r.id))) {
      await tx
        .updateTable(ctx.t.jobs)
        .set({ status: "Idle", lock_holder: null, locked_at: null, updated_at: now.getTime() })
        .where("id", "in", part)
        .execute();
    }
    const earliest = Math.min(...rows.map((r) => toMs(r.execution_time ?? now.getTime())));
    if (rows.length > 0) signals.push({ type: "due", at: new Date(earliest) });
  });
}

export async function jobLeaseList(ctx: SqlContext, nodeId: string): Promise<JobLease[]> {
  const rows = await ctx.dialect.db
    .selectFrom(ctx.t.jobs)
    .select(["id", "lease_token"])
    .where("lock_holder", "=", nodeId)
    .where("status", "in", HELD)
    .execute();
  return rows.map((row) => ({ id: row.id, leaseToken: Number(row.lease_token) }));
}

export async function jobCancel(ctx: SqlContext, id: string, now: Date, signals: Signals): Promise<CancelResult> {
  return ctx.dialect.writeTx(async (tx) => {
    let query = tx.selectFrom(ctx.t.jobs).select("status").where("id", "=", id);
    if (ctx.dialect.skipLocked) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) return "not-found";
    const status = row.status as JobRecord["status"];
    if (isFinal(status)) return "final";
    if (status === "InProgress") {
      await tx
        .updateTable(ctx.t.jobs)
        .set({ cancel_requested: 1, updated_at: now.getTime() })
        .where("id", "=", id)
        .execute();
      signals.push({ type: "cancel", id });
      return "requested";
    }
    await tx
      .updateTable(ctx.t.jobs)
      .set({ status: "Cancelled", lock_holder: null, locked_at: null, updated_at: now.getTime() })
      .where("id", "=", id)
      .execute();
    if (status === "Queued") signals.push({ type: "cancel", id }); // its holder drops it
    signals.push(...(await settleChildren(ctx, tx, new Map([[id, { status: "Cancelled" as const, at: now }]]))));
    return "cancelled";
  });
}

/**
 * Work is recovered when its holder is named dead and its heartbeat is still the one the
 * caller saw, or when its holder has no node record and leased it before `orphanedBefore`.
 * In-flight work is bounded by the nodes' concurrency, so scanning the held rows is cheap.
 */
export async function jobRecoverLeases(
  ctx: SqlContext,
  params: {
    now: Date;
    deadNodes: readonly { nodeId: string; heartbeatAt: Date | null }[];
    orphanedBefore: Date | null;
  },
  signals: Signals,
): Promise<string[]> {
  const now = params.now.getTime();
  if (params.deadNodes.length === 0 && params.orphanedBefore === null) return [];
  const orphanedBefore = params.orphanedBefore?.getTime() ?? Number.NEGATIVE_INFINITY;
  const named = new Map(params.deadNodes.map((dead) => [dead.nodeId, dead.heartbeatAt?.getTime() ?? null]));
  if (params.orphanedBefore === null) {
    // Named nodes only (a node's start names itself): when they hold nothing, one read instead
    // of a transaction of four statements. What they lease after this read, the transaction
    // run at this instant would not have recovered either.
    const held = await ctx.dialect.db
      .selectFrom(ctx.t.jobs)
      .select("id")
      .where("status", "in", HELD)
      .where("lock_holder", "in", [...named.keys()])
      .limit(1)
      .execute();
    if (held.length === 0) return [];
  }
  return ctx.dialect.writeTx(async (tx) => {
    const nodes = await tx.selectFrom(ctx.t.nodes).select(["node_id", "heartbeat_at"]).execute();
    const heartbeats = new Map(nodes.map((n) => [n.node_id, toMs(n.heartbeat_at)]));
    let query = tx.selectFrom(ctx.t.jobs).selectAll().where("status", "in", HELD);
    if (ctx.dialect.skipLocked) query = query.forUpdate().skipLocked();
    const lost = (await query.execute()).filter((row) => {
      const holder = row.lock_holder ?? "";
      const heartbeat = heartbeats.get(holder);
      if (named.has(holder)) {
        const seen = named.get(holder);
        return heartbeat === undefined || seen === null || heartbeat === seen;
      }
      return heartbeat === undefined && toMs(row.locked_at ?? 0) < orphanedBefore;
    });
    const attempts = [];
    for (const row of lost) {
      if (row.status === "InProgress") {
        const startedAt = toMs(row.executed_at ?? row.locked_at ?? now);
        const message = `node ${JSON.stringify(row.lock_holder)} stopped heartbeating while running this job`;
        await tx
          .updateTable(ctx.t.jobs)
          .set({
            status: "Idle",
            retry_count: sql<number>`${sql.ref("retry_count")} + 1`,
            lock_holder: null,
            locked_at: null,
            cancel_requested: 0,
            exception_message: message,
            exception_details: null,
            updated_at: now,
          })
          .where("id", "=", row.id)
          .execute();
        attempts.push(
          attemptToRow({
            jobId: row.id,
            attempt: Number(row.retry_count),
            status: "Failed",
            nodeId: row.lock_holder ?? "",
            startedAt: new Date(startedAt),
            finishedAt: params.now,
            elapsedMs: Math.max(0, now - startedAt),
            exceptionMessage: message,
            exceptionDetails: null,
            superseded: false,
          }),
        );
      } else {
        await tx
          .updateTable(ctx.t.jobs)
          .set({ status: "Idle", lock_holder: null, locked_at: null, updated_at: now })
          .where("id", "=", row.id)
          .execute();
      }
    }
    for (const part of chunks(attempts)) await tx.insertInto(ctx.t.attempts).values(part).execute();
    if (lost.length > 0) signals.push({ type: "due", at: params.now });
    return lost.map((row) => row.id);
  });
}
