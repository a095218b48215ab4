/** The public shapes of stored rows: requests parsed back into values, and input types. */

import type { Priority, RunCondition } from "./lifecycle.js";
import type { CronTickerRecord, JobRecord, NewJob } from "./store/contract.js";
import { newJobRecordWith } from "./store/new-record.js";

export type TimeTicker<TRequest = unknown> = Omit<JobRecord, "request"> & { request: TRequest };
export type CronTickerOccurrence<TRequest = unknown> = Omit<JobRecord, "request"> & { request: TRequest };
export type CronTicker<TRequest = unknown> = Omit<CronTickerRecord, "request"> & {
  request: TRequest;
  /** The next instant it fires, when enabled. */
  nextOccurrence: Date | null;
};

/** A Date, an ISO-8601 string or epoch milliseconds. */
export type DateInput = Date | string | number;

/** `request` is optional only when the function's request type admits undefined. */
export type RequestField<R> = undefined extends R ? { request?: R } : { request: R };

interface TickerCommon {
  description?: string;
  /** Retries after a failed attempt. @default the function's, else 0 */
  retries?: number;
  /** Seconds before each retry, fractions allowed; the last repeats. @default the function's, else 30 s doubling */
  retryIntervals?: number[];
  /** @default the function's, else "Normal" */
  priority?: Priority;
}

type Each<M, T> = { [K in keyof M & string]: T & { function: K } & RequestField<M[K]> }[keyof M & string];

export type TimeTickerInput<M> = Each<
  M,
  TickerCommon & {
    /** @default now */
    executionTime?: DateInput;
    /** Jobs that run when this one ends, by their run condition. */
    children?: ChildTickerInput<M>[];
    /** Your own id (e.g. for idempotency); a duplicate is refused. @default a new UUIDv7: ids made later sort later */
    id?: string;
  }
>;

export type ChildTickerInput<M> = Each<
  M,
  TickerCommon & {
    runCondition: RunCondition;
    children?: ChildTickerInput<M>[];
    id?: string;
  }
>;

export interface TimeTickerPatch {
  executionTime?: DateInput;
  request?: unknown;
  description?: string | null;
  retries?: number;
  retryIntervals?: number[] | null;
  priority?: Priority;
}

export type CronTickerInput<M> = Each<
  M,
  TickerCommon & {
    /** 6 fields with seconds first, or 5 fields. */
    expression: string;
    /** IANA time zone. @default UTC */
    timeZone?: string;
    /** @default true */
    enabled?: boolean;
  }
>;

export interface CronTickerPatch {
  expression?: string;
  timeZone?: string | null;
  request?: unknown;
  description?: string | null;
  retries?: number;
  retryIntervals?: number[] | null;
  priority?: Priority;
  enabled?: boolean;
}

export function parseRequest(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text; // a row not written by tickerq: show it as it is rather than fail the read
  }
}

export function toTimeTicker<R = unknown>(job: JobRecord): TimeTicker<R> {
  return { ...job, request: parseRequest(job.request) as R };
}

/**
 * Tickers just inserted, as a read would return them, without reading them back. Their
 * requests are parsed in one JSON.parse: on the bulk path that is much cheaper than one each.
 */
export function newTimeTickers(jobs: readonly NewJob[]): TimeTicker[] {
  // An absent request reads back as undefined; "0" only holds its place in the array.
  const requests = JSON.parse(`[${jobs.map((job) => job.request ?? "0").join(",")}]`) as unknown[];
  return jobs.map((job, i) => newJobRecordWith(job, job.request === null ? undefined : requests[i]));
}
