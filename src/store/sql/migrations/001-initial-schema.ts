/**
 * Migration 1: jobs, attempts, cron tickers and nodes, with the indexes that keep the hot
 * path O(log n): next due and claims walk (status, [priority_rank,] execution_time).
 */

import type { CreateTableBuilder, Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

/** MySQL tables are created utf8mb4 with binary collation, so ids and names compare exactly. */
function tableOptions(env: MigrationEnv) {
  return <T extends string, C extends string>(builder: CreateTableBuilder<T, C>): CreateTableBuilder<T, C> =>
    env.kind === "mysql" ? builder.modifyEnd(sql`default charset = utf8mb4 collate = utf8mb4_bin`) : builder;
}

export const initialSchema: Migration = {
  version: 1,
  name: "initial schema",
  async up(db: Kysely<any>, env: MigrationEnv) {
    const { t, types, prefix } = env;
    const key = sql.raw(types.key);
    const text = sql.raw(types.longText);
    const ms = sql.raw(types.millis);
    const int = sql.raw(types.int);
    const options = tableOptions(env);

    await db.schema
      .createTable(t.jobs)
      .ifNotExists()
      .addColumn("id", key, (c) => c.primaryKey())
      .addColumn("type", key, (c) => c.notNull())
      .addColumn("function", key, (c) => c.notNull())
      .addColumn("description", text)
      .addColumn("request", text)
      .addColumn("execution_time", ms)
      .addColumn("scheduled_for", ms)
      .addColumn("occurrence_time", ms)
      .addColumn("status", key, (c) => c.notNull())
      .addColumn("priority", key, (c) => c.notNull())
      .addColumn("priority_rank", int, (c) => c.notNull())
      .addColumn("retries", int, (c) => c.notNull())
      .addColumn("retry_intervals", text)
      .addColumn("retry_count", int, (c) => c.notNull())
      .addColumn("lock_holder", key)
      .addColumn("locked_at", ms)
      .addColumn("executed_at", ms)
      .addColumn("elapsed_ms", ms)
      .addColumn("exception_message", text)
      .addColumn("exception_details", text)
      .addColumn("parent_id", key)
      .addColumn("run_condition", key)
      .addColumn("cron_ticker_id", key)
      .addColumn("cancel_requested", int, (c) => c.notNull())
      .addColumn("created_at", ms, (c) => c.notNull())
      .addColumn("updated_at", ms, (c) => c.notNull())
      // NULL occurrence_time (time tickers, manual triggers) never conflicts: NULLs are distinct.
      .addUniqueConstraint(`${prefix}jobs_occurrence_uq`, ["cron_ticker_id", "occurrence_time"])
      .$call(options)
      .execute();

    const index = (name: string, table: string, columns: string[]) =>
      db.schema.createIndex(`${prefix}${name}`).on(table).columns(columns).execute();
    await index("jobs_due_ix", t.jobs, ["status", "execution_time"]);
    // id last: claims order by (execution_time, id), so the scan stops at the limit instead of sorting the backlog.
    await index("jobs_claim_ix", t.jobs, ["status", "priority_rank", "execution_time", "id"]);
    await index("jobs_parent_ix", t.jobs, ["parent_id"]);
    await index("jobs_updated_ix", t.jobs, ["updated_at"]);
    await index("jobs_function_ix", t.jobs, ["function", "status"]);

    let attempts = db.schema.createTable(t.attempts).ifNotExists();
    attempts =
      env.kind === "postgres"
        ? attempts.addColumn("seq", "bigserial", (c) => c.primaryKey())
        : attempts.addColumn("seq", "integer", (c) => c.primaryKey().autoIncrement());
    await attempts
      .addColumn("job_id", key, (c) => c.notNull())
      .addColumn("attempt", int, (c) => c.notNull())
      .addColumn("status", key, (c) => c.notNull())
      .addColumn("node_id", key, (c) => c.notNull())
      .addColumn("started_at", ms, (c) => c.notNull())
      .addColumn("finished_at", ms, (c) => c.notNull())
      .addColumn("elapsed_ms", ms, (c) => c.notNull())
      .addColumn("exception_message", text)
      .addColumn("exception_details", text)
      .$call(options)
      .execute();
    await index("attempts_job_ix", t.attempts, ["job_id"]);

    await db.schema
      .createTable(t.cron_tickers)
      .ifNotExists()
      .addColumn("id", key, (c) => c.primaryKey())
      .addColumn("function", key, (c) => c.notNull())
      .addColumn("expression", key, (c) => c.notNull())
      .addColumn("time_zone", key)
      .addColumn("request", text)
      .addColumn("retries", int, (c) => c.notNull())
      .addColumn("retry_intervals", text)
      .addColumn("description", text)
      .addColumn("priority", key, (c) => c.notNull())
      .addColumn("enabled", int, (c) => c.notNull())
      .addColumn("seeded_by", key)
      .addColumn("created_at", ms, (c) => c.notNull())
      .addColumn("updated_at", ms, (c) => c.notNull())
      .addUniqueConstraint(`${prefix}cron_tickers_seeded_uq`, ["seeded_by"])
      .$call(options)
      .execute();

    await db.schema
      .createTable(t.nodes)
      .ifNotExists()
      .addColumn("node_id", key, (c) => c.primaryKey())
      .addColumn("started_at", ms, (c) => c.notNull())
      .addColumn("heartbeat_at", ms, (c) => c.notNull())
      .addColumn("paused", int, (c) => c.notNull())
      .addColumn("info", text, (c) => c.notNull())
      .$call(options)
      .execute();
  },
};
