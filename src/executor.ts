/**
 * The executor: runs one claimed job. It marks the job InProgress, builds the handler's
 * context and AbortSignal, calls the handler, and turns the outcome into a completion:
 * DueDone/Done, a retry, Failed, Cancelled, Skipped, or a release back to Idle on shutdown.
 */

import { TerminateExecutionError, TickerQError } from "./errors.js";
import type { FinalStatus } from "./lifecycle.js";
import { retryAt } from "./retry.js";
import type { AnyFunctionDefinition, TickerContext } from "./functions.js";
import type { JobCompletion, JobRecord, Store } from "./store/contract.js";
import { systemClock, type Clock } from "./clock.js";
import type { TickerQEvents } from "./events.js";
import type { WriteBatcher } from "./write-batcher.js";
import { InFlight } from "./in-flight.js";

/** What onException and onCancelled receive about the job. */
export interface JobInfo {
  id: string;
  type: JobRecord["type"];
  functionName: string;
  retryCount: number;
  cronTickerId: string | null;
  nodeId: string;
  /** onException only: whether a retry is scheduled. */
  willRetry?: boolean;
}

export interface ExecutorDeps {
  nodeId: string;
  clock: Clock;
  store: Store;
  events: TickerQEvents;
  functions: Map<string, AnyFunctionDefinition>;
  starts: WriteBatcher<string, { started: string[]; at: Date }>;
  completions: WriteBatcher<JobCompletion, void>;
  dueToleranceMs: number;
  onException?: (error: unknown, info: JobInfo) => unknown;
  onCancelled?: (info: JobInfo) => unknown;
  /** Reports a hook that threw: hooks can never break execution. */
  reportError(error: unknown, during: string): void;
  /** Counters for heartbeats and the dashboard. */
  stats: { executed: number; failed: number };
}

/** Why an attempt was stopped: a cancel, shutdown, or its start write found the job gone ("lost"). */
type StopReason = "cancel" | "shutdown" | "lost";

/** How a handler's run ended, kept until its start is recorded and the outcome can be written. */
interface AttemptOutcome {
  error: unknown;
  threw: boolean;
  reason: StopReason | null;
  startedAt: Date;
  finishedAt: Date;
  scheduledFor: Date;
  latenessMs: number;
  isDue: boolean;
}

export class Executor {
  /** Jobs running here, for cancel by id and shutdown. */
  private readonly running = new Map<string, { controller: AbortController; reason: StopReason | null }>();
  /** Ended attempts whose outcome is not yet handed to the store. */
  private readonly writing = new InFlight();
  /** The instant each job claimed ahead waits for before its handler starts. */
  private readonly fires = new Map<string, number>();

  constructor(private readonly deps: ExecutorDeps) {}

  get runningIds(): string[] {
    return [...this.running.keys()];
  }

  /** Aborts a job running on this node. Returns whether it runs here. */
  cancel(id: string, reason: StopReason = "cancel"): boolean {
    const run = this.running.get(id);
    if (!run) return false;
    if (run.reason === null) run.reason = reason;
    if (!run.controller.signal.aborted) {
      const message = reason === "cancel" ? `job ${id} was cancelled` : `node ${this.deps.nodeId} is shutting down`;
      run.controller.abort(new TickerQError(reason === "cancel" ? "CANCELLED" : "SHUTDOWN", message));
    }
    return true;
  }

  /** Aborts every running job (the shutdown grace period is over). */
  abortAll(): void {
    for (const id of this.running.keys()) this.cancel(id, "shutdown");
  }

