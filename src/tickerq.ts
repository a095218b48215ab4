/**
 * createTickerQ: one node of the scheduler as its users see it. It owns the public API, the
 * start/stop state machine and argument checks; the moving parts live in the Engine (engine.ts).
 */

import { TickerQError } from "./errors.js";
import { TickerQEvents } from "./events.js";
import { functionRegistry, type AnyFunctionDefinition, type FunctionMap } from "./functions.js";
import { resolveOptions, type ResolvedOptions, type TickerQOptions } from "./options.js";
import { memoryStore } from "./store/memory.js";
import type { AttemptRecord, CancelResult, NodeInfo, Store } from "./store/contract.js";
import type { TickerStatus, TickerType } from "./lifecycle.js";
import { Engine } from "./engine.js";
import { TimeTickerManager } from "./time-tickers.js";
import { CronTickerManager } from "./cron-tickers.js";
import { toTimeTicker, type TimeTicker } from "./records.js";
import { validateId } from "./validation.js";
import type { Core } from "./core.js";
import type { DashboardServer, ServeDashboardOptions } from "./dashboard/serve.js";

export const VERSION = "0.1.0";

export type TickerQState = "created" | "starting" | "running" | "stopping" | "stopped";

/** A registered function as the dashboard and tools see it. */
export interface FunctionSummary {
  name: string;
  cron: string | null;
  timeZone: string | null;
  priority: string;
  retries: number;
  retryIntervals: number[] | null;
  description: string | null;
  hasSchema: boolean;
}

/** Internal hooks for tickerq/testing; not part of the public API. */
export const ENGINE = Symbol.for("tickerq.engine");

export function createTickerQ<const F extends readonly AnyFunctionDefinition[]>(
  options: TickerQOptions<F>,
): TickerQ<FunctionMap<F>> {
  return new TickerQ<FunctionMap<F>>(options);
}

export class TickerQ<M = Record<string, unknown>> {
  readonly events = new TickerQEvents();
  readonly timeTickers: TimeTickerManager<M>;
  readonly cronTickers: CronTickerManager<M>;
  readonly store: Store;
  readonly nodeId: string;
  readonly options: ResolvedOptions;
  readonly functions: readonly FunctionSummary[];

  private readonly registry: Map<string, AnyFunctionDefinition>;
  private readonly core: Core;
  private readonly engine: Engine;
  private initialising: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private _state: TickerQState = "created";

