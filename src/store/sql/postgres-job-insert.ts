/**
 * PostgreSQL's insert of new jobs. A batch of COPY_THRESHOLD jobs or more streams in with
 * COPY … FROM STDIN (pg-copy-streams) on the caller's pg client, inside their transaction, or
 * on a client of the store's pool in a transaction of its own; a smaller batch, or one inside
 * a caller's Kysely transaction (which lends no client to COPY on), is one INSERT whose rows
 * travel as one JSON parameter holding only what varies per job, the server filling in the
 * columns every new job starts with.
 */

import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Pool, PoolClient } from "pg";
import type { Kysely, RawBuilder } from "kysely";
import { sql } from "kysely";
import { PRIORITY_RANK } from "../../lifecycle.js";
import type { NewJob } from "../contract.js";
import type { CallerExecutor } from "./dialect.js";
import { intervalsIn } from "./rows.js";
import type { Database } from "./schema.js";

/**
 * From this many jobs a batch goes through COPY: its rows cost the server less to read than
 * json_to_recordset's, which outweighs the BEGIN and COMMIT of its own transaction.
 */
export const COPY_THRESHOLD = 100;

/** The columns both paths write, in COPY's order. */
const COLUMNS =
  "id, type, function, description, request, execution_time, scheduled_for, status, priority, priority_rank, " +
  "retries, retry_intervals, retry_count, parent_id, run_condition, cron_ticker_id, metadata, cancel_requested, " +
  "created_at, updated_at";

/** A text field of COPY's text format: NULL as \N, and backslash, tab, newline and carriage return escaped. */
function field(value: string | null): string {
  if (value === null) return "\\N";
  return /[\\\t\n\r]/.test(value)
    ? value.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"))
    : value;
}

/** One job as a line of COPY's text format, the same row jobToRow describes. */
function copyLine(job: NewJob): string {
  const e = job.executionTime ? String(job.executionTime.getTime()) : "\\N";
  const c = String(job.createdAt.getTime());
  return (
    `${field(job.id)}\t${field(job.type)}\t${field(job.function)}\t${field(job.description)}\t${field(job.request)}\t` +
    `${e}\t${e}\tIdle\t${field(job.priority)}\t${PRIORITY_RANK[job.priority]}\t${job.retries}\t` +
    `${field(job.retryIntervals ? intervalsIn(job.retryIntervals) : null)}\t0\t${field(job.parentId)}\t` +
    `${field(job.runCondition)}\t${field(job.cronTickerId)}\t${field(job.metadata ? JSON.stringify(job.metadata) : null)}\t` +
    `0\t${c}\t${c}\n`
  );
}

/** The lines in chunks of about 64 kB: one CopyData message each rather than one per job. */
function* copyChunks(jobs: readonly NewJob[]): Generator<string> {
  let chunk = "";
  for (const job of jobs) {
    chunk += copyLine(job);
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = "";
    }
  }
  if (chunk) yield chunk;
}

type CopyFrom = (typeof import("pg-copy-streams"))["from"];
let copyFrom: Promise<CopyFrom | null> | null = null;

/** pg-copy-streams, or null where it cannot be loaded (then every batch takes the INSERT). */
function loadCopy(): Promise<CopyFrom | null> {
  return (copyFrom ??= import("pg-copy-streams").then(
    (mod) => mod.from ?? (mod as unknown as { default: { from: CopyFrom } }).default.from,
    () => null,
  ));
}

async function copyJobs(client: PoolClient, table: string, jobs: readonly NewJob[], from: CopyFrom): Promise<void> {
  const target = table
    .split(".")
    .map((part) => `"${part}"`)
    .join(".");
  await pipeline(Readable.from(copyChunks(jobs)), client.query(from(`copy ${target} (${COLUMNS}) from stdin`)));
}

/**
 * Inserts `jobs` (see the module's comment). `caller` is the caller's transaction, when there
 * is one; `notify` a pg_notify expression to send with the store's own commit.
 */
