/**
 * createTickerQ: one node of the scheduler. It wires the store, the dispatcher, the worker
 * pool, the executor, cron planning and the heartbeat, and owns start, pause and stop.
 */

import { TickerQError } from "./errors.js";
import { TickerQEvents } from "./events.js";
import { functionRegistry, type AnyFunctionDefinition, type FunctionMap } from "./functions.js";
import { resolveOptions, type ResolvedOptions, type TickerQOptions } from "./options.js";
import { memoryStore } from "./store/memory.js";
import type { AttemptRecord, CancelResult, JobCompletion, NodeInfo, Store, StoreSignal } from "./store/contract.js";
import type { TickerStatus, TickerType } from "./lifecycle.js";
import { WorkerPool } from "./worker-pool.js";
import { Executor } from "./executor.js";
import { Dispatcher } from "./dispatcher.js";
import { CronScheduler } from "./cron-scheduler.js";
import { NodeHeartbeat } from "./node-heartbeat.js";
import { WriteBatcher } from "./write-batcher.js";
import { TimeTickerManager } from "./time-tickers.js";
import { CronTickerManager } from "./cron-tickers.js";
import { toTimeTicker, type TimeTicker } from "./records.js";
import { validateId } from "./validation.js";
import type { Core } from "./core.js";
import { randomUUID } from "node:crypto";
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
  private readonly pool: WorkerPool;
  private readonly executor: Executor;
  private readonly dispatcher: Dispatcher;
  private readonly cron: CronScheduler;
  private readonly heartbeat: NodeHeartbeat;
  private readonly starts: WriteBatcher<string, { started: string[]; at: Date }>;
  private readonly completions: WriteBatcher<JobCompletion, void>;
  private readonly stats = { executed: 0, failed: 0 };
  private initialising: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private _state: TickerQState = "created";
  private _paused = false;
  private pausedByOperator = false;

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
    const o = this.options;
    const reportError = (error: unknown, during: string) => {
      const message = error instanceof Error ? error.message : String(error);
      this.options.logger?.error(`[tickerq ${this.nodeId}] ${during}: ${message}`, error);
      this.events.emit("error", { error, during, nodeId: this.nodeId });
    };
    this.core = {
      store: this.store,
      clock: o.clock,
      nodeId: this.nodeId,
      functions: this.registry,
      options: o,
      events: this.events,
      ready: () => this.ready(),
      emitChange: (change) => this.emitChange(change),
      cronChanged: (id) => {
        this.cron.invalidate();
        this.dispatcher.wake(null);
        this.events.emit("cronChanged", { id, nodeId: this.nodeId });
      },
    };
    this.starts = new WriteBatcher(
      async (ids) => {
        const at = new Date(o.clock.now());
        return { started: await this.store.jobStartMany({ ids, nodeId: this.nodeId, at }), at };
      },
      (error) => reportError(error, "start"),
    );
    this.completions = new WriteBatcher(
      (completions) => this.store.jobCompleteMany({ completions }),
      (error) => reportError(error, "completion"),
    );
    this.executor = new Executor({
      nodeId: this.nodeId,
      clock: o.clock,
      store: this.store,
      events: this.events,
      functions: this.registry,
      starts: this.starts,
      completions: this.completions,
      dueToleranceMs: o.dueToleranceMs,
      onException: o.onException,
      onCancelled: o.onCancelled,
      reportError,
      stats: this.stats,
    });
    this.pool = new WorkerPool(Math.min(20, o.lookaheadMs), o.maxConcurrency, o.prefetch, o.maxLongRunning, o.clock, {
      run: (job) => this.executor.run(job),
      onCapacity: () => this.dispatcher.capacityFreed(),
    });
    this.cron = new CronScheduler(this.store, o.cronHorizonMs, o.pollIntervalMs * 5, o.pollIntervalMs * 6);
    this.dispatcher = new Dispatcher({
      nodeId: this.nodeId,
      clock: o.clock,
      store: this.store,
      pool: this.pool,
      cron: this.cron,
      lookaheadMs: o.lookaheadMs,
      pollIntervalMs: o.pollIntervalMs,
      isPaused: () => this._paused,
      onClaimed: (jobs) => {
        for (const job of jobs) this.emitChange({ ...job, status: "Queued" });
      },
      reportError,
    });
    this.heartbeat = new NodeHeartbeat({
      nodeId: this.nodeId,
      clock: o.clock,
      store: this.store,
      intervalMs: o.heartbeatIntervalMs,
      leaseTimeoutMs: o.leaseTimeoutMs,
      retentionDays: o.retentionDays,
      info: () => this.info(),
      onPauseRequested: (paused) => this.followOperator(paused),
      onRecovered: () => this.dispatcher.wake(null),
      onCancelRequested: (ids) => ids.forEach((id) => this.executor.cancel(id)),
      reportError,
    });
    this.timeTickers = new TimeTickerManager<M>(this.core);
    this.cronTickers = new CronTickerManager<M>(this.core);
  }

  get state(): TickerQState {
    return this._state;
  }

  /** Whether this node's scheduler is paused (running jobs go on; nothing new is claimed). */
  get paused(): boolean {
    return this._paused;
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
      this.unsubscribe = this.store.signalSubscribe((signal) => this.onSignal(signal));
      await this.seedCronTickers();
      await this.heartbeat.start();
      this._state = "running";
      this.dispatcher.start();
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
    const { clock } = this.options;
    const timeoutMs = options.timeoutMs ?? this.options.shutdownTimeoutMs;
    // The grace period starts now, before any await.
    let timer: unknown = null;
    const timedOut = new Promise<"timeout">((resolve) => {
      if (timeoutMs <= 0) resolve("timeout");
      else timer = clock.setTimeout(() => resolve("timeout"), timeoutMs);
    });
    this.dispatcher.stop();
    await this.dispatcher.settled();
    const held = this.pool.takeHeld();
    const now = () => new Date(clock.now());
    if (held.length > 0) {
      await this.store
        .jobRelease({ ids: held.map((job) => job.id), nodeId: this.nodeId, now: now() })
        .catch((error) => this.events.emit("error", { error, during: "stop", nodeId: this.nodeId }));
    }
    const outcome = await Promise.race([this.pool.whenRunningDone().then(() => "done" as const), timedOut]);
    if (timer !== null) clock.clearTimeout(timer);
    if (outcome === "timeout") {
      const stuck = this.executor.runningIds;
      this.executor.abortAll();
      // Give handlers that honour the signal a moment to end, without waiting on the stuck.
      await Promise.race([this.pool.whenRunningDone(), new Promise((resolve) => setTimeout(resolve, 100))]);
      const still = stuck.filter((id) => this.executor.runningIds.includes(id));
      if (still.length > 0) {
        await this.store.jobRelease({ ids: still, nodeId: this.nodeId, now: now() }).catch(() => {});
      }
    }
    await this.starts.flush();
    await this.executor.whenRecorded();
    await this.completions.flush();
    await this.heartbeat.stop();
    await this.store.nodeRemove({ nodeId: this.nodeId }).catch(() => {});
    this.unsubscribe?.();
    this.unsubscribe = null;
    this._state = "stopped";
    if (this.options.closeStoreOnStop) await this.store.close();
  }

  /** Stops claiming on this node; running jobs go on. */
  pause(): void {
    this.setPaused(true);
  }

  resume(): void {
    this.pausedByOperator = false;
    this.setPaused(false);
  }

  /** Asks any node (by its id) to pause or resume, through the store. */
  async setNodePaused(nodeId: string, paused: boolean): Promise<boolean> {
    await this.ready();
    const found = await this.store.nodeSetPaused({ nodeId: validateId("nodeId", nodeId), paused });
    if (nodeId === this.nodeId) this.followOperator(paused);
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
      if (!this.pool.drop(id)) this.executor.cancel(id);
      const job = await this.store.jobGet({ id });
      if (job) this.emitChange(job);
    } else if (result === "requested") {
      this.executor.cancel(id);
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
      active: this.pool.active,
      longRunning: this.pool.activeLongRunning,
      paused: this._paused,
      version: VERSION,
      executed: this.stats.executed,
      failed: this.stats.failed,
    };
  }

  /** For tickerq/testing: run everything due now to completion. */
  readonly [ENGINE] = {
    runDue: () => this.runDue(),
    settle: () => this.settle(),
    heartbeat: () => this.heartbeat.beat(),
  };

  private ready(): Promise<void> {
    this.initialising ??= this.store.init().catch((error) => {
      this.initialising = null;
      throw error;
    });
    return this.initialising;
  }

  private async seedCronTickers(): Promise<void> {
    const now = new Date(this.options.clock.now());
    const seeds = [...this.registry.values()]
      .filter((fn) => fn.options.cron !== undefined)
      .map((fn) => ({
        id: randomUUID(),
        function: fn.name,
        expression: fn.options.cron!.trim(),
        timeZone: fn.options.timeZone && fn.options.timeZone !== "UTC" ? fn.options.timeZone : null,
        request: null,
        retries: fn.options.retries ?? 0,
        retryIntervals: fn.options.retryIntervals ?? null,
        description: fn.options.description ?? null,
        priority: fn.options.priority ?? "Normal",
        enabled: true,
        seededBy: fn.name,
        createdAt: now,
      }));
    if (seeds.length > 0) await this.store.cronTickerSeed({ cronTickers: seeds, now });
  }

  private onSignal(signal: StoreSignal): void {
    switch (signal.type) {
      case "due":
        this.dispatcher.wake(signal.at);
        break;
      case "cancel":
        // A held job is dropped before it starts; a running one has its signal aborted.
        if (!this.pool.drop(signal.id)) this.executor.cancel(signal.id);
        break;
      case "cron":
        this.cron.invalidate();
        this.dispatcher.wake(null);
        break;
      case "node":
        if (signal.nodeId === this.nodeId) void this.heartbeat.beat();
        break;
    }
  }

  private followOperator(paused: boolean): void {
    if (paused) {
      this.pausedByOperator = true;
      this.setPaused(true);
    } else if (this.pausedByOperator) {
      this.pausedByOperator = false;
      this.setPaused(false);
    }
  }

  private setPaused(paused: boolean): void {
    if (this._paused === paused) return;
    this._paused = paused;
    this.events.emit("paused", { nodeId: this.nodeId, paused });
    if (!paused) this.dispatcher.wake(null);
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

  /** Waits until no claim, run or write is in flight (a signal may start a new cycle meanwhile). */
  private async settle(): Promise<void> {
    do {
      await this.dispatcher.settled();
      await this.pool.whenRunningDone();
      await this.starts.flush();
      await this.executor.whenRecorded();
      await this.completions.flush();
    } while (
      this.dispatcher.busy ||
      this.pool.busy ||
      this.starts.size > 0 ||
      this.executor.recording ||
      this.completions.size > 0
    );
  }

  private async runDue(): Promise<number> {
    if (this._state !== "running") {
      throw new TickerQError("NOT_STARTED", `runDue() needs a started node; ${this.nodeId} is ${this._state}`);
    }
    const before = this.stats.executed;
    for (let round = 0; round < 10_000; round++) {
      const executedBefore = this.stats.executed;
      await this.dispatcher.requestCycle();
      await this.settle();
      const next = await this.store.jobNextDue();
      const due = next !== null && next.getTime() <= this.options.clock.now() && !this._paused;
      if (!due || (this.stats.executed === executedBefore && this.pool.isIdle && round > 0)) break;
    }
    return this.stats.executed - before;
  }
}
