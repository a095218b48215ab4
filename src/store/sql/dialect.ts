/**
 * What differs between SQLite, PostgreSQL and MySQL/MariaDB, behind one small interface: the
 * shared SQL store (sql-store.ts) is written once against it.
 */

import type { CompiledQuery, InsertQueryBuilder, InsertResult, Kysely, QueryResult, RawBuilder } from "kysely";
import type { TickerQError } from "../../errors.js";
import type {
  JobCompletion,
  JobLease,
  JobRecord,
  NewJob,
  Store,
  StoreCapabilities,
  StoreLogger,
  StoreSignal,
} from "../contract.js";
import type { SqlContext } from "./context.js";
import type { Database } from "./schema.js";

export type DialectKind = "sqlite" | "postgres" | "mysql";

/** Runs one compiled statement on the caller's transaction (pg client, mysql2 connection, Kysely tx). */
export type CallerExecutor = ((query: CompiledQuery) => Promise<void>) & {
  /**
   * The caller's pg client, when their transaction is one: PostgreSQL's COPY streams on it.
   * Typed loosely so that the published declarations need no driver types.
   */
  readonly pgClient?: unknown;
};

/** Column types for migrations, where the dialects' names differ. */
export interface ColumnTypes {
  /** Ids, names, statuses: indexed, so bounded. */
  key: string;
  /** Requests and stack traces: may be large. */
  longText: string;
  millis: string;
  int: string;
}

/**
 * Sends a group of statements of a transaction and returns their results in order. The first
 * group begins the transaction and the one marked `last` commits it.
 */
export type PipelineSend = (
  queries: readonly CompiledQuery[],
  options?: { last?: boolean },
) => Promise<QueryResult<unknown>[]>;

/** Runs `fn` in one write transaction whose statements it sends in groups (SqlDialect.pipelinedTx). */
export type PipelinedTx = <T>(fn: (send: PipelineSend) => Promise<T>) => Promise<T>;

/** What a claim asks for: Store.jobClaimDue's params, declared once in the contract. */
export type ClaimParams = Parameters<Store["jobClaimDue"]>[0];

/**
 * A dialect's own claim, start and completion, in its own file (postgres-hot-path.ts,
 * sqlite-hot-path.ts), used instead of the portable path in leases.ts: same rules, same
 * fencing, fewer statements. Each pushes the signals its writes call for onto `signals`.
 * startMany and completeMany get each job at most once (leases.ts splits a batch that names a
 * job twice into rounds).
 */
export interface HotPath {
  claimDue(ctx: SqlContext, params: ClaimParams, signals: StoreSignal[]): Promise<JobRecord[]>;
  startMany(
    ctx: SqlContext,
    leases: readonly JobLease[],
    nodeId: string,
    at: Date,
    signals: StoreSignal[],
  ): Promise<string[]>;
  completeMany(
    ctx: SqlContext,
    completions: readonly JobCompletion[],
    signals: StoreSignal[],
  ): Promise<{ superseded: string[] }>;
  /** The earliest due time of an Idle job, when the dialect reads it its own way (a named statement). */
  nextDue?(ctx: SqlContext): Promise<Date | null>;
}

export interface SqlDialect {
  readonly kind: DialectKind;
  readonly db: Kysely<Database>;
  readonly capabilities: StoreCapabilities;
  readonly columnTypes: ColumnTypes;
  /** Appended to a text column to compare it byte by byte (PostgreSQL's default collation is linguistic). */
  readonly binaryCollation: string;
  /** Claims lock candidate rows with FOR UPDATE SKIP LOCKED (servers) or rely on the write lock (SQLite). */
  readonly skipLocked: boolean;
  /** An upsert can return the row it leaves (RETURNING after ON CONFLICT): PostgreSQL and SQLite, not MySQL. */
  readonly upsertReturns: boolean;

