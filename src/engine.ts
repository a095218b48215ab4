/**
 * Engine: the moving parts of one node and how they work together. It builds and owns the
 * write batchers (starts, completions), the executor, the worker pool, cron seeding and
 * planning, the dispatcher and the heartbeat; it follows store signals and the pause state,
 * and knows the order in which they drain on stop. TickerQ (tickerq.ts) is the public API on
 * top of it.
 */

import type { TickerQEvents } from "./events.js";
import type { AnyFunctionDefinition } from "./functions.js";
import type { ResolvedOptions } from "./options.js";
import type { JobCompletion, JobLease, NodeInfo, Store, StoreSignal } from "./store/contract.js";
import type { Core } from "./core.js";
import { WorkerPool } from "./worker-pool.js";
import { Executor } from "./executor.js";
import { Dispatcher } from "./dispatcher.js";
import { CronScheduler } from "./cron-scheduler.js";
import { NodeHeartbeat } from "./node-heartbeat.js";
import { WriteBatcher } from "./write-batcher.js";
import { systemClock } from "./clock.js";
import { LeaseBook } from "./lease-book.js";
import { TickerQError } from "./errors.js";
import { isUnavailable, Reporter } from "./reporter.js";
import { newId } from "./ids.js";
import type { StoreCall } from "./middleware.js";
import { StoreLag } from "./store-lag.js";

/** How close to a job's start the engine holds its store work back (see Executor.clearOfStarts). */
const START_MARGIN_MS = 3;

/** What the engine needs of its node: the managers' view of it, and what the heartbeat reports. */
export interface EngineDeps extends Pick<Core, "store" | "nodeId" | "options" | "functions" | "events" | "emitChange"> {
  info(): NodeInfo;
}

/** A few ids for a log line. */
function preview(ids: readonly string[]): string {
  return ids.length <= 5 ? ids.join(", ") : `${ids.slice(0, 5).join(", ")} and ${ids.length - 5} more`;
}

/** MiddlewareNode.storeId: one per Store object in this process. */
const storeIds = new WeakMap<Store, string>();
let storesSeen = 0;
function storeIdOf(store: Store): string {
  let id = storeIds.get(store);
  if (id === undefined) storeIds.set(store, (id = `${store.name}#${++storesSeen}`));
  return id;
}

/** Whose leases a recovery took, for its log line. */
function describeHolders(nodeId: string, from: { deadNodeIds: string[]; orphans: boolean }): string {
  const { deadNodeIds, orphans } = from;
  if (deadNodeIds.length === 1 && deadNodeIds[0] === nodeId) return "an earlier process of this node";
  const dead = deadNodeIds.length > 0 ? `dead node(s) ${preview(deadNodeIds)}` : "";
  const unknown = orphans ? "nodes with no record" : "";
  return [dead, unknown].filter(Boolean).join(" or ");
}

export class Engine {
  private readonly store: Store;
  private readonly nodeId: string;
  private readonly options: ResolvedOptions;
  private readonly events: TickerQEvents;
  private readonly functions: Map<string, AnyFunctionDefinition>;
  private readonly pool: WorkerPool;
  private readonly executor: Executor;
  private readonly dispatcher: Dispatcher;
  private readonly cron: CronScheduler;
  private readonly heartbeat: NodeHeartbeat;
  private readonly starts: WriteBatcher<JobLease, { started: string[]; at: Date }>;
  private readonly completions: WriteBatcher<JobCompletion, { superseded: string[] }>;
  private readonly leases = new LeaseBook();
  readonly reporter: Reporter;
  private readonly stats = { executed: 0, failed: 0 };
  private _paused = false;
  private pausedByOperator = false;
  /** shutdown() has begun: see reconcile(). */
  private shuttingDown = false;
  /** What the middleware's attach() returned, called at shutdown. */
  private detach: (() => void)[] = [];

