/**
 * Middleware: the one seam around every enqueue and every handler run (tracing, metrics,
 * per-job scopes, policies), and the job metadata it writes. The first middleware in the
 * list is the outermost. Nothing else wraps handlers.
 */

import { show, TickerQError } from "./errors.js";
import type { TickerContext } from "./functions.js";
import type { Priority, TickerType } from "./lifecycle.js";
import type { NewJob } from "./store/contract.js";

/** A small string map stored with a job (trace context and the like); see MAX_METADATA_BYTES. */
export type JobMetadata = Record<string, string>;

/** Metadata is at most this many bytes as JSON, with at most 32 keys of at most 64 characters. */
export const MAX_METADATA_BYTES = 4096;
export const MAX_METADATA_KEYS = 32;
const MAX_KEY_LENGTH = 64;

/** A job about to be stored, as `enqueue` middleware sees it. Only `metadata` is written to. */
export interface EnqueueJob {
  readonly id: string;
  readonly type: TickerType;
  readonly functionName: string;
  /** When it is due; null for a child that waits for its parent. */
  readonly executionTime: Date | null;
  readonly priority: Priority;
  readonly parentId: string | null;
  readonly cronTickerId: string | null;
  /** The node enqueuing it. */
  readonly nodeId: string;
  /**
   * Stored with the job: set keys here (string values). A child also gets its parent's keys
   * that it does not set itself; retries keep the job's.
   */
  readonly metadata: JobMetadata;
  /**
   * Set by the time `next()` resolves: true for a cron occurrence the store already held
   * (another node planned the same instant first), so this copy was not stored and nothing
   * will run it; false otherwise.
   */
  readonly duplicate: boolean;
}

/** What a middleware sees of the node it runs on, once at start (see `Middleware.attach`). */
export interface MiddlewareNode {
  readonly nodeId: string;
  /**
   * The same for every node of this process on one Store object (not across processes): what
   * the store reports, such as `dueCounts()`, need be asked of one of them only.
   */
  readonly storeId: string;
  /** The instant by the node's clock (a TestClock in tests), in epoch ms. */
  now(): number;
  /** Idle jobs due by `now`, by function: one query to the store. */
  dueCounts(): Promise<Record<string, number>>;
}

/** A call to the store on the hot path, for `store` middleware (slow-database spans). */
export interface StoreCall {
  /** `claim` (due jobs), `start` (InProgress writes) or `complete` (outcomes). */
  readonly operation: "claim" | "start" | "complete";
  /** The store's name: memory, sqlite, postgres, mysql. */
  readonly store: string;
  /** How many jobs the call carries (for a claim: the most it may lease). */
  readonly count: number;
  readonly nodeId: string;
}

/**
 * Each hook is optional and must call `next()` once (a hook that returns without calling it,
 * or calls it twice, fails with code MIDDLEWARE). A hook that throws fails that enqueue (the
 * add() rejects) or that attempt (as a handler error: retried, then Failed), never the engine.
 */
export interface Middleware {
  /** Shown in errors about this middleware. */
  readonly name?: string;
  /**
   * Around every add()/addMany() job (children included) and every cron occurrence this node
   * creates. `next()` resolves once the job is stored (a batch is stored at once, when every
   * job of it has reached its `next()`), and rejects if the insert failed.
   */
  enqueue?(job: EnqueueJob, next: () => Promise<void>): Promise<void>;
  /**
   * Around every handler run, with the handler's context: read it (metadata included), enrich
   * it (the handler gets the same object), observe the outcome (`next()` rejects with the
   * handler's error). What this returns or throws is the attempt's outcome.
   */
  run?(ctx: TickerContext<unknown>, next: () => Promise<void>): Promise<void>;
  /** Around the engine's claim, start and completion calls to the store. */
  store?(call: StoreCall, next: () => Promise<void>): Promise<void>;
  /** Called at start() with the node; the function it returns, if any, at stop(). */
  attach?(node: MiddlewareNode): (() => void) | void;
}

type Hook<T> = (arg: T, next: () => Promise<void>) => Promise<void>;

function nameOf(middleware: Middleware, index: number): string {
  return middleware.name ? JSON.stringify(middleware.name) : `#${index}`;
}

