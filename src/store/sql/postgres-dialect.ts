/**
 * PostgreSQL through node-postgres: claims with FOR UPDATE SKIP LOCKED, signals with
 * LISTEN/NOTIFY on a dedicated connection that reconnects with backoff.
 */

import { createHash } from "node:crypto";
import type { Client, Pool, PoolConfig } from "pg";
import type { Kysely as KyselyType } from "kysely";
import { CompiledQuery, Kysely, PostgresDialect, sql } from "kysely";
import { TickerQError } from "../../errors.js";
import type { StoreSignal } from "../contract.js";
import type { Endpoint } from "./connect-errors.js";
import { endpointOf, unavailable } from "./connect-errors.js";
import type { CallerExecutor, SqlDialect } from "./dialect.js";
import { isKyselyLike } from "./dialect.js";
import type { Database } from "./schema.js";
import { decodeSignal, encodeSignal } from "./signal-bus.js";

export interface PostgresConnectionOptions {
  connectionString?: string;
  pool?: Pool;
  kysely?: KyselyType<any>;
  /** Schema holding the tables (created if missing); null for the search_path default. */
  schema: string | null;
  tablePrefix: string;
  /** Give up connecting after this many ms. @default 5000 */
  connectTimeoutMs: number;
  /** Connections in the pool the store creates from a connection string. @default 10 */
  poolSize: number;
}

const RETRYABLE = new Set(["40P01", "40001"]);
const MAX_BACKOFF_MS = 30_000;

type Pg = (typeof import("pg"))["default"];

async function loadPg(): Promise<Pg> {
  try {
    return (await import("pg")).default;
  } catch (error) {
    throw new TickerQError("STORE_UNAVAILABLE", "postgresStore needs the pg package: npm install pg", { cause: error });
  }
}

/** A LISTEN channel per schema and prefix; hashed when it would pass PostgreSQL's 63-byte identifiers. */
function channelName(schema: string | null, prefix: string): string {
  const name = `${schema ?? "public"}.${prefix}signals`;
  return name.length <= 63 ? name : `tickerq_${createHash("sha256").update(name).digest("hex").slice(0, 32)}`;
}