  constructor(deps: EngineDeps) {
    const { store, nodeId, options: o, events } = deps;
    this.store = store;
    this.nodeId = nodeId;
    this.options = o;
    this.events = events;
    this.functions = deps.functions;
    const reporter = (this.reporter = new Reporter(nodeId, o.clock, o.log, events));
    // What the store recovers from by itself (a dropped connection) goes to this node's logger too.
    store.setLogger?.(o.log);
    // A write or claim that failed: reported (an outage once); when the store was unreachable,
    // claims wait for a heartbeat to get through.
    const storeError = (error: unknown, during: string) => {
      reporter.error(error, during);
      if (isUnavailable(error)) this.heartbeat.suspect();
    };
    // Writes and claims wait out a job start due within a few ms: their work on the event loop
    // (all of it on SQLite, whose driver is synchronous) would otherwise delay that start.
    // On a test clock time stands still until the test moves it, so nothing waits for it.
    const clearOfStarts =
      o.clock === systemClock
        ? (own?: readonly string[]) => this.executor.clearOfStarts(START_MARGIN_MS, own)
        : async () => {};
    const call = (operation: StoreCall["operation"], count: number): StoreCall => ({
      operation,
      store: store.name,
      count,
      nodeId,
    });
    const lag = new StoreLag(o.clock, o.adaptiveLookahead);
    this.starts = new WriteBatcher(
      async (leases) => {
        await clearOfStarts(leases.map((lease) => lease.id));
        const at = new Date(o.clock.now());
        const started = await o.middleware.store(call("start", leases.length), async () => {
          const ids = await store.jobStartMany({ leases, nodeId, at });
          lag.record(o.clock.now() - at.getTime());
          return ids;
        });
        return { started, at };
      },
      (error) => storeError(error, "start"),
      { key: (lease) => lease.id },
    );
    this.completions = new WriteBatcher(
      async (completions) => {
        await clearOfStarts();
        return o.middleware.store(call("complete", completions.length), () => store.jobCompleteMany({ completions }));
      },
      (error) => storeError(error, "completion"),
      { key: (completion) => completion.id },
    );
    this.executor = new Executor({
      nodeId,
      clock: o.clock,
      store,
      events,
      functions: deps.functions,
      leases: this.leases,
      starts: this.starts,
      completions: this.completions,
      dueToleranceMs: o.dueToleranceMs,
      onException: o.onException,
      onCancelled: o.onCancelled,
      reporter,
      stats: this.stats,
      middleware: o.middleware,
    });
    this.pool = new WorkerPool({
      // A start write is issued this long before the job is due; more while the store is slow.
      startLeadMs: () => lag.lead(Math.min(20, o.lookaheadMs), 1.5),
      maxConcurrency: o.maxConcurrency,
      prefetch: o.prefetch,
      maxLongRunning: o.maxLongRunning,
      clock: o.clock,
      run: (job) => this.executor.run(job),
      onCapacity: () => this.dispatcher.capacityFreed(),
    });
    this.cron = new CronScheduler(
      store,
      o.cronHorizonMs,
      o.pollIntervalMs * 5,
      o.pollIntervalMs * 6,
      { chain: o.middleware, nodeId, log: o.log },
      // With a coordinator one node plans each ticker (a lock per ticker); without an answer from it, every node.
      o.coordinator,
    );
    this.dispatcher = new Dispatcher({
      nodeId,
      clock: o.clock,
      store,
      pool: this.pool,
      cron: this.cron,
      lookaheadMs: o.lookaheadMs,
      lag,
      pollIntervalMs: o.pollIntervalMs,
      leases: this.leases,
      isPaused: () => this._paused,
      canClaim: () => this.heartbeat.canClaim,
      beforeStoreWork: clearOfStarts,
      onClaimed: (jobs) => {
        const debug = o.log.enabled("debug");
        for (const job of jobs) {
          deps.emitChange({ ...job, status: "Queued" });
          if (debug) {
            o.log.debug(
              { jobId: job.id, function: job.function, attempt: job.retryCount, nodeId, status: job.status },
              "job claimed",
            );
          }
        }
      },
      onError: storeError,
      middleware: o.middleware,
      coordinator: o.coordinator,
    });
    this.heartbeat = new NodeHeartbeat({
      nodeId,
      clock: o.clock,
      store,
      intervalMs: o.heartbeatIntervalMs,
      leaseTimeoutMs: o.leaseTimeoutMs,
      retentionDays: o.retentionDays,
      reporter,
      info: deps.info,
      onPauseRequested: (paused) => this.followOperator(paused),
      reconcile: (now) => this.reconcile(now),
      onRecovered: (ids, from) => {
        reporter.warn(
          `[tickerq ${nodeId}] recovered ${ids.length} job(s) leased to ${describeHolders(nodeId, from)}; ` +
            `they run again as new attempts: ${preview(ids)}`,
          { deadNodeIds: from.deadNodeIds, recovered: ids.length },
        );
        this.dispatcher.wake(null);
      },
      onCancelRequested: (ids) => ids.forEach((id) => this.cancelHeldOrRunning(id)),
      onFenced: (sinceMs) => this.fence(sinceMs),
      onHealthy: () => {
        // Writes that failed in the outage retry now, not at the end of their backoff (up to 5 s).
        this.starts.retryNow();
        this.completions.retryNow();
        this.dispatcher.storeAnswered();
      },
      beforeStoreWork: clearOfStarts,
      coordinator: o.coordinator,
    });
  }

