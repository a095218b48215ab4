/** The handles every shared SQL module works with: the dialect, the qualified table names, chunking. */

import type { Kysely } from "kysely";
import type { PipelinedTx, PipelineSend, SqlDialect } from "./dialect.js";
import type { Database } from "./schema.js";
import type { TableNames } from "./schema.js";

export interface SqlContext {
  readonly dialect: SqlDialect;
  readonly t: TableNames;
}

/**
 * Rows per multi-row INSERT and ids per IN list: well under SQLite's 32,766 and PostgreSQL's
 * 65,535 bound parameters with ~25 columns a row.
 */
export const CHUNK = 500;

export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Applies limit and offset to a list query (an offset alone needs a limit in MySQL and SQLite). */
export function paged<Q extends { limit(n: number): Q; offset(n: number): Q }>(
  query: Q,
  limit: number | undefined,
  offset: number | undefined,
): Q {
  let q = limit === undefined ? query : query.limit(limit);
  if (offset) q = (limit === undefined ? q.limit(Number.MAX_SAFE_INTEGER) : q).offset(offset);
  return q;
}

/** Sends each statement of a group in turn on `db` (a transaction): PipelineSend without the pipelining. */
export function sequentially(db: Kysely<Database>): PipelineSend {
  return async (queries) => {
    const results = [];
    for (const query of queries) results.push(await db.executeQuery(query));
    return results;
  };
}

/** The dialect's pipelined write transaction, or writeTx sending each statement in turn. */
export function pipelined(dialect: SqlDialect): PipelinedTx {
  return dialect.pipelinedTx ?? ((fn) => dialect.writeTx((tx) => fn(sequentially(tx))));
}
