/**
 * PostgreSQL's search backlog (migration 9): new jobs' search texts moved into the search
 * table and its pg_trgm indexes, a batch at a time, by the nodes' heartbeats.
 */

import { sql } from "kysely";
import type { SqlContext } from "./context.js";

/**
 * Moves up to `limit` rows of the backlog into `job_search` in one statement: the rows it
 * deletes are the rows it inserts, so a text is always in exactly one of the two tables. Rows
 * another node is moving, or an edit holds, are skipped (left for a later batch).
 */
export async function postgresSearchCatchUp(ctx: SqlContext, limit: number): Promise<number> {
  const { t } = ctx;
  const backlog = sql.table(t.job_search_backlog);
  const { rows } = await sql<{ n: number }>`
    with taken as (
      select job_id from ${backlog} limit ${limit} for update skip locked
    ), moved as (
      delete from ${backlog} b using taken where b.job_id = taken.job_id
      returning b.job_id, b.text, b.request
    ), indexed as (
      insert into ${sql.table(t.job_search)} (job_id, text, request)
      select job_id, text, request from moved
      on conflict (job_id) do update set text = excluded.text, request = excluded.request
      returning 1
    )
    select count(*)::int as n from indexed`.execute(ctx.dialect.db);
  return rows[0]?.n ?? 0;
}
