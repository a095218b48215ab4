/** Node rows: heartbeats (with what each node reports about itself) and operator pauses. */

import type { NodeInfo, NodeRecord, StoreSignal } from "../contract.js";
import type { SqlContext } from "./context.js";
import { nodeFromRow } from "./rows.js";

export async function nodeHeartbeat(
  ctx: SqlContext,
  nodeId: string,
  at: Date,
  info: NodeInfo,
): Promise<{ paused: boolean }> {
  const { db } = ctx.dialect;
  const ms = at.getTime();
  const insert = db
    .insertInto(ctx.t.nodes)
    .values({ node_id: nodeId, started_at: ms, heartbeat_at: ms, paused: 0, info: JSON.stringify(info) });
  const upsert = ctx.dialect.upsert(insert, "node_id", { heartbeat_at: ms, info: JSON.stringify(info) });
  // One round trip where the upsert can hand back the paused flag (each heartbeat, and a node's start).
  const row = ctx.dialect.upsertReturns
    ? await upsert.returning("paused").executeTakeFirst()
    : await upsert
        .execute()
        .then(() => db.selectFrom(ctx.t.nodes).select("paused").where("node_id", "=", nodeId).executeTakeFirst());
  return { paused: Number(row?.paused ?? 0) === 1 };
}

export async function nodeList(ctx: SqlContext): Promise<NodeRecord[]> {
  const rows = await ctx.dialect.db.selectFrom(ctx.t.nodes).selectAll().orderBy("node_id").execute();
  return rows.map(nodeFromRow);
}

export async function nodeSetPaused(
  ctx: SqlContext,
  nodeId: string,
  paused: boolean,
  signals: StoreSignal[],
): Promise<boolean> {
  const exists = await ctx.dialect.db
    .selectFrom(ctx.t.nodes)
    .select("node_id")
    .where("node_id", "=", nodeId)
    .executeTakeFirst();
  if (!exists) return false;
  await ctx.dialect.db
    .updateTable(ctx.t.nodes)
    .set({ paused: paused ? 1 : 0 })
    .where("node_id", "=", nodeId)
    .execute();
  signals.push({ type: "node", nodeId });
  return true;
}

export async function nodeRemove(ctx: SqlContext, nodeId: string): Promise<void> {
  await ctx.dialect.db.deleteFrom(ctx.t.nodes).where("node_id", "=", nodeId).execute();
}
