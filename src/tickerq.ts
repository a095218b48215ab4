/**
 * createTickerQ: one node of the scheduler as its users see it. It owns the public API, the
 * start/stop state machine and argument checks; the moving parts live in the Engine (engine.ts).
 */

import { requestJsonSchema } from "./request-json-schema.js";
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

import { VERSION } from "./version.js";

export { VERSION };

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
  /** The request's JSON Schema, where the function's schema can produce one (Standard JSON Schema); else null. */
  requestSchema: Record<string, unknown> | null;
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
  /** Resolves once the store's first try at hearing other processes is over (see ready()). */
  private hearing: Promise<void> | null = null;
  /** Set once anything asked the store to open: stop() then closes it (with closeStoreOnStop). */
  private storeOpened = false;
  private unsubscribe: (() => void) | null = null;
  private _state: TickerQState = "created";
  /** The boot of start(), which stop() waits out. */
  private booting: Promise<void> | null = null;
  /** The one stop; later stop() calls share it. */
  private stopping: Promise<void> | null = null;

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
      requestSchema: requestJsonSchema(fn.options.schema),
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
   *
   * A start that fails (say, the database is down) leaves the node `created`: start() may be
   * called again. A node that was stopped does not start again (STOPPED): create a new one.
   * If stop() is called before start() is done, start() rejects with STOPPED.
   */
  async start(): Promise<void> {
    if (this._state === "stopping" || this._state === "stopped") {
      throw new TickerQError(
        "STOPPED",
        `node ${this.nodeId} was stopped and does not start again; create a new node with createTickerQ()`,
      );
    }
    if (this._state !== "created") {
      throw new TickerQError(
        "ALREADY_STARTED",
        `start() was already called on node ${this.nodeId} (state ${this._state})`,
      );
    }
    this._state = "starting";
    this.booting = this.boot();
    return this.booting;
  }

  /**
   * The steps of start(). After each one it looks whether stop() was called meanwhile; if so it
   * undoes what it did (the heartbeat and this node's record, the signal subscription) and
   * rejects with STOPPED, and stop() closes the store once this is done.
   */
  private async boot(): Promise<void> {
    const stopped = () => {
      if (this.stopping) {
        throw new TickerQError("STOPPED", `node ${this.nodeId} was stopped before start() was done`);
      }
    };
    let beating = false;
    try {
      await this.ready();
      stopped();
      this.unsubscribe = this.store.signalSubscribe((signal) => this.engine.onSignal(signal));
      await this.engine.seedCronTickers();
      stopped();
      await this.engine.startHeartbeat();
      beating = true;
      stopped();
      this._state = "running";
      this.engine.startDispatching();
    } catch (error) {
      this.unsubscribe?.();
      this.unsubscribe = null;
      // Nothing was claimed yet, so this only stops the heartbeat and removes the node's record.
      if (beating) await this.engine.shutdown(this.options.shutdownTimeoutMs).catch(() => {});
      if (!this.stopping) this._state = "created";
      throw error;
    }
  }

  /**
   * Graceful stop: claims nothing more, hands held-but-unstarted jobs back, lets running jobs
   * finish for `timeoutMs`, then aborts them; a job aborted this way goes back to Idle and
   * runs again (here after a restart, or on another node). Called while start() runs, it waits
   * for start()'s current step and undoes the rest. With `closeStoreOnStop` (the default) the
   * store is closed, once. Calling stop() again waits for the same stop. Afterwards every
   * call on the node rejects with STOPPED.
   */
  async stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.stopping ??= this.shutdown(options.timeoutMs ?? this.options.shutdownTimeoutMs);
    return this.stopping;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const from = this._state;
    this._state = "stopping";
    try {
      if (from === "starting") {
        await this.booting?.catch(() => {});
      } else if (from === "running") {
        await this.engine.shutdown(timeoutMs);
        this.unsubscribe?.();
        this.unsubscribe = null;
      }
      // A store init in flight (an add() before start()) ends before the store is closed under it.
      await this.initialising?.catch(() => {});
    } finally {
      this._state = "stopped";
      if (this.storeOpened && this.options.closeStoreOnStop) await this.store.close();
    }
  }

  /** Stops claiming on this node; running jobs go on. */
  pause(): void {
    this.assertNotStopped("pause()");
    this.engine.setPaused(true);
  }

  resume(): void {
    this.assertNotStopped("resume()");
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
    this.assertNotStopped("serveDashboard()");
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
    settle: async () => {
      // Once the store hears other processes it signals the node to look again: a claim to wait for.
      await this.hearing;
      await this.engine.settle();
    },
    heartbeat: () => this.engine.beat(),
  };

  /** Opens the store once; every call on the node passes here, so here a stopped node refuses. */
  private ready(): Promise<void> {
    // While stopping, calls still work on a store that is open (a handler finishing its run may
    // add a job); a store that was never opened is not opened by a node on its way out.
    if (this._state === "stopped" || (this.stopping && !this.initialising)) {
      return Promise.reject(this.stoppedError("this call"));
    }
    this.storeOpened = true;
    // The node does not wait for the store to hear other processes (PostgreSQL's LISTEN
    // connection): the store signals once it does, and the node looks for work again then.
    if (!this.initialising) {
      this.initialising = this.store.init({ awaitSignals: false }).catch((error) => {
        this.initialising = this.hearing = null;
        throw error;
      });
      // The default init() waits for that connection's first try (tickerq/testing's settle() does).
      this.hearing = this.initialising.then(() => this.store.init()).catch(() => {});
    }
    return this.initialising;
  }

  private stoppedError(call: string): TickerQError {
    return new TickerQError(
      "STOPPED",
      `node ${this.nodeId} is ${this._state}; ${call} needs a node that is not stopped`,
    );
  }

  private assertNotStopped(call: string): void {
    if (this._state === "stopped" || this._state === "stopping") throw this.stoppedError(call);
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
    if (this._state === "stopped" || this._state === "stopping") throw this.stoppedError("runDue()");
    if (this._state !== "running") {
      throw new TickerQError("NOT_STARTED", `runDue() needs a started node; ${this.nodeId} is ${this._state}`);
    }
    return this.engine.runDue();
  }
}