export function postgresDialect(options: PostgresConnectionOptions): SqlDialect & { busKey: string } {
  const config: PoolConfig | null = options.connectionString
    ? {
        connectionString: options.connectionString,
        connectionTimeoutMillis: options.connectTimeoutMs,
        max: options.poolSize,
      }
    : options.pool
      ? { ...options.pool.options }
      : null;
  const where: Endpoint = options.connectionString
    ? endpointOf(options.connectionString, 5432)
    : { host: String(config?.host ?? "localhost"), port: config?.port ?? 5432 };
  const ownsPool = Boolean(options.connectionString);
  let poolPromise: Promise<Pool> | null = null;
  const getPool = (): Promise<Pool> =>
    (poolPromise ??= (async () => {
      if (options.pool) return options.pool;
      const pool = new (await loadPg()).Pool(config ?? {});
      // An idle connection dropped by the server (restart, failover) errors on the pool; unheard,
      // that event would crash the process. The pool already discarded it; the next query reconnects.
      pool.on("error", (error) => {
        console.warn(`tickerq: PostgreSQL connection to ${where.host}:${where.port} dropped: ${error.message}`);
      });
      return pool;
    })());
  const db: KyselyType<Database> =
    (options.kysely as KyselyType<Database> | undefined) ??
    new Kysely<Database>({ dialect: new PostgresDialect({ pool: getPool }) });
  /** Named statements by text: each pool connection parses and plans one once, then only binds it. */
  const statementNames = new Map<string, string>();
  const channel = channelName(options.schema, options.tablePrefix);
  const database = options.connectionString
    ? new URL(options.connectionString).pathname.slice(1)
    : String(config?.database ?? "");

  let listener: Client | null = null;
  let closing = false;
  let reconnectTimer: NodeJS.Timeout | null = null;

  async function openListener(
    onSignal: (signal: StoreSignal, origin: string) => void,
    backoffMs: number,
    reconnected: boolean,
  ): Promise<void> {
    const pg = await loadPg();
    const client = new pg.Client({ ...config, connectionTimeoutMillis: options.connectTimeoutMs });
    const retry = () => {
      if (closing || listener !== client) return;
      listener = null;
      client.removeAllListeners("notification");
      client.end().catch(() => {});
      console.warn(
        `tickerq: lost the PostgreSQL LISTEN connection to ${where.host}:${where.port}; reconnecting in ${backoffMs} ms`,
      );
      reconnectTimer = setTimeout(() => {
        reconnectTimer = null;
        openListener(onSignal, Math.min(backoffMs * 2, MAX_BACKOFF_MS), true).catch(() => {
          // openListener schedules its own next try through the error path below.
        });
      }, backoffMs);
      reconnectTimer.unref();
    };
    listener = client;
    client.on("error", retry);
    client.on("end", retry);
    client.on("notification", (message) => {
      if (message.channel !== channel || !message.payload) return;
      const decoded = decodeSignal(message.payload);
      if (decoded) onSignal(decoded.signal, decoded.origin);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      if (!reconnected) {
        listener = null;
        client.end().catch(() => {});
        throw unavailable("PostgreSQL", where, error);
      }
      retry();
      return;
    }
    // Signals sent while we were away are lost: tell the node to look again (at the epoch, i.e. "now or earlier").
    if (reconnected) onSignal({ type: "due", at: new Date(0) }, "");
  }

  return {
    kind: "postgres",
    db,
    busKey: `postgres:${where.host}:${where.port}/${database}:${options.schema ?? ""}:${options.tablePrefix}`,
    capabilities: { signalsAcrossProcesses: config !== null, callerTransactions: true, shared: true },
    columnTypes: { key: "text", longText: "text", millis: "bigint", int: "integer" },
    binaryCollation: ' collate "C"',
    skipLocked: true,
    async connect() {
      try {
        await sql`select 1`.execute(db);
      } catch (error) {
        throw unavailable("PostgreSQL", where, error);
      }
    },
    async writeTx(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn);
        } catch (error) {
          if (!RETRYABLE.has((error as { code?: string })?.code ?? "") || attempt >= 3) throw error;
        }
      }
    },
    migrationSession: (fn) =>
      db.transaction().execute(async (tx) => {
        // Transactional DDL plus an advisory lock: concurrent nodes migrate one after the other.
        await sql`select pg_advisory_xact_lock(hashtext(${`tickerq:${options.schema ?? ""}:${options.tablePrefix}`}))`.execute(
          tx,
        );
        if (options.schema) await sql`create schema if not exists ${sql.id(options.schema)}`.execute(tx);
        return fn(tx);
      }),
    insertIgnoringDuplicates: (query) => query.onConflict((oc) => oc.doNothing()),
    upsert: (query, column, set) => query.onConflict((oc) => oc.column(column as any).doUpdateSet(set as any)),
    insertedRows: (results) => results.reduce((n, r) => n + Number(r.numInsertedOrUpdatedRows ?? 0), 0),
    isUniqueViolation: (error) => (error as { code?: string })?.code === "23505",
    callerExecutor(tx): CallerExecutor {
      if (isKyselyLike(tx)) return async (query) => void (await tx.executeQuery(query));
      if (typeof (tx as { query?: unknown })?.query === "function") {
        const client = tx as { query(text: string, values: readonly unknown[]): Promise<unknown> };
        return async (query) => void (await client.query(query.sql, query.parameters));
      }
      throw new TickerQError(
        "INVALID_ARGUMENT",
        "tx must be a pg PoolClient/Client inside BEGIN, or a Kysely transaction",
      );
    },
    async prepared<R>(text: string, values: readonly unknown[]): Promise<R[]> {
      if (options.kysely && !options.pool) {
        return (await db.executeQuery<R>(CompiledQuery.raw(text, [...values]))).rows;
      }
      let name = statementNames.get(text);
      if (!name) {
        name = `tickerq_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
        statementNames.set(text, name);
      }
      const result = await (await getPool()).query({ name, text, values: [...values] });
      return result.rows as R[];
    },
    notifyExpression: (signal, origin) => sql`pg_notify(${channel}, ${encodeSignal(signal, origin)})`,
    async broadcast(signal, origin, executor) {
      const query = sql`select pg_notify(${channel}, ${encodeSignal(signal, origin)})`.compile(db);
      if (executor) await executor(query);
      else await db.executeQuery(query);
    },
    async listen(onSignal) {
      if (!config || listener || closing) return;
      await openListener(onSignal, 250, false);
    },
    async close() {
      closing = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const client = listener;
      listener = null;
      await client?.end().catch(() => {});
      if (ownsPool) await db.destroy();
    },
  };
}
