/** What the managers (timeTickers, cronTickers) need from the engine they belong to. */

import type { Clock } from "./clock.js";
import type { TickerQEvents } from "./events.js";
import type { AnyFunctionDefinition } from "./functions.js";
import type { ResolvedOptions } from "./options.js";
import type { NewJob, Store } from "./store/contract.js";
import type { TickerStatus, TickerType } from "./lifecycle.js";
import { show, TickerQError } from "./errors.js";
import {
  applySchema,
  serializeRequest,
  validatePriority,
  validateRetries,
  validateRetryIntervals,
  validateText,
  validateUnicode,
} from "./validation.js";
import type { Priority } from "./lifecycle.js";

export interface Core {
  readonly store: Store;
  readonly clock: Clock;
  readonly nodeId: string;
  readonly functions: Map<string, AnyFunctionDefinition>;
  readonly options: ResolvedOptions;
  readonly events: TickerQEvents;
  /** Resolves once the store is initialised (migrated); managers work before start(). */
  ready(): Promise<void>;
  emitChange(change: {
    id: string;
    type: TickerType;
    function: string;
    status: TickerStatus;
    cronTickerId: string | null;
  }): void;
  /** This node changed a cron ticker: re-plan at once, and tell listeners. */
  cronChanged(id: string): void;
}

/**
 * Stores new jobs through the enqueue middleware, which may write their metadata; `insert` may
 * return the ids the store ignored as duplicates (see MiddlewareChain.enqueue).
 */
export async function enqueue(
  core: Core,
  jobs: NewJob[],
  insert: () => Promise<Iterable<string> | void>,
): Promise<void> {
  await core.options.middleware.enqueue(jobs, core.nodeId, insert);
  const { log } = core.options;
  if (!log.enabled("debug")) return;
  for (const job of jobs) {
    log.debug({ jobId: job.id, function: job.function, nodeId: core.nodeId, status: "Idle" }, "job enqueued");
  }
}

export function requireFunction(core: Core, field: string, name: unknown): AnyFunctionDefinition {
  const fn = typeof name === "string" ? core.functions.get(name) : undefined;
  if (!fn) {
    const names = [...core.functions.keys()];
    const known = names.slice(0, 20).map(show).join(", ") + (names.length > 20 ? ", ..." : "") || "none";
    throw new TickerQError(
      "UNKNOWN_FUNCTION",
      `${field} ${show(name)} is not a registered function (registered: ${known})`,
      { field },
    );
  }
  // The name is stored with the job: it must be text every store keeps exactly.
  validateUnicode(field, fn.name);
  return fn;
}

/** Validates a request against the function's schema (if any) and returns its JSON text. */
export async function encodeRequest(
  core: Core,
  fn: AnyFunctionDefinition,
  field: string,
  request: unknown,
): Promise<string | null> {
  const value = fn.options.schema ? await applySchema(field, fn.options.schema, request) : request;
  return serializeRequest(field, value, core.options.maxRequestBytes);
}

/**
 * The fields time and cron tickers share in an update, validated; absent fields stay absent.
 * `patch` holds the fields as read once from the caller's object (see readFields).
 */
export async function commonPatch(
  core: Core,
  functionName: string,
  patch: Partial<Record<"request" | "description" | "retries" | "retryIntervals" | "priority", unknown>>,
): Promise<{
  request?: string | null;
  description?: string | null;
  retries?: number;
  retryIntervals?: number[] | null;
  priority?: Priority;
}> {
  const change: Awaited<ReturnType<typeof commonPatch>> = {};
  if ("request" in patch) {
    change.request = await encodeRequest(
      core,
      requireFunction(core, "function", functionName),
      "request",
      patch.request,
    );
  }
  if (patch.description !== undefined) change.description = validateText("description", patch.description);
  if (patch.retries !== undefined) change.retries = validateRetries("retries", patch.retries);
  if (patch.retryIntervals !== undefined) {
    change.retryIntervals =
      patch.retryIntervals === null ? null : validateRetryIntervals("retryIntervals", patch.retryIntervals);
  }
  if (patch.priority !== undefined) change.priority = validatePriority("priority", patch.priority);
  return change;
}
