/** The options of createTickerQ, each with its default, and their validation. */

import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { invalid } from "./errors.js";
import { validateUnicode } from "./validation.js";
import { systemClock, type Clock } from "./clock.js";
import type { AnyFunctionDefinition } from "./functions.js";
import type { JobInfo } from "./executor.js";
import type { Store } from "./store/contract.js";
import type { Coordinator } from "./coordinator.js";
import { MiddlewareChain, type Middleware } from "./middleware.js";
import { Log, type Logger } from "./log.js";

export interface TickerQOptions<F extends readonly AnyFunctionDefinition[] = readonly AnyFunctionDefinition[]> {
  /** The functions this node can run (and whose names `add()` accepts). */
  functions: F;
  /** Where tickers live. @default memoryStore() */
  store?: Store;
  /** Jobs run at once on this node, LongRunning ones aside. @default 10 */
  maxConcurrency?: number;
  /**
   * Due jobs claimed beyond the free slots. By default (undefined) claiming is adaptive: while
   * a backlog exists a claim also takes what this node will start within 25 ms (or two claim
   * round trips, if slower, up to 250 ms) at its recent start rate (at most 500), started by
   * the claim itself, so many short jobs share each claim and no job waits here longer than
   * that (should the node die meanwhile, those count an attempt, as running jobs do); slow
   * jobs or a trickle get no more than the free slots. A number fixes it instead: each claim
   * takes up to that many due jobs beyond the free slots, whatever the backlog, started by the
   * claim likewise (InProgress while they wait here for a slot; a cancel ends one Cancelled
   * without running it, stop() hands them back Idle); 0 claims only for free slots.
   * @default adaptive
   */
  prefetch?: number;
  /** LongRunning jobs run at once on this node, outside maxConcurrency. @default 100 */
  maxLongRunning?: number;
  /** This node's name; unique per running process. @default `${hostname}-${pid}-${random}` */
  nodeId?: string;
  /** Called after each failed attempt; can never break execution. */
  onException?: (error: unknown, info: JobInfo) => unknown;
  /** Called when a run ends Cancelled; can never break execution. */
  onCancelled?: (info: JobInfo) => unknown;
  /** How long stop() lets running jobs finish before aborting them. @default 30000 */
  shutdownTimeoutMs?: number;
  /**
   * Claim jobs this many ms before they are due (with those due in the half after them, so
   * close jobs share a claim) and start them from an exact in-memory timer. @default 50 (0 with a test clock)
   */
  lookaheadMs?: number;
  /**
   * While the store's claims or start writes are slow (a checkpoint, a lock, a busy disk), claim
   * and start jobs further ahead than `lookaheadMs`: three times the slowest recent claim or start
   * write (halving every 5 s), up to 1 s, so jobs claimed ahead still start on their instant.
   * While the store answers quickly, `lookaheadMs` holds. @default true (false with a test clock)
   */
  adaptiveLookahead?: boolean;
  /** Safety poll for work announced by other processes. @default 1000 without cross-process signals, else 5000 */
  pollIntervalMs?: number;
  /** Heartbeat period of this node. @default 5000 */
  heartbeatIntervalMs?: number;
  /** A node silent this long is dead: its leased jobs go back to Idle and run elsewhere. @default 20000 */
  leaseTimeoutMs?: number;
  /** A run that starts within this many ms of its scheduled time counts as on time (DueDone). @default 1000 */
  dueToleranceMs?: number;
  /** Largest request accepted, as JSON bytes. @default 1048576 */
  maxRequestBytes?: number;
  /** Delete finished jobs (and their history) older than this many days. @default null (keep) */
  retentionDays?: number | null;
  /** Cron occurrences are planned this far ahead, so any node can run them. @default 2000 */
  cronHorizonMs?: number;
  /** Close the store on stop(). A store built on your own pool never closes your pool. @default true */
  closeStoreOnStop?: boolean;
  /** Time source; tickerq/testing's TestClock drives the engine without waiting. @default the system clock */
  clock?: Clock;
  /**
   * Where the engine logs, in pino's shape `(fields, message)`: lifecycle steps at debug, recoveries
   * and outages at warn, failures at error (`console` works too, without debug). null for silence.
   * @default console
   */
  logger?: Logger | null;
  /**
   * Around every enqueue and every handler run (tracing, metrics, scopes, policies); the first
   * is the outermost. See `Middleware`; `otelMiddleware()` from tickerq/otel is one. @default []
   */
  middleware?: readonly Middleware[];
  /**
   * An accelerator beside a shared SQL store: `redisCoordinator()` from tickerq/redis gives
   * cross-process wake-ups, a due index, heartbeat entries and planning locks. SQL stays the
   * truth; when the coordinator is down every guarantee holds through SQL alone. Stopped with
   * the node. @default null (none)
   */
  coordinator?: Coordinator | null;
}