  /**
   * Compares the leases this node holds with the store's (between claims): leases the store
   * gave this node that it never learnt of (a claim whose reply was lost) go back to Idle;
   * runs whose lease was taken over are dropped if not started, aborted if running.
   */
  private reconcile(now: Date): Promise<void> {
    const { store, nodeId, reporter } = this;
    return this.leases.comparing(async () => {
      if (this.leases.inStep) return; // idle: the store's list would be empty
      const { stray, lost } = this.leases.diff(await store.jobLeaseList({ nodeId }));
      // Once stopping, a lease this node no longer tracks may be a run whose end it could not
      // write: that job stays leased, for other nodes to recover as a lost attempt.
      if (stray.length > 0 && !this.shuttingDown) {
        await store.jobRelease({ leases: stray, nodeId, now });
        reporter.warn(
          `[tickerq ${nodeId}] released ${stray.length} job(s) leased to this node that it never received ` +
            `(a claim whose reply was lost): ${preview(stray.map((lease) => lease.id))}`,
          { released: stray.length },
        );
      }
      for (const id of lost) {
        if (this.pool.drop(id)) this.leases.forget(id);
        else if (this.executor.cancel(id, "superseded")) {
          reporter.warn(`[tickerq ${nodeId}] job ${id}: its lease was taken over; its run here is aborted`, {
            jobId: id,
          });
        } else this.leases.forget(id);
      }
    });
  }

  /**
   * No heartbeat got through for nearly a lease: other nodes may soon take this node's work,
   * so it stops claiming (until a heartbeat gets through), drops what it holds unstarted and
   * aborts its runs' signals.
   */
  private fence(sinceMs: number): void {
    const held = this.pool.takeHeld();
    for (const job of held) this.leases.forget(job.id);
    const running = this.executor.runningIds.length;
    this.executor.abortAll("fenced");
    this.reporter.warn(
      `[tickerq ${this.nodeId}] no heartbeat reached the store for ${sinceMs} ms: fenced (no claims; ` +
        `${running} run(s) aborted, ${held.length} held job(s) dropped) until the store answers`,
      { fencedMs: sinceMs, aborted: running, dropped: held.length },
    );
  }

  get paused(): boolean {
    return this._paused;
  }

  /** Jobs running in the regular slots. */
  get active(): number {
    return this.pool.active;
  }

  get longRunning(): number {
    return this.pool.activeLongRunning;
  }

  get executed(): number {
    return this.stats.executed;
  }

  get failed(): number {
    return this.stats.failed;
  }