/**
 * Runs `inner` through the hooks, the first outermost; each hook must call next() once. Per
 * hook: one guard closure and one promise (no async frame), since this runs for every job.
 *
 * With `settle`, a hook that returns while its next() is still pending (called, not awaited)
 * has its chain wait for that next() and then fail with MIDDLEWARE: a handler or store call
 * never outlives the step that ran it, and its rejection is never left unhandled. Enqueue
 * chains go without: their next() waits for the whole batch, which MiddlewareChain.enqueue
 * abandons instead when a hook ends early.
 */
function through<T>(
  hooks: readonly [Hook<T>, string][],
  arg: T,
  inner: () => Promise<void>,
  settle: boolean,
): Promise<void> {
  const step = (i: number): Promise<void> => {
    if (i === hooks.length) return inner();
    const [hook, name] = hooks[i]!;
    let called = false;
    let pending: Promise<void> | null = null;
    const next = (): Promise<void> => {
      if (called) return Promise.reject(new TickerQError("MIDDLEWARE", `middleware ${name} called next() twice`));
      called = true;
      const downstream = step(i + 1);
      if (settle) {
        // Registered before the hook's own await on it, so a hook that awaits finds it cleared.
        const cleared = () => void (pending = null);
        pending = downstream.then(cleared, cleared);
      }
      return downstream;
    };
    let result: Promise<void>;
    try {
      result = hook(arg, next);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve(result).then(
      () => {
        if (!called) throw new TickerQError("MIDDLEWARE", `middleware ${name} returned without calling next()`);
        if (pending === null) return;
        return pending.then(() => {
          throw new TickerQError("MIDDLEWARE", `middleware ${name} returned before its next() had settled`);
        });
      },
      // A hook that threw with its next() still pending: its error, once that next() is over.
      (error: unknown) => (pending === null ? Promise.reject(error) : pending.then(() => Promise.reject(error))),
    );
  };
  return step(0);
}

function hooksOf<K extends "enqueue" | "run" | "store">(
  list: readonly Middleware[],
  kind: K,
): [Hook<Parameters<NonNullable<Middleware[K]>>[0]>, string][] {
  const hooks: [Hook<Parameters<NonNullable<Middleware[K]>>[0]>, string][] = [];
  list.forEach((m, i) => {
    const hook = m[kind] as Hook<Parameters<NonNullable<Middleware[K]>>[0]> | undefined;
    if (hook) hooks.push([hook.bind(m), nameOf(m, i)]);
  });
  return hooks;
}

/** The middleware of one node, split by hook, so that a node without any pays nothing. */
export class MiddlewareChain {
  private readonly enqueueHooks: [Hook<EnqueueJob>, string][];
  private readonly runHooks: [Hook<TickerContext<unknown>>, string][];
  private readonly storeHooks: [Hook<StoreCall>, string][];

  constructor(readonly list: readonly Middleware[]) {
    this.enqueueHooks = hooksOf(list, "enqueue");
    this.runHooks = hooksOf(list, "run");
    this.storeHooks = hooksOf(list, "store");
  }

  get wrapsStore(): boolean {
    return this.storeHooks.length > 0;
  }

  get wrapsRun(): boolean {
    return this.runHooks.length > 0;
  }

  get wrapsEnqueue(): boolean {
    return this.enqueueHooks.length > 0;
  }

  /** Runs a handler (`inner`) through the `run` hooks. */
  run(ctx: TickerContext<unknown>, inner: () => Promise<void>): Promise<void> {
    return this.runHooks.length === 0 ? inner() : through(this.runHooks, ctx, inner, true);
  }

  /** Runs a store call through the `store` hooks; returns its result. */
  store<R>(call: StoreCall, inner: () => Promise<R>): Promise<R> {
    if (this.storeHooks.length === 0) return inner();
    let result: R;
    return through(
      this.storeHooks,
      call,
      async () => {
        result = await inner();
      },
      true,
    ).then(() => result);
  }

  /**
   * Stores a batch of new jobs (`insert`) once every job of it has gone through the `enqueue`
   * hooks, with the metadata they wrote. A hook that throws, or returns without calling
   * next(), fails the whole batch: nothing is stored. `insert` may return the ids of jobs the
   * store ignored as duplicates (cron occurrences), which the hooks see as `duplicate`.
   */
  async enqueue(jobs: NewJob[], nodeId: string, insert: () => Promise<Iterable<string> | void>): Promise<void> {
    if (this.enqueueHooks.length === 0 || jobs.length === 0) {
      await insert();
      return;
    }
    const views = jobs.map((job) => enqueueView(job, nodeId));
    let arrived = 0;
    let begun = false;
    let failure: unknown = null;
    let begin!: () => void;
    let abandon!: (error: unknown) => void;
    const stored = new Promise<void>((resolve, reject) => {
      begin = () => {
        // The batch was abandoned (a hook ended before its job was stored): nothing is written.
        if (begun) return;
        begun = true;
        try {
          applyMetadata(jobs, views);
        } catch (error) {
          reject(error);
          return;
        }
        insert().then((duplicates) => {
          if (duplicates) {
            const ids = new Set(duplicates);
            for (const view of views) if (ids.has(view.id)) (view as { duplicate: boolean }).duplicate = true;
          }
          resolve();
        }, reject);
      };
      abandon = (error) => {
        if (begun) return;
        begun = true;
        failure = error;
        reject(error);
      };
    });
    stored.catch(() => {}); // every chain awaiting it sees the rejection
    const chains = views.map((view) =>
      through(
        this.enqueueHooks,
        view,
        () => {
          if (++arrived === views.length) begin();
          return stored;
        },
        false,
      ).then(
        // Made only when it matters: an error's stack costs microseconds, and this runs per job.
        () =>
          begun || abandon(new TickerQError("MIDDLEWARE", `the enqueue of job ${view.id} ended before it was stored`)),
        (error: unknown) => {
          abandon(error);
          throw error;
        },
      ),
    );
    const results = await Promise.allSettled(chains);
    // The first failure in job order (the batch's other chains see the same error).
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (rejected) throw rejected.reason;
    if (failure !== null) throw failure;
    await stored; // a hook may have swallowed the insert's error: the caller still gets it
  }
}

function enqueueView(job: NewJob, nodeId: string): EnqueueJob {
  return {
    id: job.id,
    type: job.type,
    functionName: job.function,
    executionTime: job.executionTime,
    priority: job.priority,
    parentId: job.parentId,
    cronTickerId: job.cronTickerId,
    nodeId,
    metadata: job.metadata ? { ...job.metadata } : {},
    duplicate: false,
  };
}

/** Writes the hooks' metadata to the jobs, a child inheriting its parent's keys (parents come first). */
function applyMetadata(jobs: NewJob[], views: EnqueueJob[]): void {
  const byId = new Map<string, JobMetadata>();
  jobs.forEach((job, i) => {
    const own = views[i]!.metadata;
    const inherited = job.parentId === null ? undefined : byId.get(job.parentId);
    const merged = checkMetadata(`metadata of job ${job.id}`, inherited ? { ...inherited, ...own } : own);
    byId.set(job.id, merged ?? {});
    job.metadata = merged;
  });
}

/**
 * Validates metadata written by middleware (`where` names the job); returns it as a plain copy,
 * or null when empty. Errors carry field `metadata` (`metadata.<key>` for a value) and show
 * what was refused.
 */
export function checkMetadata(where: string, metadata: unknown): JobMetadata | null {
  const refuse = (message: string, field = "metadata") => new TickerQError("INVALID_ARGUMENT", message, { field });
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw refuse(`${where} must be an object of string values; got ${show(metadata)}`);
  }
  const keys = Object.keys(metadata);
  if (keys.length === 0) return null;
  if (keys.length > MAX_METADATA_KEYS) {
    throw refuse(`${where} has ${keys.length} keys, over the limit of ${MAX_METADATA_KEYS}: ${show(keys)}`);
  }
  const copy: JobMetadata = {};
  for (const key of keys) {
    const value = (metadata as Record<string, unknown>)[key];
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw refuse(`${where} has a key of ${key.length} characters (${show(key)}); keys are 1 to ${MAX_KEY_LENGTH}`);
    }
    if (typeof value !== "string") {
      throw refuse(`${where}: ${show(key)} must be a string; got ${show(value)}`, `metadata.${key}`);
    }
    copy[key] = value;
  }
  const bytes = Buffer.byteLength(JSON.stringify(copy));
  if (bytes > MAX_METADATA_BYTES) {
    throw refuse(`${where} is ${bytes} bytes as JSON, over the limit of ${MAX_METADATA_BYTES}`);
  }
  return copy;
}
