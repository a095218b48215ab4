/** `tickerq/sqlite`: the embedded durable store, one SQLite file (WAL) through better-sqlite3. */

import type BetterSqlite3 from "better-sqlite3";
import { checkIdentifier } from "./store/sql/schema.js";
import { SqlStore, type SqlStoreHandle } from "./store/sql/sql-store.js";
import { sqliteBusKey, sqliteDialect } from "./store/sql/sqlite-dialect.js";

export type { SqlStoreHandle };

/**
 * A better-sqlite3 `Database`, described by the members tickerq uses, so that tickerq's
 * declarations compile without `@types/better-sqlite3` in your app. A `new Database(file)` fits.
 */
export interface BetterSqliteDatabase {
  prepare(source: string): any;
  pragma(source: string, options?: any): any;
  close(): any;
}

export interface SqliteStoreOptions {
  /** Path of the database file (created if missing), or ":memory:" for a private in-memory database. */
  filename: string;
  /** An already open better-sqlite3 database; `filename` then only names it for signals. */
  database?: BetterSqliteDatabase;
  /** Prefix of every table and index. @default "tickerq_" */
  tablePrefix?: string;
  /** Create or upgrade the tables at `init()`. With false, `init()` only checks the schema version. @default true */
  migrate?: boolean;
  /** How long a write waits for another process holding the write lock, in ms. @default 5000 */
  busyTimeoutMs?: number;
}

/**
 * A SQLite store. Several processes may share the file (claims run in BEGIN IMMEDIATE write
 * transactions); signals reach stores in the same process only, so other processes poll.
 */
export function sqliteStore(options: SqliteStoreOptions): SqlStoreHandle {
  const tablePrefix = checkIdentifier("tablePrefix", options.tablePrefix ?? "tickerq_", true);
  return new SqlStore({
    name: "sqlite",
    dialect: sqliteDialect(options as SqliteStoreOptions & { database?: BetterSqlite3.Database }),
    tablePrefix,
    schema: null,
    migrate: options.migrate ?? true,
    busKey: sqliteBusKey(options.filename, tablePrefix),
  });
}