  /** Seeds the cron tickers declared on functions (the store keeps one per function across nodes). */
  async seedCronTickers(): Promise<void> {
    const now = new Date(this.options.clock.now());
    const seeds = [...this.functions.values()]
      .filter((fn) => fn.options.cron !== undefined)
      .map((fn) => ({
        id: newId(),
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

  /** Starts the coordinator (if any), registers this node and recovers its stale leases. */
  async startHeartbeat(): Promise<void> {
    const { coordinator, log } = this.options;
    await coordinator?.start({
      nodeId: this.nodeId,
      store: this.store,
      log,
      onSignal: (signal) => this.onSignal(signal),
      // Signals sent while it was down were lost, and the poll cadence changes: look now.
      onHealthChange: () => this.dispatcher.wake(null),
    });
    return this.heartbeat.start();
  }

  /** Starts claiming due work; the last step of start. Middleware is attached first. */
  startDispatching(): void {
    const { clock } = this.options;
    const node = {
      nodeId: this.nodeId,
      storeId: storeIdOf(this.store),
      now: () => clock.now(),
      dueCounts: () => this.store.jobDueCountByFunction({ now: new Date(clock.now()) }),
    };
    this.options.middleware.list.forEach((m, i) => {
      try {
        const undo = m.attach?.(node);
        if (typeof undo === "function") this.detach.push(undo);
      } catch (error) {
        this.reporter.error(error, `middleware[${i}].attach`);
      }
    });
    this.dispatcher.start();
  }

  /**
   * Drains this node, in this order: stop claiming, hand held-but-unstarted jobs back, wait
   * for running jobs up to `timeoutMs`, abort what is left, flush starts, wait for the
   * executor's records, flush completions, stop the heartbeat, remove the node.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    const { clock } = this.options;
    this.shuttingDown = true;
    // The grace period starts now, before any await.
    let timer: unknown = null;
    const timedOut = new Promise<"timeout">((resolve) => {
      if (timeoutMs <= 0) resolve("timeout");
      else timer = clock.setTimeout(() => resolve("timeout"), timeoutMs);
    });
    // The store gets until the grace period and one lease timeout are over: past that, other
    // nodes recover whatever this node could not write, so stop() need not outwait an outage.
    let deadlineTimer: unknown = null;
    const deadline = new Promise<false>((resolve) => {
      deadlineTimer = clock.setTimeout(() => resolve(false), Math.max(0, timeoutMs) + this.options.leaseTimeoutMs);
    });
    const beforeDeadline = (work: Promise<unknown>): Promise<boolean> =>
      Promise.race([work.then(() => true), deadline]);
    this.dispatcher.stop();
    await this.dispatcher.settled();
    const held = this.pool.takeHeld();
    const now = () => new Date(clock.now());
    if (held.length > 0) {
      const leases = held.map((job) => this.leases.lease(job.id));
      await beforeDeadline(
        this.store
          .jobRelease({ leases, nodeId: this.nodeId, now: now() })
          .catch((error) => this.reporter.error(error, "stop")),
      );
      for (const job of held) this.leases.forget(job.id);
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
        const leases = still.map((id) => this.leases.lease(id));
        await beforeDeadline(
          this.store
            .jobRelease({ leases, nodeId: this.nodeId, now: now() })
            .catch((error) => this.reporter.error(error, "stop")),
        );
      }
    }
    const unwritten = this.starts.size + this.completions.size;
    const written = await beforeDeadline(
      (async () => {
        await this.starts.flush();
        await this.executor.whenRecorded();
        await this.completions.flush();
      })(),
    );
    if (!written) {
      const reason = new TickerQError("SHUTDOWN", `node ${this.nodeId} stopped before the store took its last writes`);
      this.starts.close(reason);
      this.completions.close(reason);
      this.reporter.warn(
        `[tickerq ${this.nodeId}] stop: the store did not take ${unwritten || "the"} pending write(s) within the ` +
          `grace period and one lease timeout; other nodes will recover those jobs as lost attempts`,
      );
      await this.executor.whenRecorded();
    }
    await beforeDeadline(this.heartbeat.stop());
    await this.options.coordinator?.stop().catch((error: unknown) => this.reporter.error(error, "coordinator stop"));
    await beforeDeadline(this.store.nodeRemove({ nodeId: this.nodeId }).catch(() => {}));
    clock.clearTimeout(deadlineTimer);
    for (const undo of this.detach.splice(0)) {
      try {
        undo();
      } catch (error) {
        this.reporter.error(error, "middleware detach");
      }
    }
  }

  onSignal(signal: StoreSignal): void {
    switch (signal.type) {
      case "due":
        this.dispatcher.wake(signal.at);
        break;
      case "cancel":
        this.cancelHeldOrRunning(signal.id);
        break;
      case "cron":
        this.replan();
        break;
      case "node":
        if (signal.nodeId === this.nodeId) void this.heartbeat.beat();
        break;
    }
  }

  /** A cron ticker changed: plan occurrences again and claim at once. */
  replan(): void {
    this.cron.invalidate();
    this.dispatcher.wake(null);
  }

  /**
   * A held job is dropped before it starts (one its claim already started ends Cancelled
   * through the executor); a running one has its signal aborted.
   */
  cancelHeldOrRunning(id: string): void {
    const held = this.pool.take(id);
    if (held === null) this.executor.cancel(id);
    else if (held.status === "InProgress") void this.executor.run(held, "cancel");
  }

  /** Aborts the signal of a job running here (it ends Cancelled). */
  abort(id: string): void {
    this.executor.cancel(id);
  }

  /** The operator (this node's `resume()`) lifts any pause, the store's request included. */
  resume(): void {
    this.pausedByOperator = false;
    this.setPaused(false);
  }

  /** Follows a pause requested through the store; it lifts only a pause it set itself. */
  followOperator(paused: boolean): void {
    if (paused) {
      this.pausedByOperator = true;
      this.setPaused(true);
    } else if (this.pausedByOperator) {
      this.pausedByOperator = false;
      this.setPaused(false);
    }
  }

  setPaused(paused: boolean): void {
    if (this._paused === paused) return;
    this._paused = paused;
    this.events.emit("paused", { nodeId: this.nodeId, paused });
    if (!paused) this.dispatcher.wake(null);
  }

  /** Sends a heartbeat now (tickerq/testing). */
  beat(): Promise<void> {
    return this.heartbeat.beat();
  }

  /** Waits until no claim, run or write is in flight (a signal may start a new cycle meanwhile). */
  async settle(): Promise<void> {
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

  /** Claims and runs until nothing is due now; returns how many jobs were executed. */
  async runDue(): Promise<number> {
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
