/** tq.timeTickers: one-shot jobs, with children, validated before anything is stored. */

import { newId } from "./ids.js";
import { invalid, TickerQError } from "./errors.js";
import type { Core } from "./core.js";
import { commonPatch, encodeRequest, enqueue, requireFunction } from "./core.js";
import type { AnyFunctionDefinition } from "./functions.js";
import type { JobPatch, JobQuery, NewJob, Page } from "./store/contract.js";
import type { TickerStatus } from "./lifecycle.js";
import {
  validateDate,
  validateId,
  validateListQuery,
  validatePriority,
  validateRetries,
  validateRetryIntervals,
  validateRunCondition,
  validateText,
  serializeRequest,
  read,
  readFields,
} from "./validation.js";
import {
  newTimeTickers,
  toTimeTicker,
  type TimeTicker,
  type TimeTickerInput,
  type TimeTickerPatch,
} from "./records.js";

export interface TimeTickerQuery {
  status?: TickerStatus | TickerStatus[];
  function?: string;
  /** `null`: only top-level tickers. */
  parentId?: string | null;
  /** executionTime from (inclusive) */
  from?: Date;
  /** executionTime to (exclusive) */
  to?: Date;
  search?: string;
  orderBy?: JobQuery["orderBy"];
  order?: "asc" | "desc";
  /** @default 50 (at most 1000) */
  limit?: number;
  offset?: number;
}

export interface AddOptions {
  /** The caller's transaction (PostgreSQL, MySQL): the job commits or rolls back with it. */
  tx?: unknown;
}

const MAX_DEPTH = 10;

/** The fields of a time ticker's input (and of a child's): each read once, as it was when add() was called. */
const INPUT_FIELDS = [
  "function",
  "id",
  "executionTime",
  "description",
  "request",
  "priority",
  "retries",
  "retryIntervals",
  "runCondition",
  "children",
] as const;

const PATCH_FIELDS = ["executionTime", "request", "description", "retries", "retryIntervals", "priority"] as const;

/** Jobs validated for one add or addMany, in input order (each parent before its children). */
interface Batch {
  jobs: NewJob[];
  /** Requests whose function has a schema, in input order, to encode once the rest is checked. */
  schemaRequests: SchemaRequest[];
}

interface SchemaRequest {
  fn: AnyFunctionDefinition;
  field: string;
  request: unknown;
  /** The job it belongs to; null when a later field of that job was invalid. */
  job: NewJob | null;
}

export class TimeTickerManager<M> {
  constructor(private readonly core: Core) {}

  async add(input: TimeTickerInput<M>, options: AddOptions = {}): Promise<TimeTicker> {
    const [ticker] = await this.insert([input], "", options);
    return ticker!;
  }

  /** All or nothing: one invalid ticker and none is stored. */
  async addMany(inputs: readonly TimeTickerInput<M>[], options: AddOptions = {}): Promise<TimeTicker[]> {
    if (!read("tickers", () => Array.isArray(inputs))) throw invalid("addMany(tickers)", inputs, "an array");
    return this.insert(inputs, "tickers", options);
  }

  async get(id: string): Promise<TimeTicker | null> {
    await this.core.ready();
    const job = await this.core.store.jobGet({ id: validateId("id", id) });
    return job && job.type === "TimeTicker" ? toTimeTicker(job) : null;
  }

  async list(query: TimeTickerQuery = {}): Promise<Page<TimeTicker>> {
    await this.core.ready();
    const limit = query?.limit ?? 50;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw invalid("limit", limit, "an integer from 1 to 1000");
    const filters = validateListQuery(query);
    const page = await this.core.store.jobList({ ...filters, type: "TimeTicker", limit });
    return { items: page.items.map((job) => toTimeTicker(job)), total: page.total };
  }

  /** Changes an Idle ticker; refused (INVALID_STATE) once it was claimed. */
  async update(id: string, patch: TimeTickerPatch): Promise<TimeTicker> {
    const { core } = this;
    await core.ready();
    const job = await core.store.jobGet({ id: validateId("id", id) });
    if (!job || job.type !== "TimeTicker")
      throw new TickerQError("NOT_FOUND", `time ticker ${JSON.stringify(id)} does not exist`);
    if (typeof patch !== "object" || patch === null) throw invalid("patch", patch, "an object");
    const fields = readFields("", patch, PATCH_FIELDS);
    const change: JobPatch = {};
    if (fields.executionTime !== undefined) {
      if (job.parentId && job.executionTime === null) {
        throw new TickerQError(
          "INVALID_STATE",
          `time ticker ${id} is a child waiting for its parent; its time follows the parent`,
        );
      }
      change.executionTime = validateDate("executionTime", fields.executionTime);
    }
    Object.assign(change, await commonPatch(core, job.function, fields));
    const result = await core.store.jobUpdateIdle({ id, patch: change, now: new Date(core.clock.now()) });
    if (!result.ok) {
      if (result.reason === "not-found")
        throw new TickerQError("NOT_FOUND", `time ticker ${JSON.stringify(id)} does not exist`);
      throw new TickerQError(
        "INVALID_STATE",
        `time ticker ${id} is ${result.status}; only an Idle ticker can be updated`,
      );
    }
    core.emitChange({ ...result.job, status: "Idle" });
    return toTimeTicker(result.job);
  }

