/** tq.cronTickers: recurring schedules, their occurrences, and run-now. */

import { newId } from "./ids.js";
import { invalid, TickerQError } from "./errors.js";
import { CronSchedule, occurrenceTimeZone } from "./cron.js";
import { occurrenceOf } from "./cron-scheduler.js";
import { commonPatch, encodeRequest, enqueue, requireFunction, type Core } from "./core.js";
import type { CronTickerPatch as StorePatch, CronTickerRecord, NewCronTicker, Page } from "./store/contract.js";
import type { TickerStatus } from "./lifecycle.js";
import {
  readFields,
  validateId,
  validateListQuery,
  validatePriority,
  validateRetries,
  validateRetryIntervals,
  validateText,
} from "./validation.js";
import { newJobRecord } from "./store/new-record.js";
import {
  parseRequest,
  toTimeTicker,
  type CronTicker,
  type CronTickerInput,
  type CronTickerOccurrence,
  type CronTickerPatch,
} from "./records.js";

/** The fields of a cron ticker's input: each read once, as it was when add() was called. */
const INPUT_FIELDS = [
  "function",
  "expression",
  "timeZone",
  "request",
  "retries",
  "retryIntervals",
  "description",
  "priority",
  "enabled",
] as const;

/** The fields of a cron ticker that update() takes (the dashboard's edit refuses any other). */
export const CRON_TICKER_PATCH_FIELDS = [
  "expression",
  "timeZone",
  "request",
  "description",
  "retries",
  "retryIntervals",
  "priority",
  "enabled",
] as const;

export interface CronTickerListQuery {
  function?: string;
  enabled?: boolean;
  /** @default 50 (at most 1000) */
  limit?: number;
  offset?: number;
}

export interface OccurrenceQuery {
  status?: TickerStatus | TickerStatus[];
  from?: Date;
  to?: Date;
  order?: "asc" | "desc";
  /** @default 50 (at most 1000) */
  limit?: number;
  offset?: number;
}

export class CronTickerManager<M> {
  constructor(private readonly core: Core) {}

  async add(input: CronTickerInput<M>): Promise<CronTicker> {
    const { core } = this;
    if (typeof input !== "object" || input === null) throw invalid("input", input, "an object");
    const t = readFields("", input, INPUT_FIELDS);
    const fn = requireFunction(core, "function", t.function);
    const timeZone = occurrenceTimeZone(t.timeZone);
    new CronSchedule(t.expression as string, timeZone);
    if (t.enabled !== undefined && typeof t.enabled !== "boolean") throw invalid("enabled", t.enabled, "a boolean");
    const now = new Date(core.clock.now());
    const record: NewCronTicker = {
      id: newId(),
      function: fn.name,
      expression: (t.expression as string).trim(),
      timeZone,
      request: await encodeRequest(core, fn, "request", t.request),
      retries: validateRetries("retries", t.retries ?? fn.options.retries ?? 0),
      retryIntervals:
        t.retryIntervals !== undefined
          ? validateRetryIntervals("retryIntervals", t.retryIntervals)
          : (fn.options.retryIntervals ?? null),
      description: validateText("description", t.description),
      priority: validatePriority("priority", t.priority ?? fn.options.priority ?? "Normal"),
      enabled: t.enabled ?? true,
      seededBy: null,
      createdAt: now,
    };
    await core.ready();
    await core.store.cronTickerInsert({ cronTicker: record });
    core.cronChanged(record.id);
    return toCronTicker({ ...record, updatedAt: now }, now);
  }

  async get(id: string): Promise<CronTicker | null> {
    await this.core.ready();
    const record = await this.core.store.cronTickerGet({ id: validateId("id", id) });
    return record ? toCronTicker(record, new Date(this.core.clock.now())) : null;
  }

  async list(query: CronTickerListQuery = {}): Promise<Page<CronTicker>> {
    await this.core.ready();
    const limit = checkLimit(query?.limit);
    const { function: fn, enabled, offset } = validateListQuery(query);
    const page = await this.core.store.cronTickerList({ function: fn, enabled, offset, limit });
    const now = new Date(this.core.clock.now());
    return { items: page.items.map((record) => toCronTicker(record, now)), total: page.total };
  }

