/**
 * Migration 6: an index behind the list's search, which was a LIKE scan of every job (1.2 s on
 * PostgreSQL, 4.2 s on SQLite at a million jobs). The semantics stay: a case-insensitive
 * substring of the id, the function or the description, and with `searchRequest` of the
 * request's JSON text.
 *
 * - PostgreSQL: pg_trgm GIN indexes on `lower(id || chr(1) || function || chr(1) ||
 *   coalesce(description, ''))` and on `lower(request)`. The list asks the same expressions,
 *   so a substring of three characters or more is found from the index (and rechecked). The
 *   separator cannot be typed into a search, so a match never spans two columns. When the
 *   extension is missing and cannot be created (CREATE EXTENSION wants the database's owner or
 *   a trusted-extension grant), the migration warns and goes on without the indexes: the same
 *   query then scans. An administrator can add them later (docs/dashboard.md, "Search").
 * - SQLite: an FTS5 table with the trigram tokenizer (contentless, with deletes) over id,
 *   function, description and request, its rowids tied to jobs through `job_search_keys`
 *   (an INTEGER PRIMARY KEY, which VACUUM keeps, unlike the rowid of `jobs`). Triggers on
 *   `jobs` keep both in the statement's own transaction. A search of three characters or more
 *   is an FTS5 phrase; shorter ones scan as before.
 * - MySQL/MariaDB: nothing. Its FULLTEXT indexes find words, not substrings (MariaDB has no
 *   n-gram parser), so the search stays a scan there rather than change what it finds.
 *
 * Existing jobs are indexed by the migration itself (about a minute per million jobs).
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

export function quote(env: MigrationEnv, qualified: string): string {
  const q = env.kind === "mysql" ? "`" : '"';
  return qualified
    .split(".")
    .map((part) => `${q}${part}${q}`)
    .join(".");
}

/** Fixed here: the list's query repeats these expressions (src/store/sql/jobs.ts). */
const PG_TEXT = `lower(id || chr(1) || "function" || chr(1) || coalesce(description, ''))`;
const PG_REQUEST = `lower(request)`;

/** The schema holding pg_trgm's `gin_trgm_ops`, or null when the extension is not installed. */
export async function trigramSchema(db: Kysely<any>): Promise<string | null> {
  const { rows } = await sql<{ schema: string }>`select n.nspname as schema from pg_opclass c
    join pg_namespace n on n.oid = c.opcnamespace where c.opcname = 'gin_trgm_ops' limit 1`.execute(db);
  return rows[0]?.schema ?? null;
}

async function postgres(db: Kysely<any>, env: MigrationEnv): Promise<void> {
  const run = (text: string) => sql.raw(text).execute(db);
  const found = () => trigramSchema(db);
  let schema = await found();
  if (schema === null) {
    // In a savepoint: a refused CREATE EXTENSION must not abort the migration's transaction.
    await run("savepoint tickerq_trgm");
    try {
      await run("create extension if not exists pg_trgm");
      await run("release savepoint tickerq_trgm");
      schema = await found();
    } catch (error) {
      await run("rollback to savepoint tickerq_trgm");
      env.warn?.(
        `pg_trgm is not available (${(error as Error).message}); the job list's search scans instead of using an index. ` +
          `To add it later: CREATE EXTENSION pg_trgm, then the two indexes in docs/dashboard.md, "Search"`,
      );
      return;
    }
  }
  if (schema === null) return;
  const ops = `${quote(env, schema)}.gin_trgm_ops`;
  const jobs = quote(env, env.t.jobs);
  await run(`create index ${quote(env, `${env.prefix}jobs_search_ix`)} on ${jobs} using gin ((${PG_TEXT}) ${ops})`);
  await run(
    `create index ${quote(env, `${env.prefix}jobs_search_request_ix`)} on ${jobs} using gin ((${PG_REQUEST}) ${ops})`,
  );
}

async function sqlite(db: Kysely<any>, env: MigrationEnv): Promise<void> {
  const run = (text: string) => sql.raw(text).execute(db);
  const jobs = quote(env, env.t.jobs);
  const keys = quote(env, env.t.job_search_keys);
  const search = quote(env, env.t.job_search);
  const trigger = (suffix: string) => quote(env, `${env.prefix}${suffix}`);
  const key = (row: "new" | "old") => `(select n from ${keys} where job_id = ${row}.id)`;
  await run(`create table ${keys} (n integer primary key, job_id text not null unique)`);
  await run(`create virtual table ${search} using fts5(id, "function", description, request,
    content = '', contentless_delete = 1, tokenize = 'trigram')`);
  await run(`insert into ${keys} (job_id) select id from ${jobs}`);
  await run(`insert into ${search} (rowid, id, "function", description, request)
    select k.n, j.id, j."function", j.description, j.request from ${keys} k join ${jobs} j on j.id = k.job_id`);
  await run(`create trigger ${trigger("jobs_search_ins")} after insert on ${jobs} for each row begin
    insert into ${keys} (job_id) values (new.id);
    insert into ${search} (rowid, id, "function", description, request)
      values (${key("new")}, new.id, new."function", new.description, new.request);
  end`);
  await run(`create trigger ${trigger("jobs_search_del")} after delete on ${jobs} for each row begin
    delete from ${search} where rowid = ${key("old")};
    delete from ${keys} where job_id = old.id;
  end`);
  await run(`create trigger ${trigger("jobs_search_upd")} after update of "function", description, request on ${jobs}
    for each row when old."function" is not new."function" or old.description is not new.description
      or old.request is not new.request begin
    update ${search} set id = new.id, "function" = new."function", description = new.description, request = new.request
      where rowid = ${key("new")};
  end`);
}

export const search: Migration = {
  version: 6,
  name: "search index",
  async up(db: Kysely<any>, env: MigrationEnv) {
    if (env.kind === "postgres") await postgres(db, env);
    else if (env.kind === "sqlite") await sqlite(db, env);
  },
};
