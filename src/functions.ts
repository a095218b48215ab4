/**
 * Functions: named handlers registered in code, and the type map from function name to
 * request type that makes `add({ function, request })` checked at compile time.
 */

import type { Priority, TickerType } from "./lifecycle.js";
import { invalid, TickerQError } from "./errors.js";
import {
  validatePriority,
  validateRetries,
  validateRetryIntervals,
  validateText,
  validateFunctionName,
} from "./validation.js";
import { CronSchedule } from "./cron.js";

/**
 * A Standard Schema (zod 4, valibot, arktype, …), described structurally so tickerq needs
 * no dependency for it.
 */
export interface RequestSchema<Output = unknown> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (
      value: unknown,
    ) =>
      | { readonly value: Output; readonly issues?: undefined }
      | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> }
      | Promise<
          | { readonly value: Output; readonly issues?: undefined }
          | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<unknown> }> }
        >;
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined;
  };
}

/** What a handler receives about the run it is doing. */
export interface TickerContext<TRequest = unknown> {
  /** The job's id: the time ticker's, or the cron occurrence's. */
  readonly id: string;
  readonly type: TickerType;
  readonly functionName: string;
  /** The intended fire time. For a cron job at 09:00 it is 09:00 even if the run starts later. */
  readonly scheduledFor: Date;
  /** 0 on the first attempt. */
  readonly retryCount: number;
  /** Retries allowed after the first attempt: an attempt failing with `retryCount === retries` ends Failed. */
  readonly retries: number;
  /** When this attempt started (the node's clock). */
  readonly startedAt: Date;
  /** The job's metadata, written at enqueue by middleware (empty when none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when this run started on time (first attempt, within the due tolerance). */
  readonly isDue: boolean;
  readonly request: TRequest;
  /** Aborted on shutdown (after the grace period) and on cancellation. */
  readonly signal: AbortSignal;
  /** The cron ticker of an occurrence; null for a time ticker. */
  readonly cronTickerId: string | null;
  readonly parentId: string | null;
  readonly nodeId: string;
  /** Ends this run as Cancelled: the signal aborts and the handler's result is ignored. */
  requestCancellation(): void;
  /**
   * Ends this run as Skipped when another run of the same cron ticker (or, for a time
   * ticker, of the same function) is in progress on any node. Rejects to stop the handler.
   */
  skipIfAlreadyRunning(): Promise<void>;
}

export type Handler<TRequest> = (ctx: TickerContext<TRequest>, signal: AbortSignal) => unknown;

export interface FunctionOptions<TRequest = unknown> {
  /** A cron expression: the function is seeded as a cron ticker at start, once across nodes. */
  cron?: string;
  /** IANA time zone of `cron`. @default UTC */
  timeZone?: string;
  /** Retries after a failed attempt, for jobs that do not say. @default 0 */
  retries?: number;
  /** Seconds before each retry (the last repeats), for jobs that do not say. @default 30 s doubling, capped at 1 h */
  retryIntervals?: number[];
  /** @default "Normal" */
  priority?: Priority;
  /** Validates requests at add() time, and types them. */
  schema?: RequestSchema<TRequest>;
  /** Skip a run while another run of this function (or cron ticker) is in progress. @default false */
  skipIfAlreadyRunning?: boolean;
  /** Shown in the dashboard. */
  description?: string;
}

export interface FunctionDefinition<TName extends string = string, TRequest = unknown> {
  readonly name: TName;
  readonly options: Readonly<FunctionOptions<TRequest>>;
  readonly handler: Handler<TRequest>;
  /** Type-only marker carrying the request type. */
  readonly __request?: TRequest;
}

export type AnyFunctionDefinition = FunctionDefinition<string, any>;

/**
 * `{ [name]: requestType }` for a list of definitions. A definition whose name is not a
 * literal type (`defineFunction<Req>(name, …)` with an explicit type argument) cannot be
 * checked by name: its presence makes any name and request acceptable.
 */
export type FunctionMap<F extends readonly AnyFunctionDefinition[]> = {
  [D in F[number] as string extends D["name"] ? never : D["name"]]: D extends FunctionDefinition<string, infer R>
    ? R
    : never;
} & (string extends F[number]["name"] ? Record<string, unknown> : unknown);

/**
 * Declares a function. The name and request type are inferred from the handler's `ctx`
 * annotation or from `schema`; with `defineFunction<Req, "Name">(…)` you may also state both.
 */
export function defineFunction<TRequest = undefined, const TName extends string = string>(
  name: TName,
  handler: Handler<TRequest>,
): FunctionDefinition<TName, TRequest>;
export function defineFunction<TRequest = undefined, const TName extends string = string>(
  name: TName,
  options: FunctionOptions<TRequest>,
  handler: Handler<TRequest>,
): FunctionDefinition<TName, TRequest>;
export function defineFunction(
  name: string,
  optionsOrHandler: FunctionOptions | Handler<unknown>,
  maybeHandler?: Handler<unknown>,
): AnyFunctionDefinition {
  const options = typeof optionsOrHandler === "function" ? {} : (optionsOrHandler ?? {});
  const handler = typeof optionsOrHandler === "function" ? optionsOrHandler : maybeHandler;
  validateFunctionName("name", name);
  if (typeof handler !== "function") throw invalid(`handler of ${name}`, handler, "a function");
  if (options.cron !== undefined) new CronSchedule(options.cron, options.timeZone ?? null);
  if (options.retries !== undefined) validateRetries(`${name}.retries`, options.retries);
  if (options.retryIntervals !== undefined) validateRetryIntervals(`${name}.retryIntervals`, options.retryIntervals);
  if (options.priority !== undefined) validatePriority(`${name}.priority`, options.priority);
  validateText(`${name}.description`, options.description);
  return Object.freeze({ name, options: Object.freeze({ ...options }), handler });
}

/** The registered functions by name; refuses duplicates. */
export function functionRegistry(functions: readonly AnyFunctionDefinition[]): Map<string, AnyFunctionDefinition> {
  const registry = new Map<string, AnyFunctionDefinition>();
  for (const fn of functions) {
    if (!fn || typeof fn.name !== "string" || typeof fn.handler !== "function") {
      throw invalid("functions[]", fn, "a definition made by defineFunction()");
    }
    if (registry.has(fn.name)) {
      throw new TickerQError("INVALID_ARGUMENT", `functions: ${JSON.stringify(fn.name)} is defined twice`, {
        field: "functions",
      });
    }
    registry.set(fn.name, fn);
  }
  return registry;
}
