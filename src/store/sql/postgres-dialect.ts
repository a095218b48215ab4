/**
 * PostgreSQL through node-postgres: claims with FOR UPDATE SKIP LOCKED, signals with
 * LISTEN/NOTIFY on a dedicated connection that reconnects with backoff. Every connection has
 * an error handler: a dropped connection fails the statement on it, never the process.
 */

import { createHash } from "node:crypto";
import type { Client, Pool, PoolClient, PoolConfig } from "pg";
import type { Kysely as KyselyType } from "kysely";
import { CompiledQuery, Kysely, PostgresDialect, sql } from "kysely";
import { TickerQError } from "../../errors.js";
import { consoleStoreLogger } from "../console-logger.js";
import type { StoreLogger, StoreSignal } from "../contract.js";
import type { Endpoint } from "./connect-errors.js";
import { dropLogger, endpointOf, errorCode, errorMessage, isSocketError, unavailable } from "./connect-errors.js";
import type { CallerExecutor, SqlDialect } from "./dialect.js";
import { isKyselyLike } from "./dialect.js";
import { postgresHotPath } from "./postgres-hot-path.js";
import { postgresInsertJobs } from "./postgres-job-insert.js";
import { postgresSearchCatchUp } from "./postgres-search.js";
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
  /**
   * application_name of the pool's connections as pg_stat_activity shows it; the LISTEN
   * connection's has ":listen" appended. Unset: the connection string's or PGAPPNAME's, else "tickerq".
   */
  applicationName?: string;
  /** Open the LISTEN connection; false behind a transaction-pooling proxy (PgBouncer). @default true */
  listen: boolean;
}

const RETRYABLE = new Set(["40P01", "40001"]);
/**
 * Pooled connections the hot path keeps open and warm (see SqlDialect.warm): a claim, a start
 * write, a completion write and a heartbeat or look-ahead can be in flight at once. The pool
 * the store creates keeps this many while idle (pg's `min`) instead of closing them after 10 s.
 */
export const STANDING_CONNECTIONS = 4;
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 30_000;
/** How often the LISTEN connection is asked `select 1`: a silently dead socket raises no error. */
const LISTEN_CHECK_MS = 10_000;

/**
 * SQLSTATEs that mean the connection is gone or refused, rather than a statement failing:
 * admin shutdown and termination (57P01–57P03, 57P05 idle session timeout), too many
 * connections (53300), idle-in-transaction timeout (25P03); the whole 08 class is checked apart.
 */
const CONNECTION_STATES = new Set(["57P01", "57P02", "57P03", "57P05", "53300", "25P03"]);
/** node-postgres and pg-pool's own errors for a dead or unobtainable connection (they carry no code). */
const CONNECTION_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect|Cannot use a pool after calling end)/;

function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error) ?? "";
  return (
    isSocketError(error) ||
    code.startsWith("08") ||
    CONNECTION_STATES.has(code) ||
    CONNECTION_MESSAGES.test(errorMessage(error))
  );
}

/** Pools whose clients already have tickerq's error handlers (two stores may share a caller's pool). */
const guardedPools = new WeakSet<Pool>();

type Pg = (typeof import("pg"))["default"];

async function loadPg(): Promise<Pg> {
  try {
    return (await import("pg")).default;
  } catch (error) {
    throw new TickerQError("STORE_UNAVAILABLE", "postgresStore needs the pg package: npm install pg", { cause: error });
  }
}

