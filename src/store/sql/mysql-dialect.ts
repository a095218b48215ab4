/**
 * MySQL 8 and MariaDB 10.6+ through mysql2: claims with FOR UPDATE SKIP LOCKED in READ
 * COMMITTED transactions (fewer gap locks, so fewer deadlocks), migrations under GET_LOCK.
 * There is no LISTEN here: signals reach this process only, other nodes poll. Every pooled
 * connection has an error handler: a dropped connection fails its statement, not the process.
 */

import type { Pool as CallbackPool, Connection, PoolConnection, PoolOptions } from "mysql2";
import type { Kysely as KyselyType, QueryResult } from "kysely";
import { Kysely, MysqlDialect, sql } from "kysely";
import { TickerQError } from "../../errors.js";
import type { Endpoint } from "./connect-errors.js";
import { endpointOf, errorCode, errorMessage, isSocketError, unavailable } from "./connect-errors.js";
import type { CallerExecutor, PipelineSend, SqlDialect } from "./dialect.js";
import { isKyselyLike } from "./dialect.js";
import type { Database } from "./schema.js";

export interface MysqlConnectionOptions {
  uri?: string;
  /** A mysql2 pool: callback style (`mysql2.createPool`) or promise style (`mysql2/promise`). */
  pool?: unknown;
  tablePrefix: string;
  connectTimeoutMs: number;
  poolSize: number;
}

const DEADLOCK = 1213;

type Mysql2 = typeof import("mysql2");

async function loadMysql(): Promise<Mysql2> {
  try {
    // CommonJS: under ESM the functions sit on `default`.
    const module = (await import("mysql2")) as Mysql2 & { default?: Mysql2 };
    return module.default ?? module;
  } catch (error) {
    throw new TickerQError("STORE_UNAVAILABLE", "mysqlStore needs the mysql2 package: npm install mysql2", {
      cause: error,
    });
  }
}

/** Kysely drives the callback pool; a promise pool carries one as `.pool`. */
function callbackPool(pool: unknown): CallbackPool {
  const inner = (pool as { pool?: unknown }).pool;
  return (
    inner && typeof (inner as { getConnection?: unknown }).getConnection === "function" ? inner : pool
  ) as CallbackPool;
}

/** One query on a pooled connection; several statements in one text answer an array of results. */
function runQuery(connection: PoolConnection, text: string, values: readonly unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) =>
    connection.query(text, values as unknown[], (error, results) => (error ? reject(error) : resolve(results))),
  );
}

/** A mysql2 result as Kysely's: rows for a SELECT, the affected count for a write. */
function toQueryResult(result: unknown): QueryResult<unknown> {
  if (Array.isArray(result)) return { rows: result };
  return { rows: [], numAffectedRows: BigInt((result as { affectedRows?: number }).affectedRows ?? 0) };
}

function errno(error: unknown): number | undefined {
  return (error as { errno?: number })?.errno;
}

/** mysql2's codes for a connection lost or unobtainable (fatal errors are checked apart). */
const CONNECTION_CODES = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "PROTOCOL_ENQUEUE_AFTER_QUIT",
  "PROTOCOL_ENQUEUE_HANDSHAKE_TWICE",
]);
/**
 * Server errors that end or refuse the connection: too many connections (1040), shutdown in
 * progress (1053), connection killed (MariaDB 1927), and the client-side gone/lost (2006, 2013).
 */
const CONNECTION_ERRNOS = new Set([1040, 1053, 1927, 2006, 2013]);
/** mysql2 pool and connection errors that carry no code. */
const CONNECTION_MESSAGES =
  /^(Can't add new command when connection is in closed state|Can't write in closed state|Pool is closed|No connections available)/;

function isConnectionFailure(error: unknown): boolean {
  return (
    (error as { fatal?: unknown } | null)?.fatal === true ||
    isSocketError(error) ||
    CONNECTION_CODES.has(errorCode(error) ?? "") ||
    CONNECTION_ERRNOS.has(errno(error) ?? 0) ||
    CONNECTION_MESSAGES.test(errorMessage(error))
  );
}

/** Pools whose connections already have tickerq's error handler (two stores may share a caller's pool). */
const guardedPools = new WeakSet<object>();

/**
 * mysql2 emits `error` on a pooled connection that breaks while no command waits on it, and
 * its own handler is a `once`: a second error would go unheard and crash the process. Every
 * connection gets a lasting handler as the pool opens it; the command that next uses a dead
 * connection fails, and the pool replaces it.
 */
function guardPool(pool: CallbackPool): CallbackPool {
  if (guardedPools.has(pool)) return pool;
  guardedPools.add(pool);
  const ignore = () => {};
  pool.on("connection", (connection) => connection.on("error", ignore));
  // A caller's pool may hold connections opened before this store existed (a Denque inside mysql2).
  const opened = (pool as unknown as { _allConnections?: { toArray?(): Connection[] } })._allConnections;
  for (const connection of opened?.toArray?.() ?? []) connection.on("error", ignore);
  return pool;
}

