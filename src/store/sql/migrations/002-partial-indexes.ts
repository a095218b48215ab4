/**
 * Migration 2: indexes that cover only the rows their queries can match. Most jobs have no
 * parent and no cron ticker, and only Idle jobs are ever claimed; a full index still takes a
 * new entry for every version of every row (each claim and completion writes one), so the
 * claim index, the parent index and (on PostgreSQL) the cron occurrence key become partial.
 * Claims, children lookups and cron planning read them as before; inserts and status changes
 * maintain three fewer entries.
 *
 * MySQL/MariaDB has no partial indexes: its indexes stay as migration 1 made them. SQLite
 * cannot drop a UNIQUE table constraint, so its occurrence key stays whole too.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

export const partialIndexes: Migration = {
  version: 2,
  name: "partial indexes",
  async up(db: Kysely<any>, env: MigrationEnv) {
    if (env.kind === "mysql") return;
    const { t, prefix } = env;
    // Index names live in the table's schema: qualify them the same way to drop them.
    const schema = t.jobs.includes(".") ? `${t.jobs.split(".")[0]}.` : "";
    const jobs = sql.table(t.jobs);
    const name = (index: string) => sql.id(`${prefix}${index}`);
    const drop = (index: string) => sql`drop index if exists ${sql.table(`${schema}${prefix}${index}`)}`.execute(db);

    await drop("jobs_claim_ix");
    // The claim walks (priority_rank, execution_time, id) among Idle jobs only; the status is
    // the predicate, so a claim or a completion (leaving Idle) adds nothing here.
    await sql`create index ${name("jobs_claim_ix")} on ${jobs} (priority_rank, execution_time, id)
      where status = 'Idle'`.execute(db);

    await drop("jobs_parent_ix");
    await sql`create index ${name("jobs_parent_ix")} on ${jobs} (parent_id) where parent_id is not null`.execute(db);

    if (env.kind === "postgres") {
      // ON CONFLICT DO NOTHING (the cron planner's insert) honours a partial unique index.
      await sql`alter table ${jobs} drop constraint if exists ${name("jobs_occurrence_uq")}`.execute(db);
      await sql`create unique index ${name("jobs_occurrence_uq")} on ${jobs} (cron_ticker_id, occurrence_time)
        where cron_ticker_id is not null`.execute(db);
    }
  },
};
