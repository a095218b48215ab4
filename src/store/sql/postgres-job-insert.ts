/**
 * PostgreSQL's bulk insert of new jobs: the batch travels as one JSON parameter holding only
 * what varies per job, and the server fills in the columns every new job starts with.
 */

import type { RawBuilder } from "kysely";
import { sql } from "kysely";
import { PRIORITY_RANK } from "../../lifecycle.js";
import type { NewJob } from "../contract.js";
import { intervalsIn } from "./rows.js";

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
