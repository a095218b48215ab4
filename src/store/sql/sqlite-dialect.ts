/** SQLite through better-sqlite3: one connection in WAL mode, write transactions as BEGIN IMMEDIATE. */

import { randomUUID } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { InsertResult, Kysely as KyselyType } from "kysely";
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from "kysely";
import { TickerQError } from "../../errors.js";
import type { StoreSignal } from "../contract.js";
import type { SqlDialect } from "./dialect.js";
import { isKyselyLike } from "./dialect.js";
import { startCheckpointer, type Checkpointer } from "./sqlite-checkpointer.js";
import { sqliteHotPath, type GroupCommit } from "./sqlite-hot-path.js";
import type { Database } from "./schema.js";

export interface SqliteConnectionOptions {
  /** Database file, or ":memory:". */
  filename: string;
  /** An open better-sqlite3 database to use instead of opening `filename`. */
  database?: BetterSqlite3.Database;
  /** How long a writer waits for another process's write lock, in ms. @default 5000 */
  busyTimeoutMs?: number;
}

async function openDatabase(
  options: SqliteConnectionOptions,
): Promise<{ db: BetterSqlite3.Database; checkpointer: Checkpointer | null }> {
  const db = options.database ?? (await loadDriver(options.filename));
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  if (options.filename !== ":memory:") db.pragma("journal_mode = WAL");
  // NORMAL is durable across application crashes in WAL mode; only a power loss may drop the last commits.
  db.pragma("synchronous = NORMAL");
  if (options.database || options.filename === ":memory:") return { db, checkpointer: null };
  // Checkpoints block; they run on a thread of their own instead (sqlite-checkpointer.ts).
  db.pragma("wal_autocheckpoint = 0");
  return { db, checkpointer: startCheckpointer(resolve(options.filename)) };
}