  async run(job: JobRecord): Promise<void> {
    const { deps } = this;
    const controller = new AbortController();
    const run = { controller, reason: null as StopReason | null };
    this.running.set(job.id, run);
    let startedAt = new Date(deps.clock.now());
    // Whether the store has this attempt as InProgress: at once when the claim started it;
    // for a job held Queued, once its start write lands. The handler does not wait for that
    // write (it is batched with other starts); what must follow it does: the completion, the
    // InProgress event and skipIfAlreadyRunning. Should the write find the job cancelled,
    // deleted or recovered meanwhile, the attempt is aborted and leaves no trace.
    let recorded: Promise<boolean>;
    if (job.status === "InProgress" && job.lockHolder === deps.nodeId && job.executedAt) {
      startedAt = job.executedAt;
      recorded = Promise.resolve(true);
      this.emitChange(job, "InProgress");
    } else {
      recorded = deps.starts.add(job.id).then(
        ({ started }) => started.includes(job.id),
        () => false,
      );
      void recorded.then((ok) => {
        if (ok) return this.emitChange(job, "InProgress");
        if (run.reason === null) run.reason = "lost";
        if (!controller.signal.aborted) {
          controller.abort(
            new TickerQError("CANCELLED", `job ${job.id} was cancelled or taken over before it started`),
          );
        }
      });
    }
    // The pool releases a job claimed ahead a moment before it is due, so that its start
    // write is done by then: the handler itself starts at the due instant, unless aborted.
    const due = job.executionTime?.getTime() ?? 0;
    if (due > deps.clock.now()) {
      this.fires.set(job.id, due);
      await this.until(due, controller.signal);
      this.fires.delete(job.id);
      startedAt = new Date(Math.max(startedAt.getTime(), deps.clock.now()));
    }
    const scheduledFor = job.scheduledFor ?? job.executionTime ?? startedAt;
    const latenessMs = startedAt.getTime() - scheduledFor.getTime();
    const isDue = job.retryCount === 0 && latenessMs <= deps.dueToleranceMs;

    let error: unknown = null;
    let threw = false;
    try {
      if (controller.signal.aborted) throw controller.signal.reason;
      const fn = deps.functions.get(job.function);
      if (!fn)
        throw new TickerQError(
          "UNKNOWN_FUNCTION",
          `function ${JSON.stringify(job.function)} is not registered on node ${deps.nodeId}`,
        );
      const ctx = this.context(job, fn, scheduledFor, startedAt, isDue, controller, recorded);
      if (fn.options.skipIfAlreadyRunning) await ctx.skipIfAlreadyRunning();
      await fn.handler(ctx, controller.signal);
    } catch (caught) {
      threw = true;
      error = caught;
    } finally {
      this.running.delete(job.id);
    }

    const finishedAt = new Date(deps.clock.now());
    // The slot frees now; the outcome is written once the start is (a job cancelled, deleted
    // or recovered since its claim leaves nothing to write).
    const outcome: AttemptOutcome = {
      error,
      threw,
      reason: run.reason,
      startedAt,
      finishedAt,
      scheduledFor,
      latenessMs,
      isDue,
    };
    this.writing.add(recorded.then((ok) => (ok ? this.record(job, outcome) : undefined)));
  }

