/**
 * What happens to waiting children when their parent ends or starts: run conditions met
 * release them (due at the parent's end), unmet ones skip them and their whole subtree.
 */

import type { Kysely } from "kysely";
import { childRuns } from "../../lifecycle.js";
import type { FinalStatus, RunCondition } from "../../lifecycle.js";
import type { StoreSignal } from "../contract.js";
import type { SqlContext } from "./context.js";
import { chunks } from "./context.js";
import type { Database } from "./schema.js";

/** Children still waiting for their parent: Idle without an executionTime. */
function waitingChildren(ctx: SqlContext, db: Kysely<Database>, parentIds: readonly string[]) {
  return db
    .selectFrom(ctx.t.jobs)
    .select(["id", "parent_id", "run_condition"])
    .where("parent_id", "in", parentIds)
    .where("status", "=", "Idle")
    .where("execution_time", "is", null)
    .execute();
}

/** Marks the jobs Skipped, then their waiting descendants, level by level. */
async function skipSubtree(ctx: SqlContext, db: Kysely<Database>, ids: readonly string[], at: number): Promise<void> {
  let frontier = [...ids];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const part of chunks(frontier)) {
      await db
        .updateTable(ctx.t.jobs)
        .set({ status: "Skipped", updated_at: at })
        .where("id", "in", part)
        .where("status", "=", "Idle")
        .execute();
      const rows = await db
        .selectFrom(ctx.t.jobs)
        .select("id")
        .where("parent_id", "in", part)
        .where("status", "=", "Idle")
        .execute();
      next.push(...rows.map((r) => r.id));
    }
    frontier = next;
  }
}

/**
 * Settles the waiting children of parents that just ended (`ended` maps parent id to its
 * final status and end). Returns `due` signals for released children.
 */
export async function settleChildren(
  ctx: SqlContext,
  db: Kysely<Database>,
  ended: ReadonlyMap<string, { status: FinalStatus; at: Date }>,
): Promise<StoreSignal[]> {
  if (ended.size === 0) return [];
  const release = new Map<number, string[]>();
  const skip = new Map<number, string[]>();
  for (const part of chunks([...ended.keys()])) {
    for (const child of await waitingChildren(ctx, db, part)) {
      const parent = ended.get(child.parent_id ?? "");
      if (!parent) continue;
      const condition = (child.run_condition ?? "OnSuccess") as RunCondition;
      const target = childRuns(condition, parent.status) ? release : skip;
      const at = parent.at.getTime();
      target.set(at, [...(target.get(at) ?? []), child.id]);
    }
  }
  for (const [at, ids] of release) {
    for (const part of chunks(ids)) {
      await db
        .updateTable(ctx.t.jobs)
        .set({ execution_time: at, scheduled_for: at, updated_at: at })
        .where("id", "in", part)
        .execute();
    }
  }
  for (const [at, ids] of skip) await skipSubtree(ctx, db, ids, at);
  return [...release.keys()].map((at) => ({ type: "due", at: new Date(at) }));
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

/** Makes the `InProgress` children of started parents due at the start. */
export async function startChildren(
  ctx: SqlContext,
  db: Kysely<Database>,
  parentIds: readonly string[],
  startedAt: Date,
): Promise<StoreSignal | null> {
  let released = 0;
  for (const query of startChildrenQueries(ctx, db, parentIds, startedAt)) {
    released += Number((await query.executeTakeFirst()).numUpdatedRows);
  }
  return released > 0 ? { type: "due", at: startedAt } : null;
}