async function loadDriver(filename: string): Promise<BetterSqlite3.Database> {
  let Driver: typeof BetterSqlite3;
  try {
    Driver = (await import("better-sqlite3")).default;
  } catch (error) {
    throw new TickerQError(
      "STORE_UNAVAILABLE",
      "sqliteStore needs the better-sqlite3 package: npm install better-sqlite3",
      { cause: error },
    );
  }
  try {
    return new Driver(filename);
  } catch (error) {
    throw new TickerQError(
      "STORE_UNAVAILABLE",
      `cannot open SQLite database ${JSON.stringify(filename)}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** Prepared statements kept per connection; the engine's queries are a few dozen texts. */
const STATEMENT_CACHE_SIZE = 200;

/**
 * The connection as Kysely sees it, with its prepared statements kept and reused. Kysely's
 * SQLite driver prepares every query it runs, and better-sqlite3 is synchronous: parsing and
 * planning the same claim and completion texts again is time the event loop stands still.
 * Least recently used texts go first once the cache is full. (tickerq never streams a query,
 * so a statement is never still iterating when it is used again.)
 */
function cachingStatements(connection: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => connection.close(),
    prepare(text) {
      let statement = statements.get(text);
      if (statement) {
        statements.delete(text);
      } else {
        statement = connection.prepare(text);
        if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value!);
      }
      statements.set(text, statement);
      return statement;
    },
  };
}

/**
 * The file cannot be opened or read or written at all (deleted directory, unmounted disk,
 * permissions): the store is unavailable, unlike a constraint or a busy lock.
 */
function isFileFailure(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && /^SQLITE_(CANTOPEN|IOERR|NOTADB|READONLY_DBMOVED)/.test(code);
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
}

interface SharedConnection {
  db: KyselyType<Database>;
  handle: { opened?: BetterSqlite3.Database; checkpointer?: Checkpointer | null };
  users: number;
}

/**
 * One connection per file per process. better-sqlite3 waits for locks synchronously, so two
 * connections of one process would block the event loop while the other holds the write lock
 * and neither could finish: stores on the same file share Kysely's single, mutexed connection.
 */
const connections = new Map<unknown, SharedConnection>();

function acquire(options: SqliteConnectionOptions): { shared: SharedConnection; release(): Promise<void> } {
  const key = options.database ?? (options.filename === ":memory:" ? Symbol("memory") : resolve(options.filename));
  let shared = connections.get(key);
  if (!shared) {
    const handle: SharedConnection["handle"] = {};
    const db = new Kysely<Database>({
      dialect: new SqliteDialect({
        database: async () => {
          ({ db: handle.opened, checkpointer: handle.checkpointer } = await openDatabase(options));
          return cachingStatements(handle.opened);
        },
      }),
    });
    shared = { db, handle, users: 0 };
    connections.set(key, shared);
  }
  shared.users++;
  const entry = shared;
  let released = false;
  return {
    shared: entry,
    async release() {
      if (released) return;
      released = true;
      if (--entry.users > 0) return;
      connections.delete(key);
      await entry.handle.checkpointer?.stop();
      await entry.db.destroy();
    },
  };
}

export function sqliteDialect(options: SqliteConnectionOptions): SqlDialect {
  const { shared, release } = acquire(options);
  const { db } = shared;

  /** Holds Kysely's single connection for the whole transaction, so nothing interleaves. */
  async function immediate<T>(fn: (tx: KyselyType<Database>) => Promise<T>): Promise<T> {
    return db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const result = await fn(conn);
        await sql`commit`.execute(conn);
        return result;
      } catch (error) {
        if (shared.handle.opened?.inTransaction) await sql`rollback`.execute(conn);
        throw error;
      }
    });
  }

  /** BEGIN IMMEDIATE on the raw connection, retried like writeTx when another process holds the lock. */
  function beginImmediate(raw: BetterSqlite3.Database): void {
    for (let attempt = 1; ; attempt++) {
      try {
        raw.exec("begin immediate");
        return;
      } catch (error) {
        if (!isBusy(error) || attempt >= 3) throw error;
      }
    }
  }

  /**
   * Group commit for the hot path: what waits for the connection while a transaction runs goes
   * into the next one, all together, each in a savepoint (a failing one undoes only itself, and
   * its caller alone sees the error). better-sqlite3 is synchronous, so the cost of a write
   * transaction is its statements plus the commit's write of every page it dirtied: claims,
   * starts and completions that share one write those pages once.
   *
   * A group starts one turn of the event loop (setImmediate) after its first write arrives:
   * being synchronous, a transaction begun at once would hold only that write, as nothing else
   * can arrive while it runs. Waiting a turn lets the writes of that turn join it (the
   * completions of the jobs that just ended and the claim for their slots): a drain of 20,000
   * jobs committed 91 times instead of about 1,000 and took 1.6 s instead of 2.8 s.
   */
  const waiting: { fn: Parameters<GroupCommit>[0]; resolve(value: unknown): void; reject(error: unknown): void }[] = [];
  let committing: Promise<void> | null = null;
  async function commitWaiting(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    try {
      while (waiting.length > 0) {
        await db.connection().execute(async (conn) => {
          const batch = waiting.splice(0);
          const raw = shared.handle.opened!;
          const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
          try {
            beginImmediate(raw);
            for (const item of batch) {
              raw.exec("savepoint hot");
              try {
                outcomes.push({ ok: true, value: await item.fn(raw, conn) });
                raw.exec("release hot");
              } catch (error) {
                outcomes.push({ ok: false, error });
                // An I/O error or the like may have ended the whole transaction: then nothing stands.
                if (!raw.inTransaction) throw error;
                raw.exec("rollback to hot");
                raw.exec("release hot");
              }
            }
            raw.exec("commit");
          } catch (error) {
            if (raw.open && raw.inTransaction) raw.exec("rollback");
            for (const item of batch) item.reject(error);
            return;
          }
          batch.forEach((item, i) => {
            const outcome = outcomes[i]!;
            if (outcome.ok) item.resolve(outcome.value);
            else item.reject(outcome.error);
          });
        });
      }
    } catch (error) {
      // The connection itself could not be had (the file cannot be opened): everyone waiting hears it.
      for (const item of waiting.splice(0)) item.reject(error);
    } finally {
      committing = null;
    }
  }
  const together: GroupCommit = (fn) =>
    new Promise((resolve, reject) => {
      waiting.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      committing ??= commitWaiting();
    });

  let watcher: FSWatcher | null = null;
  return {
    kind: "sqlite",
    db,
    hotPath: sqliteHotPath(together),
    searchCondition(ctx, text, withRequest) {
      // An FTS5 phrase over the trigram index (migration 6) is a case-insensitive substring of one column.
      const phrase = `"${text.replace(/"/g, '""')}"`;
      const match = withRequest ? phrase : `{id function description} : ${phrase}`;
      const search = sql.table(ctx.t.job_search);
      return sql<boolean>`${sql.ref("id")} in (select k.job_id from ${sql.table(ctx.t.job_search_keys)} k
        where k.n in (select rowid from ${search} where ${search} match ${match}))`;
    },
    capabilities: {
      signalsAcrossProcesses: false,
      callerTransactions: false,
      shared: options.filename !== ":memory:",
      wakesOnOtherWrites: !options.database && options.filename !== ":memory:",
    },
    columnTypes: { key: "text", longText: "text", millis: "integer", int: "integer" },
    binaryCollation: "",
    skipLocked: false,
    upsertReturns: true,
    async connect() {
      await sql`select 1`.execute(db);
    },
    async writeTx(fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await immediate(fn);
        } catch (error) {
          // busy_timeout already waited; one more try covers a lock handed to another waiter.
          if (!isBusy(error) || attempt >= 3) throw error;
        }
      }
    },
    migrationSession: (fn) => immediate(fn),
    insertIgnoringDuplicates: (query) => query.orIgnore(),
    upsert: (query, column, set) => query.onConflict((oc) => oc.column(column as any).doUpdateSet(set as any)),
    insertedRows: (results: InsertResult[]) => results.reduce((n, r) => n + Number(r.numInsertedOrUpdatedRows ?? 0), 0),
    connectionFailure: (error) =>
      isFileFailure(error)
        ? new TickerQError(
            "STORE_UNAVAILABLE",
            `cannot use SQLite database ${JSON.stringify(options.filename)}: ${(error as Error).message}`,
            { cause: error },
          )
        : null,
    isUniqueViolation(error) {
      const code = (error as { code?: unknown })?.code;
      return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
    },
    callerExecutor(tx) {
      if (isKyselyLike(tx)) return async (query) => void (await tx.executeQuery(query));
      throw new TickerQError(
        "INVALID_ARGUMENT",
        "tx must be a Kysely transaction on the SQLite store; better-sqlite3 runs one transaction at a time, so enqueue after your own commits instead",
        { field: "tx" },
      );
    },
    /**
     * SQLite has no NOTIFY, but every commit, from any process, touches the -wal file: a
     * watch on it wakes this node's dispatcher within milliseconds of another process's
     * insert, instead of at the next poll. A hint only ("look again"), throttled to one per
     * 10 ms, and only for other processes' commits (PRAGMA data_version moves on those alone),
     * so a node's own writes never wake it; the poll stays as the safety net (and carries
     * cancel requests).
     */
    async listen(onSignal: (signal: StoreSignal, origin: string) => void) {
      if (options.filename === ":memory:" || options.database) return;
      const file = resolve(options.filename);
      const names = new Set([basename(file), `${basename(file)}-wal`]);
      let quietUntil = 0;
      let trailing: ReturnType<typeof setTimeout> | null = null;
      let seenVersion: unknown = null;
      const othersCommitted = (): boolean => {
        const connection = shared.handle.opened;
        if (!connection?.open) return true;
        let version: unknown;
        try {
          version = connection.pragma("data_version", { simple: true });
        } catch {
          return true; // it runs in the watcher's callback, where a throw would end the process; a hint is harmless
        }
        const changed = version !== seenVersion;
        seenVersion = version;
        return changed;
      };
      othersCommitted();
      const hint = () => onSignal({ type: "due", at: new Date(0) }, "wal-watch");
      try {
        watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
          if (!name || !names.has(String(name)) || !othersCommitted()) return;
          const now = Date.now();
          if (now >= quietUntil) {
            quietUntil = now + 10;
            hint();
          } else {
            trailing ??= setTimeout(
              () => ((trailing = null), (quietUntil = Date.now() + 10), hint()),
              quietUntil - now,
            );
          }
        });
        watcher.on("error", () => watcher?.close());
      } catch {
        watcher = null; // no file watching here (e.g. a read-only mount): the poll still works
      }
    },
    async close() {
      watcher?.close();
      watcher = null;
      await release();
    },
  };
}

export function sqliteBusKey(filename: string, prefix: string): string {
  return `sqlite:${filename === ":memory:" ? `memory:${randomUUID()}` : resolve(filename)}:${prefix}`;
}
