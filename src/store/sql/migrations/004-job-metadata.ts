/**
 * Migration 4: job metadata. `jobs.metadata` holds the small string map that enqueue
 * middleware writes (trace context and the like) as JSON text, or NULL when there is none.
 * Retries and requeues keep the row, so they keep it; children get a copy at insert.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

export const jobMetadata: Migration = {
  version: 4,
  name: "job metadata",
  async up(db: Kysely<any>, env: MigrationEnv) {
    const { t, types } = env;
    await sql`alter table ${sql.table(t.jobs)} add column metadata ${sql.raw(types.longText)} null`.execute(db);
  },
};
