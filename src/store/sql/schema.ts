/**
 * The shape of tickerq's tables as Kysely sees them, and how table names are qualified by the
 * user's schema and prefix.
 *
 * Every instant is a BIGINT of epoch milliseconds, in all three dialects: one representation,
 * exact to the millisecond (MySQL's DATETIME would need (3) and a session time zone), cheap to
 * index and compare, and never shifted by a server or driver time zone. Booleans are 0/1
 * integers because better-sqlite3 cannot bind JavaScript booleans.
 */

import type { Generated } from "kysely";
import { TickerQError, show } from "../../errors.js";

/** Epoch milliseconds. node-postgres returns BIGINT as a string, so reads go through `toMs`. */
type Millis = number;

export interface JobsTable {
  id: string;
  type: string;
  function: string;
  description: string | null;
  request: string | null;
  execution_time: Millis | null;
  scheduled_for: Millis | null;
  /** The cron instant an occurrence was planned for; unique per ticker, kept across retries. */
  occurrence_time: Millis | null;
  status: string;
  priority: string;
  /** PRIORITY_RANK of `priority`, so a claim walks one index range per rank. */
  priority_rank: number;
  retries: number;
  /** JSON array of seconds, or null. */
  retry_intervals: string | null;
  retry_count: number;
  lock_holder: string | null;
  locked_at: Millis | null;
  /** Incremented by every claim: the fencing token of the current lease (migration 3). */
  lease_token: number;
  executed_at: Millis | null;
  elapsed_ms: Millis | null;
  exception_message: string | null;
  exception_details: string | null;
  parent_id: string | null;
  run_condition: string | null;
  cron_ticker_id: string | null;
  cancel_requested: number;
  /** JSON object of strings written by enqueue middleware, or null (migration 4). */
  metadata: string | null;
  created_at: Millis;
  updated_at: Millis;
}

export interface AttemptsTable {
  /** Insertion order: attempt numbers repeat after an operator requeue, so they cannot be the key. */
  seq: Generated<number>;
  job_id: string;
  attempt: number;
  status: string;
  node_id: string;
  started_at: Millis;
  finished_at: Millis;
  elapsed_ms: Millis;
  exception_message: string | null;
  exception_details: string | null;
  /** 1: the run ended after its lease was taken over, and changed nothing (migration 3). */
  superseded: number;
  /** 1: its writer appended its run rollup itself, so the trigger skips it (migration 8). */
  rolled_up: Generated<number>;
}

export interface CronTickersTable {
  id: string;
  function: string;
  expression: string;
  time_zone: string | null;
  request: string | null;
  retries: number;
  retry_intervals: string | null;
  description: string | null;
  priority: string;
  enabled: number;
  seeded_by: string | null;
  created_at: Millis;
  updated_at: Millis;
}

export interface NodesTable {
  node_id: string;
  started_at: Millis;
  heartbeat_at: Millis;
  paused: number;
  /** NodeInfo as JSON. */
  info: string;
}

export interface MigrationsTable {
  version: number;
  name: string;
  applied_at: Millis;
}

/** Jobs per (type, function, status), kept by triggers through `job_count_deltas` (migration 5). */
export interface JobCountsTable {
  type: string;
  function: string;
  status: string;
  n: number;
}

export interface JobCountDeltasTable {
  seq: Generated<number>;
  type: string;
  function: string;
  status: string;
  delta: number;
}

/**
 * Finished runs per (span_ms, bucket, function, status) with histogram bins d0..d23 (duration)
 * and l0..l23 (lateness), kept by a trigger on attempts through `run_rollup_deltas` (migration 5).
 * Read with raw SQL: the bin columns are listed by BIN_COLUMNS.
 */
export interface RunRollupTable {
  span_ms: number;
  bucket: number;
  function: string;
  status: string;
  runs: number;
  duration_sum: number;
}

export interface RunRollupDeltasTable extends RunRollupTable {
  seq: Generated<number>;
}

/** Kysely's view of the database; the runtime names carry the prefix (see `tableNames`). */
export interface Database {
  jobs: JobsTable;
  attempts: AttemptsTable;
  cron_tickers: CronTickersTable;
  nodes: NodesTable;
  migrations: MigrationsTable;
  job_counts: JobCountsTable;
  job_count_deltas: JobCountDeltasTable;
  run_rollup: RunRollupTable;
  run_rollup_deltas: RunRollupDeltasTable;
  /**
   * The searched text of each job. SQLite (migration 6): an FTS5 trigram index, typed here.
   * PostgreSQL (migration 7): a plain table (job_id, text, request) of the lowered texts with
   * pg_trgm indexes, queried in raw SQL. MySQL: none.
   */
  job_search: JobSearchTable;
  /** PostgreSQL only (migration 9): new jobs' texts, until a heartbeat moves them to job_search. */
  job_search_backlog: JobSearchBacklogTable;
  /** SQLite only (migration 6): the FTS5 rowid of each job. */
  job_search_keys: JobSearchKeysTable;
}

export interface JobSearchTable {
  rowid: number;
  id: string;
  function: string;
  description: string | null;
  request: string | null;
}

export interface JobSearchBacklogTable {
  job_id: string;
  text: string;
  request: string | null;
}

export interface JobSearchKeysTable {
  n: number;
  job_id: string;
}

export type TableNames = { readonly [K in keyof Database]: K };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/** Checks a user-supplied schema or prefix: it becomes part of SQL identifiers, so no quoting games. */
export function checkIdentifier(field: string, value: string, allowEmpty: boolean): string {
  if ((allowEmpty && value === "") || IDENTIFIER.test(value)) return value;
  throw new TickerQError(
    "INVALID_ARGUMENT",
    `${field} must be letters, digits and underscores (at most 40, not starting with a digit); got ${show(value)}`,
    { field },
  );
}

/**
 * The qualified name of each table. Kysely is typed with the bare names; at runtime the
 * string carries "schema.prefix_name", which Kysely splits and quotes. Columns are therefore
 * never qualified by table name in queries.
 */
export function tableNames(prefix: string, schema: string | null): TableNames {
  const qualify = (name: string) => `${schema ? `${schema}.` : ""}${prefix}${name}`;
  return {
    jobs: qualify("jobs") as "jobs",
    attempts: qualify("attempts") as "attempts",
    cron_tickers: qualify("cron_tickers") as "cron_tickers",
    nodes: qualify("nodes") as "nodes",
    migrations: qualify("migrations") as "migrations",
    job_counts: qualify("job_counts") as "job_counts",
    job_count_deltas: qualify("job_count_deltas") as "job_count_deltas",
    run_rollup: qualify("run_rollup") as "run_rollup",
    run_rollup_deltas: qualify("run_rollup_deltas") as "run_rollup_deltas",
    job_search: qualify("job_search") as "job_search",
    job_search_backlog: qualify("job_search_backlog") as "job_search_backlog",
    job_search_keys: qualify("job_search_keys") as "job_search_keys",
  };
}
