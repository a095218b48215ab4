/**
 * Migration 9, PostgreSQL only: new jobs' search texts wait in `job_search_backlog` (job_id,
 * text, request), a table with a primary key and no trigram index, until a node's heartbeat
 * moves them into `job_search` (migration 7) and its pg_trgm indexes, in batches.
 *
 * Why: the two GIN indexes took about 60 % of a bulk insert's server time (20,000 rows: 1.3 s
 * with them, 0.5 s without the search table at all, 0.6 s with this table in its place). A
 * batch written into them later costs the server no more than a trigger did, but no longer
 * sits in the caller's insert.
 *
 * A search reads both tables (src/store/sql/postgres-dialect.ts), so its answers are the same
 * whether a job's text was moved yet or not: only the backlog's part is a scan. The insert
 * trigger fills the backlog; delete and edit triggers act on both tables, the backlog first. A
 * move locks the rows it takes (SKIP LOCKED, so nodes share the work) and deletes them in the
 * statement that inserts them into `job_search`: an edit racing it either waits for the move
 * and then finds the text in `job_search`, or holds the row so the move leaves it for later.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import { quote } from "./006-search.js";
import { REQUEST, TEXT } from "./007-search-table.js";
import type { Migration, MigrationEnv } from "./index.js";

async function postgres(db: Kysely<any>, env: MigrationEnv): Promise<void> {
  const run = (text: string) => sql.raw(text).execute(db);
  const { t, prefix } = env;
  const search = quote(env, t.job_search);
  const backlog = quote(env, t.job_search_backlog);
  const schema = t.jobs.includes(".") ? `${t.jobs.split(".")[0]}.` : "";

  await run(`create table ${backlog} (job_id text primary key, text text not null, request text)`);
  // The trigger function of migration 7, replaced: its three triggers call it by name.
  await run(`create or replace function ${quote(env, `${schema}${prefix}jobs_search_fn`)}() returns trigger
    language plpgsql as $fn$
    begin
      if tg_op = 'INSERT' then
        insert into ${backlog} (job_id, text, request) select id, ${TEXT("")}, ${REQUEST("")} from new_rows;
      elsif tg_op = 'DELETE' then
        delete from ${backlog} b using old_rows o where b.job_id = o.id;
        delete from ${search} s using old_rows o where s.job_id = o.id;
      else
        update ${backlog} set text = ${TEXT("new.")}, request = ${REQUEST("new.")} where job_id = new.id;
        update ${search} set text = ${TEXT("new.")}, request = ${REQUEST("new.")} where job_id = new.id;
      end if;
      return null;
    end $fn$`);
}

export const searchBacklog: Migration = {
  version: 9,
  name: "search backlog (PostgreSQL)",
  async up(db: Kysely<any>, env: MigrationEnv) {
    if (env.kind === "postgres") await postgres(db, env);
  },
};
