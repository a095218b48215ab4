/** `tickerq/postgres`: the PostgreSQL store (node-postgres), with LISTEN/NOTIFY wake-ups across nodes. */

import type { Kysely } from "kysely";
import type { Pool } from "pg";
import { TickerQError, invalid } from "./errors.js";
import { postgresDialect } from "./store/sql/postgres-dialect.js";
import { checkIdentifier } from "./store/sql/schema.js";
import { SqlStore, type SqlStoreHandle } from "./store/sql/sql-store.js";

/**
 * A node-postgres `Pool`, described by the members tickerq uses, so that tickerq's
 * declarations compile without `@types/pg` in your app. A `new pg.Pool(...)` fits.
 */
export interface PgPool {
  /** The pool's config; the store's LISTEN connection copies it. */
  readonly options: object;
  connect(): Promise<unknown>;
  query(...args: any[]): any;
  end(): Promise<void>;
}

/** Where the store connects: a URL (it owns the pool), your pool, or your Kysely instance. */
export type PostgresConnection =
  | { connectionString: string }
  | { pool: PgPool }
  /** With only a Kysely instance there is no connection to LISTEN on; pass `pool` too for cross-node signals. */
  | { kysely: Kysely<any>; pool?: PgPool };

export type { SqlStoreHandle };

export interface PostgresStoreOptions {
  /** Schema for the tables, created if missing. @default the connection's search_path (usually "public") */
  schema?: string;
  /** Prefix of every table and index. @default "tickerq_" */
  tablePrefix?: string;
  /** Create or upgrade the tables at `init()`. With false, `init()` only checks the schema version. @default true */
  migrate?: boolean;
  /** Give up connecting after this many ms (connection string only). @default 5000 */
  connectTimeoutMs?: number;
  /** Pool size when the store creates the pool. @default 10 */
  poolSize?: number;
  /**
   * `application_name` of the connections the store opens, as pg_stat_activity shows them
   * (the LISTEN connection's with ":listen" appended): name each node's (e.g.
   * `tickerq:<nodeId>`) to tell their backends apart. A connection string's
   * `application_name` parameter wins over it.
   * @default the connection string's or PGAPPNAME, else "tickerq"
   */
  applicationName?: string;
  /**
   * Open a LISTEN connection for other nodes' NOTIFY wake-ups. Set false behind PgBouncer in
   * transaction mode, where LISTEN cannot work: nodes then poll (`pollIntervalMs`), or hear
   * each other through a coordinator (`tickerq/redis`). NOTIFY is still sent.
   * @default true
   */
  listen?: boolean;
}

/**
 * A PostgreSQL store. `jobInsertMany({ tx })` accepts your pg client inside BEGIN or a Kysely
 * transaction, so jobs commit or roll back with your data; its NOTIFY goes out on commit.
 */
export function postgresStore(
  connection: PostgresConnection & PostgresStoreOptions,
  options: PostgresStoreOptions = {},
): SqlStoreHandle {
  const merged = { ...connection, ...options };
  const source = connection as { connectionString?: string; pool?: Pool; kysely?: Kysely<any> };
  if (!source.connectionString && !source.pool && !source.kysely) {
    throw new TickerQError("INVALID_ARGUMENT", "postgresStore needs connectionString, pool or kysely; got none");
  }
  const tablePrefix = checkIdentifier("tablePrefix", merged.tablePrefix ?? "tickerq_", true);
  const schema = merged.schema === undefined ? null : checkIdentifier("schema", merged.schema, false);
  const dialect = postgresDialect({
    ...source,
    schema,
    tablePrefix,
    connectTimeoutMs: merged.connectTimeoutMs ?? 5000,
    poolSize: merged.poolSize ?? 10,
    applicationName: merged.applicationName,
    listen: checkListen(merged.listen),
  });
  return new SqlStore({
    name: "postgres",
    dialect,
    tablePrefix,
    schema,
    migrate: merged.migrate ?? true,
    busKey: dialect.busKey,
  });
}

function checkListen(listen: unknown): boolean {
  if (listen === undefined) return true;
  if (typeof listen !== "boolean") throw invalid("listen", listen, "true or false");
  return listen;
}
