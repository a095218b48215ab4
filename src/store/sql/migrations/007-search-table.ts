/**
 * Migration 7, PostgreSQL only: the search's trigram indexes move off `jobs` into a table of
 * their own, `job_search` (job_id, text, request), which holds the two lowered texts that
 * migration 6 indexed as expressions on `jobs`.
 *
 * Why: PostgreSQL writes an entry in every index of a table for each new row version, and a
 * job gets two (its claim and its completion) besides its insert. On `jobs` the two GIN
 * indexes took the trigrams of the id, function, description and request again for each of
 * them; a drain of 20,000 jobs spent about 40 % of its time there. Their text is written once,
 * at insert, and changes only when an Idle job's function, description or request is edited.
 *
 * Triggers keep it in the writing statement's own transaction: per statement on insert and
 * delete (through transition tables, one statement for a whole batch), per row on an edit of
 * one of those three columns only (an UPDATE that does not set them never fires it, so the
 * hot path's claim and completion do not). Without pg_trgm (migration 6 warned) the table and
 * its triggers exist all the same and the search scans it; the indexes can be added later
 * (docs/dashboard.md, "Search").
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import { quote, trigramSchema } from "./006-search.js";
import type { Migration, MigrationEnv } from "./index.js";

/** Fixed here: the list's query reads these columns (src/store/sql/jobs.ts). Migration 9 writes the same. */
export const TEXT = (row: string) =>
  `lower(${row}id || chr(1) || ${row}"function" || chr(1) || coalesce(${row}description, ''))`;
export const REQUEST = (row: string) => `lower(${row}request)`;

async function postgres(db: Kysely<any>, env: MigrationEnv): Promise<void> {
  const run = (text: string) => sql.raw(text).execute(db);
  const { t, prefix } = env;
  const jobs = quote(env, t.jobs);
  const search = quote(env, t.job_search);
  const name = (suffix: string) => {
    const schema = t.jobs.includes(".") ? `${t.jobs.split(".")[0]}.` : "";
    return quote(env, `${schema}${prefix}${suffix}`);
  };
  const local = (suffix: string) => quote(env, `${prefix}${suffix}`);

  await run(`create table ${search} (job_id text primary key, text text not null, request text)`);
  await run(`insert into ${search} (job_id, text, request) select id, ${TEXT("")}, ${REQUEST("")} from ${jobs}`);
  await run(`create function ${name("jobs_search_fn")}() returns trigger language plpgsql as $fn$
    begin
      if tg_op = 'INSERT' then
        insert into ${search} (job_id, text, request) select id, ${TEXT("")}, ${REQUEST("")} from new_rows;
      elsif tg_op = 'DELETE' then
        delete from ${search} s using old_rows o where s.job_id = o.id;
      else
        update ${search} set text = ${TEXT("new.")}, request = ${REQUEST("new.")} where job_id = new.id;
      end if;
      return null;
    end $fn$`);
  await run(`create trigger ${local("jobs_search_ins")} after insert on ${jobs}
    referencing new table as new_rows for each statement execute function ${name("jobs_search_fn")}()`);
  await run(`create trigger ${local("jobs_search_del")} after delete on ${jobs}
    referencing old table as old_rows for each statement execute function ${name("jobs_search_fn")}()`);
  await run(`create trigger ${local("jobs_search_upd")} after update of "function", description, request on ${jobs}
    for each row when (old."function" is distinct from new."function" or old.description is distinct from
      new.description or old.request is distinct from new.request)
    execute function ${name("jobs_search_fn")}()`);

  const trgm = await trigramSchema(db);
  if (trgm !== null) {
    const ops = `${quote(env, trgm)}.gin_trgm_ops`;
    await run(`create index ${local("job_search_text_ix")} on ${search} using gin (text ${ops})`);
    await run(`create index ${local("job_search_request_ix")} on ${search} using gin (request ${ops})`);
  }
  await run(`drop index if exists ${name("jobs_search_ix")}, ${name("jobs_search_request_ix")}`);
}

export const searchTable: Migration = {
  version: 7,
  name: "search table (PostgreSQL)",
  async up(db: Kysely<any>, env: MigrationEnv) {
    if (env.kind === "postgres") await postgres(db, env);
  },
};