/** Every client of a pool, idle or checked out (pg-pool keeps them in `_clients`; there is no public list). */
function clientsOf(pool: Pool): Client[] {
  return (pool as unknown as { _clients?: Client[] })._clients ?? [];
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
        min: Math.min(STANDING_CONNECTIONS, options.poolSize),
        // Idle connections, kept by `min`, do not hold the process open: a script that only adds
        // jobs ends when its work does (a started node stays up on its own timers).
        allowExitOnIdle: true,
        ...(options.applicationName
          ? { application_name: options.applicationName }
          : { fallback_application_name: "tickerq" }),
      }
    : options.pool
      ? { ...options.pool.options }
      : null;
  const where: Endpoint = options.connectionString
    ? endpointOf(options.connectionString, 5432)
    : { host: String(config?.host ?? "localhost"), port: config?.port ?? 5432 };
  const ownsPool = Boolean(options.connectionString);
  let poolPromise: Promise<Pool> | null = null;
  let log: StoreLogger = consoleStoreLogger;
  const dropped = dropLogger("PostgreSQL", where, () => log);
  /**
   * An `error` event nobody hears crashes the process, and node-postgres emits one for every
   * connection the server drops (restart, pg_terminate_backend, a network cut): on the pool for
   * an idle client (the pool has discarded it already), on the client itself for one that is
   * checked out (inside a transaction, between two statements). Every client gets a handler as
   * it connects, so the failure reaches only the statement that uses the dead client next.
   */
  const guardPool = (pool: Pool): Pool => {
    if (guardedPools.has(pool)) return pool;
    guardedPools.add(pool);
    const ignore = () => {}; // the statement on this client fails with the same error; its caller reports it
    pool.on("error", dropped);
    pool.on("connect", (client) => client.on("error", ignore));
    // A caller's pool may hold clients connected before this store existed.
    for (const client of clientsOf(pool)) client.on("error", ignore);
    return pool;
  };
  /** A Kysely the caller passed without its pool: no pool to take connections from. */
  const kyselyOnly = Boolean(options.kysely && !options.pool);
  const getPool = (): Promise<Pool> =>
    (poolPromise ??= (async () => guardPool(options.pool ?? new (await loadPg()).Pool(config ?? {})))());
  // A caller's pool now, not at the store's first query: a Kysely the caller passed may use it first.
  if (options.pool) guardPool(options.pool);
  const db: KyselyType<Database> =
    (options.kysely as KyselyType<Database> | undefined) ??
    new Kysely<Database>({ dialect: new PostgresDialect({ pool: getPool }) });
  /** Named statements by text: each pool connection parses and plans one once, then only binds it. */
  const statementNames = new Map<string, string>();
  const statementName = (text: string): string => {
    let name = statementNames.get(text);
    if (!name) {
      name = `tickerq_${createHash("sha1").update(text).digest("hex").slice(0, 20)}`;
      statementNames.set(text, name);
    }
    return name;
  };
  const channel = channelName(options.schema, options.tablePrefix);
  const database = options.connectionString
    ? new URL(options.connectionString).pathname.slice(1)
    : String(config?.database ?? "");

  let listener: Client | null = null;
  let closing = false;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let checkTimer: NodeJS.Timeout | null = null;
  /** When the LISTEN connection was lost, so an outage logs one line going and one coming back. */
  let lostAt: number | null = null;
  /** The LISTEN connection was up once: a failure after that is a loss, before it a failure to open. */
  let listenedOnce = false;

  /** Abandons a client at once: end() alone can wait on a socket that no longer answers. */
  const discard = (client: Client) => {
    client.end().catch(() => {});
    (client as unknown as { connection?: { stream?: { destroy?(): void } } }).connection?.stream?.destroy?.();
  };

  /**
   * Opens the LISTEN connection. The first try reports failure to init() (unless opened in the
   * background, `reconnected` true from the start: then it is retried as below); after that, any
   * loss (error, end, a `select 1` unanswered) reconnects with backoff (250 ms doubling to
   * 30 s), LISTENs again and tells the node to look for work it may have missed meanwhile.
   */
  async function openListener(
    onSignal: (signal: StoreSignal, origin: string) => void,
    backoffMs: number,
    reconnected: boolean,
  ): Promise<void> {
    const pg = await loadPg();
    if (closing) return;
    const client = new pg.Client({
      ...config,
      // Told apart from the pool's in pg_stat_activity (a connection string's own name still wins).
      application_name: `${config?.application_name ?? config?.fallback_application_name ?? "tickerq"}:listen`,
      connectionTimeoutMillis: options.connectTimeoutMs,
      keepAlive: true,
    });
    let established = false;
    let lost = false;
    const retry = (error: unknown) => {
      if (lost) return;
      lost = true;
      if (listener === client) listener = null;
      if (checkTimer) clearInterval(checkTimer);
      checkTimer = null;
      client.removeAllListeners("notification");
      discard(client);
      if (closing) return;
      if (lostAt === null) {
        lostAt = Date.now();
        const reason = errorMessage(error) || String(error);
        const what = listenedOnce ? "lost" : "could not open";
        log.warn(
          { store: "PostgreSQL", host: where.host, port: where.port, reason, listen: "lost" },
          `tickerq: ${what} the PostgreSQL LISTEN connection to ${where.host}:${where.port} (${reason}); reconnecting, nodes poll meanwhile`,
        );
      }
      // A connection that was up starts the backoff again; one that never came up doubles it.
      const wait = established ? FIRST_BACKOFF_MS : backoffMs;
      reconnectTimer = setTimeout(() => {
        reconnectTimer = null;
        // openListener handles its own failures (it retries); this catch only keeps a rejection handled.
        openListener(onSignal, Math.min(wait * 2, MAX_BACKOFF_MS), true).catch(() => {});
      }, wait);
      reconnectTimer.unref();
    };
    // Attached for the client's whole life, after the loss too: a late second error stays heard.
    // While connecting, the failure arrives through connect()/query() below instead.
    client.on("error", (error) => established && retry(error));
    client.on("end", () => established && retry(new Error("the connection ended")));
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
        lost = true;
        discard(client);
        throw unavailable("PostgreSQL", where, error);
      }
      retry(error);
      return;
    }
    if (closing) return discard(client);
    established = true;
    listenedOnce = true;
    listener = client;
    checkTimer = setInterval(() => {
      let answered = false;
      const timeout = setTimeout(
        () => answered || retry(new Error(`no answer to select 1 within ${options.connectTimeoutMs} ms`)),
        options.connectTimeoutMs,
      );
      timeout.unref();
      client.query("select 1").then(
        () => ((answered = true), clearTimeout(timeout)),
        (error: unknown) => ((answered = true), clearTimeout(timeout), retry(error)),
      );
    }, LISTEN_CHECK_MS);
    checkTimer.unref();
    if (lostAt !== null) {
      const outageMs = Date.now() - lostAt;
      log.warn(
        { store: "PostgreSQL", host: where.host, port: where.port, listen: "back", outageMs },
        `tickerq: PostgreSQL LISTEN connection to ${where.host}:${where.port} is back after ${outageMs} ms`,
      );
      lostAt = null;
    }
    // Signals sent while we were away are lost: tell the node to look again (at the epoch, i.e. "now or earlier").
    if (reconnected) onSignal({ type: "due", at: new Date(0) }, "");
  }

  let warming: Promise<void> | null = null;
  /** See SqlDialect.warm: opens the standing connections the pool lacks, and plans `statements` on each. */
  const warmPool = async (statements: Parameters<NonNullable<SqlDialect["warm"]>>[0]): Promise<void> => {
    const pool = await getPool();
    const missing = Math.min(STANDING_CONNECTIONS, (pool.options.max ?? 10) - 1) - pool.totalCount;
    if (missing <= 0) return;
    const open = new Set(clientsOf(pool));
    // Checked out side by side with the idle ones, so that the pool opens what it lacks; a
    // connection it had already goes back at once, to the engine's next call.
    const results = await Promise.allSettled(
      Array.from({ length: pool.idleCount + missing }, async () => {
        const client = await pool.connect();
        if (open.has(client as unknown as Client)) return client.release();
        try {
          for (const { text, values } of statements) {
            await client.query({ name: statementName(text), text, values: [...values] });
          }
          client.release();
        } catch (error) {
          client.release(error as Error); // a broken connection leaves the pool
          throw error;
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  };

  return {
    kind: "postgres",
    db,
    busKey: `postgres:${where.host}:${where.port}/${database}:${options.schema ?? ""}:${options.tablePrefix}`,
    capabilities: { signalsAcrossProcesses: config !== null && options.listen, callerTransactions: true, shared: true },
    columnTypes: { key: "text", longText: "text", millis: "bigint", int: "integer" },
    binaryCollation: ' collate "C"',
    skipLocked: true,
    upsertReturns: true,
    hotPath: postgresHotPath,
    searchCondition(ctx, text, withRequest, like) {
      // The lowered texts of the search table (migration 7) and its pg_trgm indexes, and those
      // of new jobs not moved there yet (migration 9's backlog, scanned); chr(1) between the
      // columns keeps a match inside one of them, so a text holding it scans the jobs instead.
      if (text.includes("\u0001")) return null;
      const matches = (alias: string) => {
        const parts = [like(sql.ref(`${alias}.text`))];
        if (withRequest) parts.push(like(sql.ref(`${alias}.request`)));
        return sql.join(parts, sql` or `);
      };
      return sql<boolean>`${sql.ref("id")} in (
        select s.job_id from ${sql.table(ctx.t.job_search)} s where ${matches("s")}
        union all
        select b.job_id from ${sql.table(ctx.t.job_search_backlog)} b where ${matches("b")})`;
    },
    searchCatchUp: postgresSearchCatchUp,
    // A Kysely the caller passed lends no pool: its batches take the INSERT.
    insertJobs: (table, jobs, caller, notify) =>
      postgresInsertJobs(db, kyselyOnly ? null : getPool, table, jobs, caller, notify),
    async connect() {
      try {
        // One connection: a node's start runs its store calls one after the other on it. (Each
        // connection is a new server process; opened side by side on a small machine they slow
        // each other down more than a second connection saves.) Opened, not queried: the
        // schema check that follows is the first statement.
        if (kyselyOnly) await sql`select 1`.execute(db);
        else (await (await getPool()).connect()).release();
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
      db.connection().execute(async (conn) => {
        // Concurrent nodes migrate one after the other: a session advisory lock, then the DDL in
        // a transaction begun after it. Taken inside the transaction instead, the lock left the
        // catalog cache as it was before the wait, so a node that waited could miss the schema
        // its predecessor had just committed and create it again (a duplicate key on pg_namespace).
        const key = `tickerq:${options.schema ?? ""}:${options.tablePrefix}`;
        await sql`select pg_advisory_lock(hashtext(${key}))`.execute(conn);
        try {
          return await conn.transaction().execute(async (tx) => {
            if (options.schema) await sql`create schema if not exists ${sql.id(options.schema)}`.execute(tx);
            return fn(tx);
          });
        } finally {
          // A broken connection has released it already.
          await sql`select pg_advisory_unlock(hashtext(${key}))`.execute(conn).catch(() => {});
        }
      }),
    insertIgnoringDuplicates: (query) => query.onConflict((oc) => oc.doNothing()),
    upsert: (query, column, set) => query.onConflict((oc) => oc.column(column as any).doUpdateSet(set as any)),
    insertedRows: (results) => results.reduce((n, r) => n + Number(r.numInsertedOrUpdatedRows ?? 0), 0),
    connectionFailure: (error) => (isConnectionFailure(error) ? unavailable("PostgreSQL", where, error) : null),
    isUniqueViolation: (error) => (error as { code?: string })?.code === "23505",
    callerExecutor(tx): CallerExecutor {
      if (isKyselyLike(tx)) return async (query) => void (await tx.executeQuery(query));
      if (typeof (tx as { query?: unknown })?.query === "function") {
        const client = tx as PoolClient;
        return Object.assign(
          async (query: CompiledQuery) => void (await client.query(query.sql, [...query.parameters])),
          {
            pgClient: client,
          },
        );
      }
      throw new TickerQError(
        "INVALID_ARGUMENT",
        "tx must be a pg PoolClient/Client inside BEGIN, or a Kysely transaction",
        { field: "tx" },
      );
    },
    async prepared<R>(text: string, values: readonly unknown[]): Promise<R[]> {
      if (kyselyOnly) {
        return (await db.executeQuery<R>(CompiledQuery.raw(text, [...values]))).rows;
      }
      const result = await (await getPool()).query({ name: statementName(text), text, values: [...values] });
      return result.rows as R[];
    },
    warm(statements) {
      // Asked after every claim: cheap when a warm-up runs or no standing connection is missing.
      if (warming || kyselyOnly) return warming ?? Promise.resolve();
      warming = warmPool(statements).finally(() => (warming = null));
      return warming;
    },
    notifyExpression: (signal, origin) => sql`pg_notify(${channel}, ${encodeSignal(signal, origin)})`,
    async broadcast(signal, origin, executor) {
      const query = sql`select pg_notify(${channel}, ${encodeSignal(signal, origin)})`.compile(db);
      if (executor) await executor(query);
      else await db.executeQuery(query);
    },
    async listen(onSignal, { background = false, after } = {}) {
      if (background && after) await after;
      if (!config || !options.listen || listener || closing) return;
      // In the background a failed first try is retried like a lost connection, and the first
      // success, like a reconnection, tells the node to look for what it may have missed.
      await openListener(onSignal, FIRST_BACKOFF_MS, background);
    },
    setLogger(logger) {
      log = logger;
    },
    async close() {
      closing = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (checkTimer) clearInterval(checkTimer);
      const client = listener;
      listener = null;
      // Not awaited: on a connection that went silent, end() waits for a goodbye that never comes.
      if (client) discard(client);
      if (!ownsPool) return;
      // Likewise the pool's end: after connectTimeoutMs, its silent connections are cut.
      const ended = db.destroy();
      let grace: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        ended.then(() => false),
        new Promise<boolean>((resolve) => (grace = setTimeout(resolve, options.connectTimeoutMs, true))),
      ]);
      clearTimeout(grace);
      if (timedOut) {
        const pool = await getPool();
        for (const stuck of clientsOf(pool)) discard(stuck);
        await ended;
      }
    },
  };
}