  /**
   * Resolves at `due` (or on abort). A system timer only promises "not before": armed for the
   * exact millisecond it fires up to a couple of ms late (the event loop's cached time, the
   * poll timeout's rounding). So on the system clock it is armed a millisecond early and the
   * last stretch is checked on each turn of the event loop, which starts the job within the
   * millisecond it is due. A test clock fires exactly.
   */
  private until(due: number, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const early = clock === systemClock ? 1 : 0;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (signal.aborted) return;
        if (clock.now() >= due) resolve();
        else setImmediate(check);
      };
      const timer = clock.setTimeout(early ? check : resolve, due - clock.now() - early);
      signal.addEventListener("abort", () => (clock.clearTimeout(timer), resolve()), { once: true });
    });
  }

  /**
   * Resolves once no handler is due to start within `marginMs`: store work, which holds the
   * event loop for a moment (all of it on SQLite, whose driver is synchronous), waits until
   * the start has happened. Gives up after a few starts in a row, so a dense schedule delays
   * writes but never starves them.
   */
  async clearOfStarts(marginMs: number): Promise<void> {
    const { clock } = this.deps;
    for (let round = 0; round < 4; round++) {
      const now = clock.now();
      let next = Number.POSITIVE_INFINITY;
      for (const at of this.fires.values()) if (at >= now && at < next) next = at;
      if (next - now > marginMs) return;
      // One millisecond past the start, so that its timer runs first.
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), next - now + 1));
    }
  }

  /** Some ended attempt's outcome is not yet written. */
  get recording(): boolean {
    return this.writing.size > 0;
  }

  /** Resolves when every ended attempt's outcome has been handed to the store. */
  async whenRecorded(): Promise<void> {
    await this.writing.settled();
  }

  /** Writes how an attempt ended: released on shutdown, else a completion (batched). */
  private async record(job: JobRecord, outcome: AttemptOutcome): Promise<void> {
    const { deps } = this;
    const { error, threw, startedAt, finishedAt, scheduledFor, latenessMs, isDue } = outcome;
    const elapsedMs = finishedAt.getTime() - startedAt.getTime();
    if (outcome.reason === "shutdown" && threw && !(error instanceof TerminateExecutionError)) {
      // Interrupted by shutdown: the job is not at fault; it runs again, here or elsewhere.
      await deps.store
        .jobRelease({ ids: [job.id], nodeId: deps.nodeId, now: finishedAt })
        .catch((e) => deps.reportError(e, "release"));
      this.emitChange(job, "Idle");
      return;
    }

    let status: FinalStatus | "Idle";
    let nextAt: Date | null = null;
    if (threw && error instanceof TerminateExecutionError) status = "Skipped";
    else if (outcome.reason === "cancel") status = "Cancelled";
    else if (threw) {
      const canRetry = job.retryCount < job.retries;
      status = canRetry ? "Idle" : "Failed";
      if (canRetry) nextAt = retryAt(finishedAt.getTime(), job.retryIntervals, job.retryCount);
    } else status = isDue ? "DueDone" : "Done";

    const failed = status === "Idle" || status === "Failed";
    const message = failed || status === "Skipped" || (status === "Cancelled" && threw) ? errorMessage(error) : null;
    const details = failed ? errorDetails(error) : null;
    const completion: JobCompletion = {
      id: job.id,
      nodeId: deps.nodeId,
      status,
      retryAt: nextAt,
      finishedAt,
      elapsedMs,
      exceptionMessage: message,
      exceptionDetails: details,
      attempt: {
        jobId: job.id,
        attempt: job.retryCount,
        status: status === "Idle" ? "Failed" : status,
        nodeId: deps.nodeId,
        startedAt,
        finishedAt,
        elapsedMs,
        exceptionMessage: message,
        exceptionDetails: details,
      },
    };
    deps.stats.executed++;
    if (failed) deps.stats.failed++;
    // The write is batched: the lease keeps the job ours until the completion lands. Events
    // and hooks follow the write, so what they report is what the store holds.
    await deps.completions.add(completion).then(
      () => this.announce(job, completion, { scheduledFor, startedAt, latenessMs, error: failed ? error : null }),
      (e) => deps.reportError(e, "completion"),
    );
  }

  private announce(
    job: JobRecord,
    completion: JobCompletion,
    run: { scheduledFor: Date; startedAt: Date; latenessMs: number; error: unknown },
  ): void {
    const { deps } = this;
    const { status } = completion;
    this.emitChange(job, status);
    if (deps.events.has("executed")) {
      deps.events.emit("executed", {
        id: job.id,
        type: job.type,
        function: job.function,
        status,
        cronTickerId: job.cronTickerId,
        nodeId: deps.nodeId,
        retryCount: job.retryCount,
        scheduledFor: run.scheduledFor,
        startedAt: run.startedAt,
        finishedAt: completion.finishedAt,
        elapsedMs: completion.elapsedMs,
        latenessMs: run.latenessMs,
        retryAt: completion.retryAt,
        error: run.error,
      });
    }
    const info: JobInfo = {
      id: job.id,
      type: job.type,
      functionName: job.function,
      retryCount: job.retryCount,
      cronTickerId: job.cronTickerId,
      nodeId: deps.nodeId,
    };
    const failed = status === "Idle" || status === "Failed";
    if (failed && deps.onException) {
      this.callHook("onException", () => deps.onException!(run.error, { ...info, willRetry: status === "Idle" }));
    }
    if (status === "Cancelled" && deps.onCancelled) this.callHook("onCancelled", () => deps.onCancelled!(info));
  }

  private context(
    job: JobRecord,
    fn: AnyFunctionDefinition,
    scheduledFor: Date,
    startedAt: Date,
    isDue: boolean,
    controller: AbortController,
    recorded: Promise<boolean>,
  ): TickerContext<unknown> {
    const { deps } = this;
    return {
      id: job.id,
      type: job.type,
      functionName: fn.name,
      scheduledFor,
      retryCount: job.retryCount,
      isDue,
      request: job.request === null ? undefined : JSON.parse(job.request),
      signal: controller.signal,
      cronTickerId: job.cronTickerId,
      parentId: job.parentId,
      nodeId: deps.nodeId,
      requestCancellation: () => {
        this.cancel(job.id, "cancel");
      },
      skipIfAlreadyRunning: async () => {
        await recorded; // the count must see this attempt's own InProgress row settled
        const others = await deps.store.jobRunningCount({
          cronTickerId: job.cronTickerId,
          function: job.function,
          excludeId: job.id,
          startedBefore: { at: startedAt, id: job.id },
        });
        if (others > 0) {
          const what = job.cronTickerId ? `cron ticker ${job.cronTickerId}` : `function ${job.function}`;
          throw new TerminateExecutionError(`skipped: another run of ${what} is in progress`);
        }
      },
    };
  }

  private emitChange(job: JobRecord, status: JobRecord["status"]): void {
    if (!this.deps.events.has("changed")) return;
    this.deps.events.emit("changed", {
      id: job.id,
      type: job.type,
      function: job.function,
      status,
      cronTickerId: job.cronTickerId,
      nodeId: this.deps.nodeId,
    });
  }

  private callHook(name: string, hook: () => unknown): void {
    try {
      Promise.resolve(hook()).catch((error) => this.deps.reportError(error, name));
    } catch (error) {
      this.deps.reportError(error, name);
    }
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function errorDetails(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  let details = error.stack ?? `${error.name}: ${error.message}`;
  let cause = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    details += `\nCaused by: ${cause.stack ?? cause.message}`;
  }
  return details;
}