export type { Logger } from "./log.js";

export type ResolvedOptions = Required<
  Omit<
    TickerQOptions,
    "functions" | "store" | "onException" | "onCancelled" | "logger" | "middleware" | "coordinator" | "prefetch"
  >
> &
  Pick<TickerQOptions, "onException" | "onCancelled"> & {
    /** null: adaptive claiming. */
    prefetch: number | null;
    store: Store;
    logger: Logger | null;
    /** `logger` adapted: levels checked, console's shape handled. */
    log: Log;
    middleware: MiddlewareChain;
    coordinator: Coordinator | null;
  };

export function resolveOptions(options: TickerQOptions, store: Store): ResolvedOptions {
  const clock = options.clock ?? systemClock;
  const positive = (field: keyof TickerQOptions, fallback: number, min = 1): number => {
    const value = options[field] ?? fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
      throw invalid(field, value, `a number of at least ${min}`);
    }
    return value;
  };
  const flag = (field: keyof TickerQOptions, fallback: boolean): boolean => {
    const value = options[field] ?? fallback;
    if (typeof value !== "boolean") throw invalid(field, value, "true or false");
    return value;
  };
  const retention = options.retentionDays ?? null;
  if (retention !== null && (typeof retention !== "number" || !(retention > 0))) {
    throw invalid("retentionDays", retention, "a positive number of days, or null");
  }
  const nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString("hex")}`;
  if (typeof nodeId !== "string" || nodeId.length === 0 || nodeId.length > 100) {
    throw invalid("nodeId", nodeId, "a non-empty string of at most 100 characters");
  }
  validateUnicode("nodeId", nodeId);
  const middleware = options.middleware ?? [];
  if (!Array.isArray(middleware)) throw invalid("middleware", middleware, "an array of middleware objects");
  middleware.forEach((m: unknown, i) => {
    if (typeof m !== "object" || m === null) throw invalid(`middleware[${i}]`, m, "an object");
    for (const hook of ["enqueue", "run", "store", "attach"] as const) {
      const value = (m as Record<string, unknown>)[hook];
      if (value !== undefined && typeof value !== "function") {
        throw invalid(`middleware[${i}].${hook}`, value, "a function or absent");
      }
    }
  });
  const maxConcurrency = positive("maxConcurrency", 10);
  if (!Number.isInteger(maxConcurrency)) throw invalid("maxConcurrency", maxConcurrency, "an integer of at least 1");
  return {
    store,
    clock,
    nodeId,
    maxConcurrency,
    prefetch: options.prefetch === undefined ? null : positive("prefetch", 0, 0),
    maxLongRunning: positive("maxLongRunning", 100),
    onException: options.onException,
    onCancelled: options.onCancelled,
    shutdownTimeoutMs: positive("shutdownTimeoutMs", 30_000, 0),
    lookaheadMs: positive("lookaheadMs", clock === systemClock ? 50 : 0, 0),
    adaptiveLookahead: flag("adaptiveLookahead", clock === systemClock),
    pollIntervalMs: positive("pollIntervalMs", store.capabilities.signalsAcrossProcesses ? 5000 : 1000, 10),
    heartbeatIntervalMs: positive("heartbeatIntervalMs", 5000, 10),
    leaseTimeoutMs: positive("leaseTimeoutMs", 20_000, 10),
    dueToleranceMs: positive("dueToleranceMs", 1000, 0),
    maxRequestBytes: positive("maxRequestBytes", 1_048_576),
    retentionDays: retention,
    cronHorizonMs: positive("cronHorizonMs", 2000, 0),
    closeStoreOnStop: options.closeStoreOnStop ?? true,
    logger: options.logger === undefined ? console : options.logger,
    log: new Log(options.logger === undefined ? console : options.logger),
    middleware: new MiddlewareChain(middleware),
    coordinator: resolveCoordinator(options.coordinator, store),
  };
}

function resolveCoordinator(coordinator: unknown, store: Store): Coordinator | null {
  if (coordinator === undefined || coordinator === null) return null;
  const c = coordinator as Partial<Coordinator>;
  if (typeof c !== "object" || typeof c.start !== "function" || typeof c.nextDue !== "function") {
    throw invalid("coordinator", coordinator, "a coordinator such as redisCoordinator() from tickerq/redis, or null");
  }
  if (!store.capabilities.shared) {
    throw invalid("coordinator", coordinator, `absent with the ${store.name} store, which one process owns`);
  }
  return coordinator as Coordinator;
}