export function mysqlDialect(options: MysqlConnectionOptions): SqlDialect & { busKey: string } {
  const userPool = options.pool ? callbackPool(options.pool) : null;
  const poolConfig = (userPool as unknown as { config?: { connectionConfig?: PoolOptions } } | null)?.config
    ?.connectionConfig;
  const where: Endpoint = options.uri
    ? endpointOf(options.uri, 3306)
    : { host: String(poolConfig?.host ?? "localhost"), port: poolConfig?.port ?? 3306 };
  const database = options.uri ? new URL(options.uri).pathname.slice(1) : String(poolConfig?.database ?? "");
  let opened: Promise<CallbackPool> | null = null;
  const pool = (): Promise<CallbackPool> =>
    (opened ??= (async () => {
      if (userPool) return guardPool(userPool);
      const own = (await loadMysql()).createPool({
        uri: options.uri,
        connectTimeout: options.connectTimeoutMs,
        connectionLimit: options.poolSize,
        supportBigNumbers: true,
        bigNumberStrings: false,
        // For pipelinedTx: a claim's statements travel in two round trips, not four. Every
        // statement tickerq sends passes its values as parameters, never spliced into the text.
        multipleStatements: true,
      });
      // Our own connections are READ COMMITTED for their whole session (queued ahead of their
      // first command), so a write transaction needs no SET statement of its own: a round
      // trip less per claim and per completion batch. A caller's pool keeps its setting.
      own.on("connection", (connection) => {
        connection.query("set session transaction isolation level read committed", () => {});
      });
      return guardPool(own);
    })());
  const db: KyselyType<Database> = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
  // A caller's pool pipelines only if it allows several statements per query; its transactions
  // set their isolation level each time, as writeTx does.
  const pipelines = !userPool || poolConfig?.multipleStatements === true;
  const begin = userPool
    ? ["set transaction isolation level read committed", "start transaction"]
    : ["start transaction"];

  async function pipelinedTx<T>(fn: (send: PipelineSend) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const connection = await new Promise<PoolConnection>((resolve, reject) =>
        pool().then((p) => p.getConnection((error, c) => (error ? reject(error) : resolve(c))), reject),
      );
      let begun = false;
      let committed = false;
      let broken = false;
      const send: PipelineSend = async (queries, { last = false } = {}) => {
        if (committed) throw new Error("pipelinedTx: the transaction was committed already");
        const head = begun ? [] : begin;
        const texts = [...head, ...queries.map((query) => query.sql), ...(last ? ["commit"] : [])];
        if (!begun && queries.length === 0) return [];
        begun = true;
        const results = await runQuery(
          connection,
          texts.join(";\n"),
          queries.flatMap((query) => query.parameters),
        );
        committed = last;
        const each = texts.length === 1 ? [results] : (results as unknown[]);
        return each.slice(head.length, head.length + queries.length).map(toQueryResult);
      };
      try {
        const value = await fn(send);
        if (begun && !committed) await send([], { last: true });
        return value;
      } catch (error) {
        broken = isConnectionFailure(error);
        if (begun && !committed && !broken) await runQuery(connection, "rollback", []).catch(() => (broken = true));
        if (errno(error) !== DEADLOCK || attempt >= 5) throw error;
      } finally {
        if (broken) connection.destroy();
        else connection.release();
      }
    }
  }

  return {
    kind: "mysql",
    db,
    busKey: `mysql:${where.host}:${where.port}/${database}:${options.tablePrefix}`,
    capabilities: { signalsAcrossProcesses: false, callerTransactions: true, shared: true },
    columnTypes: { key: "varchar(255)", longText: "longtext", millis: "bigint", int: "integer" },
    binaryCollation: "",
    skipLocked: true,
    upsertReturns: false,
    ...(pipelines ? { pipelinedTx } : {}),
    async connect() {
      try {
        await sql`select 1`.execute(db);
      } catch (error) {
        throw unavailable("MySQL", where, error);
      }
    },
    async writeTx(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          const tx = userPool ? db.transaction().setIsolationLevel("read committed") : db.transaction();
          return await tx.execute(fn);
        } catch (error) {
          if (errno(error) !== DEADLOCK || attempt >= 5) throw error;
        }
      }
    },
    migrationSession: (fn) =>
      db.connection().execute(async (conn) => {
        // DDL commits implicitly in MySQL, so a transaction cannot serialise migrations: a named lock does.
        const name = `tickerq:${database}:${options.tablePrefix}`.slice(0, 64);
        const { rows } = await sql<{ got: number | null }>`select get_lock(${name}, 60) as got`.execute(conn);
        if (Number(rows[0]?.got) !== 1) {
          throw new TickerQError(
            "STORE_UNAVAILABLE",
            `could not take the migration lock ${JSON.stringify(name)} within 60 s`,
          );
        }
        try {
          return await fn(conn);
        } finally {
          await sql`select release_lock(${name})`.execute(conn);
        }
      }),
    insertIgnoringDuplicates: (query) => query.ignore(),
    upsert: (query, _column, set) => query.onDuplicateKeyUpdate(set as any),
    insertedRows: (results) => results.reduce((n, r) => n + Number(r.numInsertedOrUpdatedRows ?? 0), 0),
    connectionFailure: (error) => (isConnectionFailure(error) ? unavailable("MySQL", where, error) : null),
    isUniqueViolation: (error) => errno(error) === 1062,
    callerExecutor(tx): CallerExecutor {
      if (isKyselyLike(tx)) return async (query) => void (await tx.executeQuery(query));
      const candidate = tx as { query?: unknown; promise?: () => unknown };
      if (typeof candidate?.query === "function") {
        // A callback-style connection offers .promise(); a mysql2/promise connection is one already.
        const conn = (typeof candidate.promise === "function" ? candidate.promise() : candidate) as {
          query(sql: string, values: readonly unknown[]): Promise<unknown>;
        };
        return async (query) => void (await conn.query(query.sql, query.parameters));
      }
      throw new TickerQError(
        "INVALID_ARGUMENT",
        "tx must be a mysql2 connection inside a transaction, or a Kysely transaction",
        { field: "tx" },
      );
    },
    async close() {
      // A pool the caller passed stays theirs to end.
      if (!userPool) await db.destroy();
    },
  };
}
