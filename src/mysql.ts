/** `tickerq/mysql`: the MySQL 8 / MariaDB 10.6+ store (mysql2). */

import { TickerQError } from "./errors.js";
import { mysqlDialect } from "./store/sql/mysql-dialect.js";
import { checkIdentifier } from "./store/sql/schema.js";
import { SqlStore, type SqlStoreHandle } from "./store/sql/sql-store.js";

/** Where the store connects: a URL such as mysql://user:pass@host:3306/db (it owns the pool), or your mysql2 pool. */
export type MysqlConnection = { uri: string } | { pool: unknown };

export type { SqlStoreHandle };

export interface MysqlStoreOptions {
  /** Prefix of every table and index. @default "tickerq_" */
  tablePrefix?: string;
  /** Create or upgrade the tables at `init()`. With false, `init()` only checks the schema version. @default true */
  migrate?: boolean;
  /** Give up connecting after this many ms (uri only). @default 5000 */
  connectTimeoutMs?: number;
  /** Pool size when the store creates the pool. @default 10 */
  poolSize?: number;
}

/**
 * A MySQL/MariaDB store. `jobInsertMany({ tx })` accepts your mysql2 connection inside a
 * transaction or a Kysely transaction. Other nodes learn of new work by polling.
 */
export function mysqlStore(
  connection: MysqlConnection & MysqlStoreOptions,
  options: MysqlStoreOptions = {},
): SqlStoreHandle {
  const merged = { ...connection, ...options };
  const source = connection as { uri?: string; pool?: unknown };
  if (!source.uri && !source.pool)
    throw new TickerQError("INVALID_ARGUMENT", "mysqlStore needs uri or pool; got neither");
  const tablePrefix = checkIdentifier("tablePrefix", merged.tablePrefix ?? "tickerq_", true);
  const dialect = mysqlDialect({
    ...source,
    tablePrefix,
    connectTimeoutMs: merged.connectTimeoutMs ?? 5000,
    poolSize: merged.poolSize ?? 10,
  });
  return new SqlStore({
    name: "mysql",
    dialect,
    tablePrefix,
    schema: null,
    migrate: merged.migrate ?? true,
    busKey: dialect.busKey,
  });
}
