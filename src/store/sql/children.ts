/**
 * What happens to waiting children when their parent ends or starts: run conditions met
 * release them (due at the parent's end), unmet ones skip them and their whole subtree.
 */

import type { Kysely } from "kysely";
import { childRuns } from "../../lifecycle.js";
import type { FinalStatus, RunCondition } from "../../lifecycle.js";
import type { StoreSignal } from "../contract.js";
import type { SqlContext } from "./context.js";
import { chunks, sequentially } from "./context.js";
import type { PipelineSend } from "./dialect.js";
import type { Database } from "./schema.js";

/** Children still waiting for their parent: Idle without an executionTime. */
export function waitingChildrenQuery(ctx: SqlContext, db: Kysely<Database>, parentIds: readonly string[]) {
  return db
    .selectFrom(ctx.t.jobs)
    .select(["id", "parent_id", "run_condition"])
    .where("parent_id", "in", parentIds)
    .where("status", "=", "Idle")
    .where("execution_time", "is", null);
}

export type WaitingChild = { id: string; parent_id: string | null; run_condition: string | null };

/**
 * What the end of these parents does to their waiting children: the UPDATEs that release
 * those whose run condition holds (due at the parent's end), with a `due` signal per instant,
 * and the roots of the subtrees to skip (skipSubtree), by instant.
 */
export function childSettlement(
  ctx: SqlContext,
  db: Kysely<Database>,
  ended: ReadonlyMap<string, { status: FinalStatus; at: Date }>,
  waiting: readonly WaitingChild[],
) {
  const release = new Map<number, string[]>();
  const skip = new Map<number, string[]>();
  for (const child of waiting) {
    const parent = ended.get(child.parent_id ?? "");
    if (!parent) continue;
    const condition = (child.run_condition ?? "OnSuccess") as RunCondition;
    const target = childRuns(condition, parent.status) ? release : skip;
    const at = parent.at.getTime();
    const ids = target.get(at);
    if (ids) ids.push(child.id);
    else target.set(at, [child.id]);
  }
  const releases = [...release].flatMap(([at, ids]) =>
    chunks(ids).map((part) =>
      db
        .updateTable(ctx.t.jobs)
        .set({ execution_time: at, scheduled_for: at, updated_at: at })
        .where("id", "in", part)
        .compile(),
    ),
  );
  const signals: StoreSignal[] = [...release.keys()].map((at) => ({ type: "due", at: new Date(at) }));
  return { releases, skip, signals };
}

/** Marks the jobs Skipped, then their waiting descendants, level by level (a round trip per level). */
export async function skipSubtree(
  ctx: SqlContext,
  db: Kysely<Database>,
  send: PipelineSend,
  ids: readonly string[],
  at: number,
): Promise<void> {
  let frontier = [...ids];
  while (frontier.length > 0) {
    const queries = chunks(frontier).flatMap((part) => [
      db
        .updateTable(ctx.t.jobs)
        .set({ status: "Skipped", updated_at: at })
        .where("id", "in", part)
        .where("status", "=", "Idle")
        .compile(),
      db.selectFrom(ctx.t.jobs).select("id").where("parent_id", "in", part).where("status", "=", "Idle").compile(),
    ]);
    const results = await send(queries);
    frontier = results
      .filter((_, i) => i % 2 === 1)
      .flatMap((result) => (result.rows as { id: string }[]).map((r) => r.id));
  }
}

/**
 * Settles the waiting children of parents that just ended (`ended` maps parent id to its
 * final status and end), on `db` (a transaction). Returns `due` signals for released children.
 */
export async function settleChildren(
  ctx: SqlContext,
  db: Kysely<Database>,
  ended: ReadonlyMap<string, { status: FinalStatus; at: Date }>,
): Promise<StoreSignal[]> {
  if (ended.size === 0) return [];
  const send = sequentially(db);
  const waiting: WaitingChild[] = [];
  for (const part of chunks([...ended.keys()])) {
    waiting.push(...(await waitingChildrenQuery(ctx, db, part).execute()));
  }
  const settlement = childSettlement(ctx, db, ended, waiting);
  await send(settlement.releases);
  for (const [at, ids] of settlement.skip) await skipSubtree(ctx, db, send, ids, at);
  return settlement.signals;
}

/** The UPDATEs that make the `InProgress` children of started parents due at the start. */
export function startChildrenQueries(
  ctx: SqlContext,
  db: Kysely<Database>,
  parentIds: readonly string[],
  startedAt: Date,
) {
  const at = startedAt.getTime();
  return chunks(parentIds).map((part) =>
    db
      .updateTable(ctx.t.jobs)
      .set({ execution_time: at, scheduled_for: at, updated_at: at })
      .where("parent_id", "in", part)
      .where("status", "=", "Idle")
      .where("execution_time", "is", null)
      .where("run_condition", "=", "InProgress"),
  );
}
