/**
 * Type test (compiled by `npm run check`): the driver types tickerq declares by shape accept
 * the real drivers' objects, as their own @types describe them.
 */

import Database from "better-sqlite3";
import pg from "pg";
import { Kysely, PostgresDialect } from "kysely";
import { postgresStore, type PgPool } from "../src/postgres.js";
import { sqliteStore, type BetterSqliteDatabase } from "../src/sqlite.js";

const pool = new pg.Pool({ connectionString: "postgres://localhost/db" });
export const fromPool = postgresStore({ pool });
export const fromKysely = postgresStore({
  kysely: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
  pool,
});
export const asPgPool: PgPool = pool;

const database = new Database(":memory:");
export const fromDatabase = sqliteStore({ filename: "shared", database });
export const asSqlite: BetterSqliteDatabase = database;

// @ts-expect-error a pg Client is not a pool
postgresStore({ pool: new pg.Client() });
// @ts-expect-error a plain object is not a better-sqlite3 database
sqliteStore({ filename: "x", database: {} });
