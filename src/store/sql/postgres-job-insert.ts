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
 */
function jobJson(job: NewJob): string {
  let json =
    `{"id":${JSON.stringify(job.id)},"type":${JSON.stringify(job.type)},` +
    `"function":${JSON.stringify(job.function)},"priority":${JSON.stringify(job.priority)},` +
    `"priority_rank":${PRIORITY_RANK[job.priority]},"retries":${job.retries},"created_at":${job.createdAt.getTime()}`;
  if (job.executionTime) json += `,"execution_time":${job.executionTime.getTime()}`;
  if (job.request !== null) json += `,"request":${JSON.stringify(job.request)}`;
  if (job.description !== null) json += `,"description":${JSON.stringify(job.description)}`;
  if (job.retryIntervals) json += `,"retry_intervals":${JSON.stringify(intervalsIn(job.retryIntervals))}`;
  if (job.parentId !== null) json += `,"parent_id":${JSON.stringify(job.parentId)}`;
  if (job.runCondition !== null) json += `,"run_condition":${JSON.stringify(job.runCondition)}`;
  if (job.cronTickerId !== null) json += `,"cron_ticker_id":${JSON.stringify(job.cronTickerId)}`;
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
      parent_id, run_condition, cron_ticker_id, cancel_requested, created_at, updated_at)
    select id, type, function, description, request, execution_time, execution_time, 'Idle',
      priority, priority_rank, retries, retry_intervals, 0,
      parent_id, run_condition, cron_ticker_id, 0, created_at, created_at
    from json_to_recordset(${json}::json) as job(
      id text, type text, function text, description text, request text, execution_time bigint,
      priority text, priority_rank integer, retries integer, retry_intervals text,
      parent_id text, run_condition text, cron_ticker_id text, created_at bigint)`;
}
