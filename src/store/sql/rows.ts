/** Converts between table rows and the contract's records: instants, booleans, JSON arrays. */

import type { Priority, RunCondition, TickerStatus, TickerType } from "../../lifecycle.js";
import { PRIORITY_RANK } from "../../lifecycle.js";
import type {
  AttemptRecord,
  CronTickerRecord,
  JobRecord,
  NewCronTicker,
  NewJob,
  NodeInfo,
  NodeRecord,
} from "../contract.js";
import type { AttemptsTable, CronTickersTable, JobsTable, NodesTable } from "./schema.js";

/** Epoch ms from whatever the driver returned: number, BIGINT-as-string (pg) or bigint. */
export function toMs(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

export function toDate(value: unknown): Date {
  return new Date(toMs(value));
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

export function msOrNull(date: Date | null | undefined): number | null {
  return date ? date.getTime() : null;
}

/**
 * A JSON column read back, or null when its text is not what tickerq writes there (a hand
 * edit, a bad restore). A row that threw here would fail every claim that returned it, and
 * the claims of every node would stall on it: the job runs instead, without that field.
 */
function parsedOrNull<T>(text: string | null | undefined, accepts: (value: unknown) => value is T): T | null {
  if (text === null || text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text);
    return accepts(value) ? value : null;
  } catch {
    return null;
  }
}

const isIntervals = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((n) => typeof n === "number");

const isMetadata = (value: unknown): value is Record<string, string> =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((v) => typeof v === "string");

function intervalsOut(text: string | null): number[] | null {
  return parsedOrNull(text, isIntervals);
}

export function intervalsIn(intervals: readonly number[] | null | undefined): string | null {
  return intervals ? JSON.stringify(intervals) : null;
}

function metadataOut(text: string | null | undefined): Record<string, string> | null {
  return parsedOrNull(text, isMetadata);
}

export function jobFromRow(row: JobsTable): JobRecord {
  return {
    id: row.id,
    type: row.type as TickerType,
    function: row.function,
    description: row.description,
    request: row.request,
    executionTime: toDateOrNull(row.execution_time),
    scheduledFor: toDateOrNull(row.scheduled_for),
    status: row.status as TickerStatus,
    priority: row.priority as Priority,
    retries: Number(row.retries),
    retryIntervals: intervalsOut(row.retry_intervals),
    retryCount: Number(row.retry_count),
    lockHolder: row.lock_holder,
    lockedAt: toDateOrNull(row.locked_at),
    leaseToken: Number(row.lease_token),
    executedAt: toDateOrNull(row.executed_at),
    elapsedMs: row.elapsed_ms === null ? null : toMs(row.elapsed_ms),
    exceptionMessage: row.exception_message,
    exceptionDetails: row.exception_details,
    parentId: row.parent_id,
    runCondition: row.run_condition as RunCondition | null,
    cronTickerId: row.cron_ticker_id,
    cancelRequested: Number(row.cancel_requested) === 1,
    metadata: metadataOut(row.metadata),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

/** A new job as a row: Idle, no attempts yet; `scheduledFor` starts as the due time. */
export function jobToRow(job: NewJob, occurrenceTime: number | null): JobsTable {
  const created = job.createdAt.getTime();
  return {
    id: job.id,
    type: job.type,
    function: job.function,
    description: job.description,
    request: job.request,
    execution_time: msOrNull(job.executionTime),
    scheduled_for: msOrNull(job.executionTime),
    occurrence_time: occurrenceTime,
    status: "Idle",
    priority: job.priority,
    priority_rank: PRIORITY_RANK[job.priority],
    retries: job.retries,
    retry_intervals: intervalsIn(job.retryIntervals),
    retry_count: 0,
    lock_holder: null,
    locked_at: null,
    lease_token: 0,
    executed_at: null,
    elapsed_ms: null,
    exception_message: null,
    exception_details: null,
    parent_id: job.parentId,
    run_condition: job.runCondition,
    cron_ticker_id: job.cronTickerId,
    cancel_requested: 0,
    metadata: job.metadata ? JSON.stringify(job.metadata) : null,
    created_at: created,
    updated_at: created,
  };
}

export function attemptFromRow(row: Omit<AttemptsTable, "seq" | "rolled_up">): AttemptRecord {
  return {
    jobId: row.job_id,
    attempt: Number(row.attempt),
    status: row.status as AttemptRecord["status"],
    nodeId: row.node_id,
    startedAt: toDate(row.started_at),
    finishedAt: toDate(row.finished_at),
    elapsedMs: toMs(row.elapsed_ms),
    exceptionMessage: row.exception_message,
    exceptionDetails: row.exception_details,
    superseded: Number(row.superseded) === 1,
  };
}

export function attemptToRow(attempt: AttemptRecord): Omit<AttemptsTable, "seq" | "rolled_up"> {
  return {
    job_id: attempt.jobId,
    attempt: attempt.attempt,
    status: attempt.status,
    node_id: attempt.nodeId,
    started_at: attempt.startedAt.getTime(),
    finished_at: attempt.finishedAt.getTime(),
    elapsed_ms: Math.round(attempt.elapsedMs),
    exception_message: attempt.exceptionMessage,
    exception_details: attempt.exceptionDetails,
    superseded: attempt.superseded ? 1 : 0,
  };
}

export function cronFromRow(row: CronTickersTable): CronTickerRecord {
  return {
    id: row.id,
    function: row.function,
    expression: row.expression,
    timeZone: row.time_zone,
    request: row.request,
    retries: Number(row.retries),
    retryIntervals: intervalsOut(row.retry_intervals),
    description: row.description,
    priority: row.priority as Priority,
    enabled: Number(row.enabled) === 1,
    seededBy: row.seeded_by,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
  };
}

export function cronToRow(ticker: NewCronTicker): CronTickersTable {
  return {
    id: ticker.id,
    function: ticker.function,
    expression: ticker.expression,
    time_zone: ticker.timeZone,
    request: ticker.request,
    retries: ticker.retries,
    retry_intervals: intervalsIn(ticker.retryIntervals),
    description: ticker.description,
    priority: ticker.priority,
    enabled: ticker.enabled ? 1 : 0,
    seeded_by: ticker.seededBy,
    created_at: ticker.createdAt.getTime(),
    updated_at: ticker.createdAt.getTime(),
  };
}

export function nodeFromRow(row: NodesTable): NodeRecord {
  return {
    nodeId: row.node_id,
    startedAt: toDate(row.started_at),
    heartbeatAt: toDate(row.heartbeat_at),
    paused: Number(row.paused) === 1,
    info: JSON.parse(row.info) as NodeInfo,
  };
}