  /** Changes the schedule; Idle occurrences are re-planned from the new settings. */
  async update(id: string, patch: CronTickerPatch): Promise<CronTicker> {
    const { core } = this;
    await core.ready();
    const existing = await core.store.cronTickerGet({ id: validateId("id", id) });
    if (!existing) throw new TickerQError("NOT_FOUND", `cron ticker ${JSON.stringify(id)} does not exist`);
    if (typeof patch !== "object" || patch === null) throw invalid("patch", patch, "an object");
    const fields = readFields("", patch, CRON_TICKER_PATCH_FIELDS);
    const change: StorePatch = {};
    if (fields.timeZone !== undefined) change.timeZone = occurrenceTimeZone(fields.timeZone);
    if (fields.expression !== undefined || fields.timeZone !== undefined) {
      const expression = (fields.expression ?? existing.expression) as string;
      new CronSchedule(expression, change.timeZone === undefined ? existing.timeZone : change.timeZone);
      change.expression = expression.trim();
    }
    Object.assign(change, await commonPatch(core, existing.function, fields));
    if (fields.enabled !== undefined) {
      if (typeof fields.enabled !== "boolean") throw invalid("enabled", fields.enabled, "a boolean");
      change.enabled = fields.enabled;
    }
    const now = new Date(core.clock.now());
    const updated = await core.store.cronTickerUpdate({ id, patch: change, now });
    if (!updated) throw new TickerQError("NOT_FOUND", `cron ticker ${JSON.stringify(id)} does not exist`);
    core.cronChanged(id);
    return toCronTicker(updated, now);
  }

  /** Deletes the cron ticker and its occurrences. */
  async delete(id: string): Promise<boolean> {
    await this.core.ready();
    const deleted = await this.core.store.cronTickerDelete({ id: validateId("id", id) });
    if (deleted) this.core.cronChanged(id);
    return deleted;
  }

  /** The occurrences (runs) of one cron ticker, newest first by default. */
  async occurrences(cronTickerId: string, query: OccurrenceQuery = {}): Promise<Page<CronTickerOccurrence>> {
    await this.core.ready();
    const { status, from, to, order, offset } = validateListQuery(query);
    const page = await this.core.store.jobList({
      status,
      from,
      to,
      order,
      offset,
      cronTickerId: validateId("cronTickerId", cronTickerId),
      type: "CronTickerOccurrence",
      limit: checkLimit(query?.limit),
    });
    return { items: page.items.map((job) => toTimeTicker(job)), total: page.total };
  }

  /** Runs the cron ticker once now, as an extra occurrence; its schedule is unchanged. */
  async trigger(id: string): Promise<CronTickerOccurrence> {
    const { core } = this;
    await core.ready();
    const ticker = await core.store.cronTickerGet({ id: validateId("id", id) });
    if (!ticker) throw new TickerQError("NOT_FOUND", `cron ticker ${JSON.stringify(id)} does not exist`);
    const now = new Date(core.clock.now());
    const occurrence = occurrenceOf(ticker, now, now);
    let inserted = 0;
    await enqueue(core, [occurrence], async () => {
      inserted = await core.store.occurrenceInsertMany({ occurrences: [occurrence] });
      return inserted === 0 ? [occurrence.id] : [];
    });
    if (inserted === 0)
      throw new TickerQError("INVALID_STATE", `cron ticker ${id} already has an occurrence at ${now.toISOString()}`);
    core.emitChange({ ...occurrence, status: "Idle" });
    return toTimeTicker(newJobRecord(occurrence));
  }
}

function checkLimit(limit: number | undefined): number {
  const value = limit ?? 50;
  if (!Number.isInteger(value) || value < 1 || value > 1000) throw invalid("limit", limit, "an integer from 1 to 1000");
  return value;
}

export function toCronTicker(record: CronTickerRecord, now: Date): CronTicker {
  let nextOccurrence: Date | null = null;
  if (record.enabled) {
    try {
      nextOccurrence = new CronSchedule(record.expression, record.timeZone).next(now);
    } catch {
      nextOccurrence = null;
    }
  }
  return { ...record, request: parseRequest(record.request), nextOccurrence };
}
