/**
 * Migration 3: fencing tokens. `jobs.lease_token` counts the claims of a job: each claim
 * increments it, and a holder's later writes (start, completion, release) apply only while
 * the row still carries the token its claim returned. A node that lost its lease (recovered
 * while it was paused or cut off, then claimed again) can no longer overwrite the newer run.
 * `attempts.superseded` marks the history row of such a stale run: it happened, it changed
 * nothing.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

export const leaseTokens: Migration = {
  version: 3,
  name: "lease fencing tokens",
  async up(db: Kysely<any>, env: MigrationEnv) {
    const { t, types } = env;
    const int = sql.raw(types.int);
    const big = sql.raw(types.millis);
    await sql`alter table ${sql.table(t.jobs)} add column lease_token ${big} not null default 0`.execute(db);
    await sql`alter table ${sql.table(t.attempts)} add column superseded ${int} not null default 0`.execute(db);
  },
};
