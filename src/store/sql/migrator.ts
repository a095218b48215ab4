/**
 * Applies the numbered migrations in order, recording each in the migrations table, under the
 * dialect's lock so nodes starting together migrate once. Refuses a schema newer than the code.
 */

import type { Kysely } from "kysely";
import { TickerQError } from "../../errors.js";
import type { SqlContext } from "./context.js";
import type { MigrationEnv } from "./migrations/index.js";
import { LATEST_VERSION, MIGRATIONS } from "./migrations/index.js";
import type { Database } from "./schema.js";

export interface MigrateResult {
  /** Versions applied by this call, oldest first. */
  applied: number[];
  /** The schema version after the call. */
  version: number;
}

async function currentVersion(ctx: SqlContext, db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom(ctx.t.migrations)
    .select((eb) => eb.fn.max("version").as("v"))
    .executeTakeFirst();
  return Number(row?.v ?? 0);
}

function tooNew(version: number): TickerQError {
  return new TickerQError(
    "SCHEMA_TOO_NEW",
    `database schema version ${version} is newer than this tickerq, which knows up to version ${LATEST_VERSION}; upgrade tickerq on this node`,
  );
}

export async function migrate(
  ctx: SqlContext,
  prefix: string,
  onProgress?: (message: string) => void,
  warn?: (message: string) => void,
): Promise<MigrateResult> {
  const { dialect, t } = ctx;
  // A node starting on a database already at this version (the usual start) reads the version
  // once, with no lock, DDL or transaction; a missing table or an older version takes the
  // locked path below, which reads it again under the lock.
  const known = await currentVersion(ctx, dialect.db).catch(() => null);
  if (known !== null && known > LATEST_VERSION) throw tooNew(known);
  if (known === LATEST_VERSION) return { applied: [], version: known };
  const env: MigrationEnv = { kind: dialect.kind, t, prefix, types: dialect.columnTypes, warn: warn ?? onProgress };
  return dialect.migrationSession(async (db) => {
    await db.schema
      .createTable(t.migrations)
      .ifNotExists()
      .addColumn("version", "integer", (c) => c.primaryKey())
      .addColumn("name", "varchar(255)", (c) => c.notNull())
      .addColumn("applied_at", "bigint", (c) => c.notNull())
      .execute();
    const from = await currentVersion(ctx, db);
    if (from > LATEST_VERSION) throw tooNew(from);
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= from) continue;
      onProgress?.(`applying migration ${migration.version}: ${migration.name}`);
      await migration.up(db, env);
      // The record of a migration is the one place a store reads the clock: it is bookkeeping, not scheduling.
      await db
        .insertInto(t.migrations)
        .values({ version: migration.version, name: migration.name, applied_at: Date.now() })
        .execute();
      applied.push(migration.version);
    }
    return { applied, version: Math.max(from, LATEST_VERSION) };
  });
}

/** For `migrate: false`: checks the schema exists at the version this code expects. */
export async function checkSchema(ctx: SqlContext): Promise<void> {
  let version: number;
  try {
    version = await currentVersion(ctx, ctx.dialect.db);
  } catch (error) {
    throw new TickerQError(
      "INVALID_STATE",
      `the tickerq tables are missing (migrations table ${ctx.t.migrations}); run \`npx tickerq migrate --db <url>\` or drop \`migrate: false\``,
      { cause: error },
    );
  }
  if (version > LATEST_VERSION) throw tooNew(version);
  if (version < LATEST_VERSION) {
    throw new TickerQError(
      "INVALID_STATE",
      `database schema version ${version} is older than ${LATEST_VERSION}; run \`npx tickerq migrate --db <url>\` or drop \`migrate: false\``,
    );
  }
}