  /** Deletes the ticker with its children and history. */
  async delete(id: string): Promise<boolean> {
    return (await this.deleteMany([id])) > 0;
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    if (!read("ids", () => Array.isArray(ids))) throw invalid("ids", ids, "an array of ids");
    ids.forEach((id, i) => validateId(`ids[${i}]`, id));
    await this.core.ready();
    return this.core.store.jobDeleteMany({ ids });
  }

  private async insert(inputs: readonly unknown[], prefix: string, options: AddOptions): Promise<TimeTicker[]> {
    const { core } = this;
    const now = core.clock.now();
    const batch: Batch = { jobs: [], schemaRequests: [] };
    let invalidInput: unknown = null;
    try {
      const count = read(prefix || "input", () => inputs.length);
      for (let i = 0; i < count; i++) {
        const input: unknown = read(prefix ? `${prefix}[${i}]` : "input", () => inputs[i]);
        this.build(input, prefix ? `${prefix}[${i}].` : "", null, now, batch, 0);
      }
    } catch (error) {
      invalidInput = error;
    }
    // A schema may be async, so requests with one are checked after the other fields. Building
    // stopped at the first invalid input, and every request held back comes before it: so the
    // error thrown is the first in input order, as if everything were checked in one pass.
    for (const held of batch.schemaRequests) {
      const request = await encodeRequest(core, held.fn, held.field, held.request);
      if (held.job) held.job.request = request;
    }
    if (invalidInput) throw invalidInput;
    const { jobs } = batch;
    await core.ready();
    await enqueue(core, jobs, () => core.store.jobInsertMany({ jobs, tx: options.tx }));
    const tickers = newTimeTickers(jobs.filter((job) => job.parentId === null));
    if (core.events.has("changed")) for (const job of jobs) core.emitChange({ ...job, status: "Idle" });
    return tickers;
  }

  /** Validates one input and appends it, then its children, to the batch as new jobs. */
  private build(
    input: unknown,
    field: string,
    parent: { id: string } | null,
    now: number,
    batch: Batch,
    depth: number,
  ): void {
    const { core } = this;
    if (typeof input !== "object" || input === null) throw invalid(field || "input", input, "an object");
    if (depth > MAX_DEPTH) throw invalid(`${field}children`, "...", `nested at most ${MAX_DEPTH} deep`);
    const t = readFields(field, input, INPUT_FIELDS);
    const fn = requireFunction(core, `${field}function`, t.function);
    const id = t.id === undefined ? newId() : validateId(`${field}id`, t.id);
    if (parent && t.executionTime !== undefined) {
      throw invalid(`${field}executionTime`, t.executionTime, "absent: a child runs when its parent ends");
    }
    const description = validateText(`${field}description`, t.description);
    // Held back (see insert), but listed here, in field order, even if a later field fails.
    const held: SchemaRequest | null = fn.options.schema
      ? { fn, field: `${field}request`, request: t.request, job: null }
      : null;
    if (held) batch.schemaRequests.push(held);
    const job: NewJob = {
      id,
      type: "TimeTicker",
      function: fn.name,
      description,
      request: held ? null : serializeRequest(`${field}request`, t.request, core.options.maxRequestBytes),
      executionTime: parent
        ? null
        : t.executionTime === undefined
          ? new Date(now)
          : validateDate(`${field}executionTime`, t.executionTime),
      priority: validatePriority(`${field}priority`, t.priority ?? fn.options.priority ?? "Normal"),
      retries: validateRetries(`${field}retries`, t.retries ?? fn.options.retries ?? 0),
      retryIntervals:
        t.retryIntervals !== undefined
          ? validateRetryIntervals(`${field}retryIntervals`, t.retryIntervals)
          : (fn.options.retryIntervals ?? null),
      parentId: parent?.id ?? null,
      runCondition: parent ? validateRunCondition(`${field}runCondition`, t.runCondition) : null,
      cronTickerId: null,
      metadata: null,
      createdAt: new Date(now),
    };
    if (held) held.job = job;
    if (!parent && t.runCondition !== undefined)
      throw invalid(`${field}runCondition`, t.runCondition, "set on children only");
    batch.jobs.push(job);
    const children = t.children ?? [];
    if (!read(`${field}children`, () => Array.isArray(children))) {
      throw invalid(`${field}children`, children, "an array");
    }
    const list = children as readonly unknown[];
    const count = read(`${field}children`, () => list.length);
    for (let i = 0; i < count; i++) {
      const child: unknown = read(`${field}children[${i}]`, () => list[i]);
      this.build(child, `${field}children[${i}].`, job, now, batch, depth + 1);
    }
  }
}