export async function postgresInsertJobs(
  db: Kysely<Database>,
  pool: (() => Promise<Pool>) | null,
  table: string,
  jobs: readonly NewJob[],
  caller: CallerExecutor | null,
  notify?: RawBuilder<unknown>,
): Promise<void> {
  const from = jobs.length >= COPY_THRESHOLD ? await loadCopy() : null;
  if (from && caller?.pgClient) return copyJobs(caller.pgClient as PoolClient, table, jobs, from);
  if (from && !caller && pool) {
    const client = await (await pool()).connect();
    let broken: unknown;
    try {
      await client.query("begin");
      try {
        await copyJobs(client, table, jobs, from);
        if (notify) {
          const query = sql`select ${notify}`.compile(db);
          await client.query(query.sql, [...query.parameters]);
        }
        await client.query("commit");
      } catch (error) {
        await client.query("rollback").catch((rollbackError: unknown) => (broken = rollbackError));
        throw error;
      }
    } finally {
      // A client whose rollback failed is dropped rather than handed back mid-transaction.
      client.release(broken instanceof Error ? broken : undefined);
    }
    return;
  }
  const inserted = postgresJobInsert(table, jobs);
  if (caller) {
    await caller(inserted.compile(db));
  } else if (notify) {
    await sql`with inserted as (${inserted} returning id)
      select ${notify} where exists (select 1 from inserted)`.execute(db);
  } else {
    await inserted.execute(db);
  }
}

/**
 * One job as a JSON object for json_to_recordset. Built as text rather than through an object
 * and JSON.stringify: this runs once per job on the bulk path, and half the columns are null
 * for a typical job, so a key is written only when it has a value (absent means NULL).
 *
 * Keys are one letter, which makes the parameter a third smaller and its parse by the server
 * markedly cheaper: i id, y type, f function, d description, q request, e execution_time,
 * p priority, k priority_rank, n retries, v retry_intervals, a parent_id, r run_condition,
 * t cron_ticker_id, m metadata, c created_at.
 */
function jobJson(job: NewJob): string {
  let json =
    `{"i":${JSON.stringify(job.id)},"y":${JSON.stringify(job.type)},` +
    `"f":${JSON.stringify(job.function)},"p":${JSON.stringify(job.priority)},` +
    `"k":${PRIORITY_RANK[job.priority]},"n":${job.retries},"c":${job.createdAt.getTime()}`;
  if (job.executionTime) json += `,"e":${job.executionTime.getTime()}`;
  if (job.request !== null) json += `,"q":${JSON.stringify(job.request)}`;
  if (job.description !== null) json += `,"d":${JSON.stringify(job.description)}`;
  if (job.retryIntervals) json += `,"v":${JSON.stringify(intervalsIn(job.retryIntervals))}`;
  if (job.parentId !== null) json += `,"a":${JSON.stringify(job.parentId)}`;
  if (job.runCondition !== null) json += `,"r":${JSON.stringify(job.runCondition)}`;
  if (job.cronTickerId !== null) json += `,"t":${JSON.stringify(job.cronTickerId)}`;
  if (job.metadata) json += `,"m":${JSON.stringify(JSON.stringify(job.metadata))}`;
  return `${json}}`;
}

/**
 * INSERT of `jobs` as new rows, the same rows jobToRow describes: Idle, no attempt, no lease,
 * scheduled_for and updated_at equal to execution_time and created_at; the columns not named
 * here (occurrence_time, lock and outcome columns) start NULL.
 */
export function postgresJobInsert(table: string, jobs: readonly NewJob[]): RawBuilder<unknown> {
  // Appended rather than joined: the pieces stay linked until the driver writes them out once.
  let json = "[";
  for (const job of jobs) json += json.length === 1 ? jobJson(job) : `,${jobJson(job)}`;
  json += "]";
  return sql`insert into ${sql.table(table)} (
      id, type, function, description, request, execution_time, scheduled_for, status,
      priority, priority_rank, retries, retry_intervals, retry_count,
      parent_id, run_condition, cron_ticker_id, metadata, cancel_requested, created_at, updated_at)
    select i, y, f, d, q, e, e, 'Idle',
      p, k, n, v, 0,
      a, r, t, m, 0, c, c
    from json_to_recordset(${json}::json) as job(
      i text, y text, f text, d text, q text, e bigint,
      p text, k integer, n integer, v text,
      a text, r text, t text, m text, c bigint)`;
}