  constructor(options: TickerQOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TickerQError("INVALID_ARGUMENT", "createTickerQ(options) needs an options object");
    }
    if (!Array.isArray(options.functions)) {
      throw new TickerQError(
        "INVALID_ARGUMENT",
        `functions must be an array of defineFunction() results; got ${typeof options.functions}`,
      );
    }
    this.registry = functionRegistry(options.functions);
    this.store = options.store ?? memoryStore();
    this.options = resolveOptions(options, this.store);
    this.nodeId = this.options.nodeId;
    this.functions = [...this.registry.values()].map((fn) => ({
      name: fn.name,
      cron: fn.options.cron ?? null,
      timeZone: fn.options.timeZone ?? null,
      priority: fn.options.priority ?? "Normal",
      retries: fn.options.retries ?? 0,
      retryIntervals: fn.options.retryIntervals ?? null,
      description: fn.options.description ?? null,
      hasSchema: fn.options.schema !== undefined,
    }));
    this.core = {
      store: this.store,
      clock: this.options.clock,
      nodeId: this.nodeId,
      functions: this.registry,
      options: this.options,
      events: this.events,
      ready: () => this.ready(),
      emitChange: (change) => this.emitChange(change),
      cronChanged: (id) => {
        this.engine.replan();
        this.events.emit("cronChanged", { id, nodeId: this.nodeId });
      },
    };
    this.engine = new Engine({
      store: this.store,
      nodeId: this.nodeId,
      options: this.options,
      functions: this.registry,
      events: this.events,
      emitChange: (change) => this.emitChange(change),
      info: () => this.info(),
    });
    this.timeTickers = new TimeTickerManager<M>(this.core);
    this.cronTickers = new CronTickerManager<M>(this.core);
  }

  get state(): TickerQState {
    return this._state;
  }

  /** Whether this node's scheduler is paused (running jobs go on; nothing new is claimed). */
  get paused(): boolean {
    return this.engine.paused;
  }

  /**
   * Connects the store (and migrates it), seeds cron tickers declared on functions, recovers
   * this node's stale leases, then starts claiming. Overdue work runs at once (as Done).
   */
  async start(): Promise<void> {
    if (this._state !== "created") {
      throw new TickerQError(
        "ALREADY_STARTED",
        `start() was already called on node ${this.nodeId} (state ${this._state})`,
      );
    }
    this._state = "starting";
    try {
      await this.ready();
      this.unsubscribe = this.store.signalSubscribe((signal) => this.engine.onSignal(signal));
      await this.engine.seedCronTickers();
      await this.engine.startHeartbeat();
      this._state = "running";
      this.engine.startDispatching();
    } catch (error) {
      this._state = "created";
      this.unsubscribe?.();
      this.unsubscribe = null;
      throw error;
    }
  }

  /**
   * Graceful stop: claims nothing more, hands held-but-unstarted jobs back, lets running jobs
   * finish for `timeoutMs`, then aborts them; a job aborted this way goes back to Idle and
   * runs again (here after a restart, or on another node).
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this._state === "stopped" || this._state === "stopping") return;
    if (this._state === "created") {
      this._state = "stopped";
      if (this.initialising && this.options.closeStoreOnStop) await this.store.close();
      return;
    }
    this._state = "stopping";
    await this.engine.shutdown(options.timeoutMs ?? this.options.shutdownTimeoutMs);
    this.unsubscribe?.();
    this.unsubscribe = null;
    this._state = "stopped";
    if (this.options.closeStoreOnStop) await this.store.close();
  }

  /** Stops claiming on this node; running jobs go on. */
  pause(): void {
    this.engine.setPaused(true);
  }

  resume(): void {
    this.engine.resume();
  }

  /** Asks any node (by its id) to pause or resume, through the store. */
  async setNodePaused(nodeId: string, paused: boolean): Promise<boolean> {
    await this.ready();
    const found = await this.store.nodeSetPaused({ nodeId: validateId("nodeId", nodeId), paused });
    if (nodeId === this.nodeId) this.engine.followOperator(paused);
    return found;
  }

  /**
   * Cancels a job on whichever node holds it: Idle or Queued ends Cancelled at once; a
   * running job has its signal aborted and ends Cancelled.
   */
  async cancel(id: string): Promise<CancelResult> {
    await this.ready();
    validateId("id", id);
    const result = await this.store.jobCancel({ id, now: new Date(this.options.clock.now()) });
    if (result === "cancelled") {
      // Held here and not yet recorded as started: dropped, or aborted if it already began.
      this.engine.cancelHeldOrRunning(id);
      const job = await this.store.jobGet({ id });
      if (job) this.emitChange(job);
    } else if (result === "requested") {
      this.engine.abort(id);
    }
    return result;
  }

  /** Runs a Failed, Cancelled or Skipped job again, now, with a fresh set of retries. */
  async retry(id: string): Promise<TimeTicker> {
    await this.ready();
    const result = await this.store.jobRequeue({ id: validateId("id", id), now: new Date(this.options.clock.now()) });
    if (!result.ok) {
      if (result.reason === "not-found")
        throw new TickerQError("NOT_FOUND", `job ${JSON.stringify(id)} does not exist`);
      throw new TickerQError(
        "INVALID_STATE",
        `job ${id} is ${result.status}; only Failed, Cancelled or Skipped jobs can be retried`,
      );
    }
    this.emitChange(result.job);
    return toTimeTicker(result.job);
  }

  /** Makes an Idle job due now. */
  async runNow(id: string): Promise<TimeTicker> {
    await this.ready();
    const now = new Date(this.options.clock.now());
    const result = await this.store.jobUpdateIdle({ id: validateId("id", id), patch: { executionTime: now }, now });
    if (!result.ok) {
      if (result.reason === "not-found")
        throw new TickerQError("NOT_FOUND", `job ${JSON.stringify(id)} does not exist`);
      throw new TickerQError("INVALID_STATE", `job ${id} is ${result.status}; only an Idle job can be run now`);
    }
    this.emitChange(result.job);
    return toTimeTicker(result.job);
  }

  /** Any job (time ticker or occurrence) by id. */
  async job(id: string): Promise<TimeTicker | null> {
    await this.ready();
    const job = await this.store.jobGet({ id: validateId("id", id) });
    return job ? toTimeTicker(job) : null;
  }

  /** The history of a job: one entry per attempt, oldest first. */
  async attempts(id: string): Promise<AttemptRecord[]> {
    await this.ready();
    return this.store.attemptList({ jobId: validateId("id", id) });
  }

  /**
   * Serves the dashboard on its own port (127.0.0.1 unless `hostname` says otherwise); see
   * tickerq/dashboard to mount it in your own server instead. Loaded on first call, so apps
   * that never open a dashboard never load its HTTP stack.
   */
  async serveDashboard(options: ServeDashboardOptions): Promise<DashboardServer> {
    const { serveDashboard } = await import("./dashboard/serve.js");
    return serveDashboard(this, options);
  }

  /** What this node reports in its heartbeat. */
  info(): NodeInfo {
    return {
      maxConcurrency: this.options.maxConcurrency,
      active: this.engine.active,
      longRunning: this.engine.longRunning,
      paused: this.engine.paused,
      version: VERSION,
      executed: this.engine.executed,
      failed: this.engine.failed,
    };
  }

  /** For tickerq/testing: run everything due now to completion. */
  readonly [ENGINE] = {
    runDue: () => this.runDue(),
    settle: () => this.engine.settle(),
    heartbeat: () => this.engine.beat(),
  };

  private ready(): Promise<void> {
    this.initialising ??= this.store.init().catch((error) => {
      this.initialising = null;
      throw error;
    });
    return this.initialising;
  }

  private emitChange(change: {
    id: string;
    type: TickerType;
    function: string;
    status: TickerStatus;
    cronTickerId: string | null;
  }): void {
    if (!this.events.has("changed")) return;
    this.events.emit("changed", {
      id: change.id,
      type: change.type,
      function: change.function,
      status: change.status,
      cronTickerId: change.cronTickerId,
      nodeId: this.nodeId,
    });
  }

  private async runDue(): Promise<number> {
    if (this._state !== "running") {
      throw new TickerQError("NOT_STARTED", `runDue() needs a started node; ${this.nodeId} is ${this._state}`);
    }
    return this.engine.runDue();
  }
}