  /** Checks the database answers; throws STORE_UNAVAILABLE naming where it looked. */
  connect(): Promise<void>;
  /**
   * Runs `fn` in one write transaction: BEGIN IMMEDIATE on SQLite (so two processes never
   * deadlock upgrading a read lock), READ COMMITTED on MySQL; retried on deadlock.
   */
  writeTx<T>(fn: (tx: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * A write transaction like writeTx whose each group of statements is one round trip: BEGIN
   * travels with the first group and COMMIT with the last (MySQL with multiple statements per
   * query). Without it, the portable claim sends its statements one by one in writeTx.
   */
  readonly pipelinedTx?: PipelinedTx;
  /** Runs migrations under a lock that keeps two nodes from migrating at once. */
  migrationSession<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /** INSERT that skips rows conflicting with a unique key. */
  insertIgnoringDuplicates<O>(query: InsertQueryBuilder<Database, any, O>): InsertQueryBuilder<Database, any, O>;
  /** INSERT that updates `set` when `conflictColumn` (a unique key) exists already. */
  upsert<O>(
    query: InsertQueryBuilder<Database, any, O>,
    conflictColumn: string,
    set: Record<string, unknown>,
  ): InsertQueryBuilder<Database, any, O>;
  /** How many rows an INSERT put in. */
  insertedRows(result: InsertResult[]): number;
  /**
   * STORE_UNAVAILABLE (naming host and port, the driver's error as `cause`) when `error` means
   * the database could not be reached or the connection broke (refused, reset, timed out,
   * terminated by an admin, server shutting down); null for an ordinary SQL error, which the
   * caller sees unchanged.
   */
  connectionFailure(error: unknown): TickerQError | null;
  /** Whether `error` is a unique-key violation. */
  isUniqueViolation(error: unknown): boolean;
  /** Wraps a caller's transaction object, or throws INVALID_ARGUMENT for one it does not know. */
  callerExecutor(tx: unknown): CallerExecutor;
  /**
   * Runs hand-written SQL (placeholders $1, $2…) as a named prepared statement, so a hot
   * statement is parsed and planned once per connection (PostgreSQL).
   */
  prepared?<R>(text: string, values: readonly unknown[]): Promise<R[]>;
  /**
   * Opens the pool's standing connections and runs each of `statements` (as `prepared`) once
   * on every one, so that a burst of hot-path calls finds them connected and the statements
   * planned. On PostgreSQL a new connection costs 10-25 ms and its first plan of the claim
   * about 13: a start write that paid both made the jobs due behind it start 30-45 ms late.
   */
  warm?(statements: readonly { text: string; values: readonly unknown[] }[]): Promise<void>;
  /**
   * The signal as an SQL expression to select inside a write statement, so it is sent with
   * that statement's commit and costs no round trip of its own (PostgreSQL's pg_notify).
   */
  notifyExpression?(signal: StoreSignal, origin: string): RawBuilder<unknown>;
  /**
   * Inserts new jobs its own way (PostgreSQL: COPY or one JSON parameter, postgres-job-insert.ts)
   * instead of the portable multi-row INSERTs: on `caller` when given, else in the store's own
   * transaction, sending `notify` with its commit.
   */
  insertJobs?(
    table: string,
    jobs: readonly NewJob[],
    caller: CallerExecutor | null,
    notify?: RawBuilder<unknown>,
  ): Promise<void>;
  /** The dialect's own claim, start and completion, when it has them. */
  readonly hotPath?: HotPath;
  /**
   * The dialect's indexed form of the job search (migrations 6 and 7), asked for a text of
   * three characters or more: a condition on the jobs row that matches the same jobs as the
   * scan of id, function, description (and request with `withRequest`), or null to scan.
   * `like` is the search's escaped, case-insensitive LIKE against an expression.
   */
  searchCondition?(
    ctx: SqlContext,
    text: string,
    withRequest: boolean,
    like: (expression: RawBuilder<unknown>) => RawBuilder<boolean>,
  ): RawBuilder<boolean> | null;
  /**
   * Moves up to `limit` new jobs' search texts from where the insert left them into the
   * search's index (PostgreSQL's backlog, migration 9); returns how many it moved. Absent
   * where the insert indexes them itself.
   */
  searchCatchUp?(ctx: SqlContext, limit: number): Promise<number>;
  /** Sends a signal to other processes, on `executor` when given (so it commits with it). */
  broadcast?(signal: StoreSignal, origin: string, executor?: CallerExecutor): Promise<void>;
  /** Starts receiving other processes' signals. */
  listen?(
    onSignal: (signal: StoreSignal, origin: string) => void,
    options?: {
      /** Not awaited: a failed first try is retried, and the first success signals "look again". */
      background?: boolean;
      /** In the background, wait for this first (PostgreSQL: the node's first claim; see SqlStore). */
      after?: Promise<unknown>;
    },
  ): Promise<void>;
  /** Where the dialect reports a dropped connection and the like (Store.setLogger). */
  setLogger?(logger: StoreLogger): void;
  close(): Promise<void>;
}

/** The Kysely transaction or instance a caller passed, recognised by shape. */
export function isKyselyLike(tx: unknown): tx is { executeQuery(query: CompiledQuery): Promise<unknown> } {
  return (
    typeof tx === "object" &&
    tx !== null &&
    typeof (tx as { executeQuery?: unknown }).executeQuery === "function" &&
    typeof (tx as { selectFrom?: unknown }).selectFrom === "function"
  );
}
