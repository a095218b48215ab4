/**
 * The executor: runs one claimed job. It marks the job InProgress (the handler starts only
 * once the store has that, so every run is in the history even if this node dies at once),
 * builds the handler's context (its AbortSignal made only when asked for, run-stop.ts), calls
 * the handler, and turns the outcome into a completion under the job's lease: DueDone/Done, a
 * retry, Failed, Cancelled, Skipped, or a release back to Idle on shutdown. A completion the
 * store finds stale (the lease was taken over) is kept in the history as superseded and
 * announced as such, never as the job's end.
 */

import { TerminateExecutionError, TickerQError } from "./errors.js";
import type { FinalStatus } from "./lifecycle.js";
import { retryAt } from "./retry.js";
import type { AnyFunctionDefinition, TickerContext } from "./functions.js";
import type { JobCompletion, JobLease, JobRecord, Store } from "./store/contract.js";
import { systemClock, type Clock } from "./clock.js";
import type { TickerQEvents } from "./events.js";
import type { WriteBatcher } from "./write-batcher.js";
import { InFlight } from "./in-flight.js";
import type { LeaseBook } from "./lease-book.js";
import type { Reporter } from "./reporter.js";
import type { MiddlewareChain } from "./middleware.js";
import { RUN_STOP, RunStop, withSignal } from "./run-stop.js";
import { storableText } from "./validation.js";

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
  leases: LeaseBook;
  starts: WriteBatcher<JobLease, { started: string[]; at: Date }>;
  completions: WriteBatcher<JobCompletion, { superseded: string[] }>;
  dueToleranceMs: number;
  onException?: (error: unknown, info: JobInfo) => unknown;
  onCancelled?: (info: JobInfo) => unknown;
  /** Reports what failed (a hook that threw, a write): nothing here can break execution. */
  reporter: Reporter;
  /** Counters for heartbeats and the dashboard. */
  stats: { executed: number; failed: number };
  /** Wraps every handler run (options.middleware). */
  middleware: MiddlewareChain;
}

/**
 * Why an attempt was stopped: a cancel; shutdown; its lease was taken over ("superseded");
 * this node could not reach the store for too long ("fenced").
 */
type StopReason = "cancel" | "shutdown" | "superseded" | "fenced";

const STOP_CODES = {
  cancel: "CANCELLED",
  shutdown: "SHUTDOWN",
  superseded: "LEASE_LOST",
  fenced: "LEASE_LOST",
} as const;

/** How a handler's run ended, kept until its start is recorded and the outcome can be written. */
interface AttemptOutcome {
  /** The handler was called (an attempt stopped before it leaves no history). */
  started: boolean;
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
  private readonly running = new Map<string, { stop: RunStop; reason: StopReason | null }>();
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
    if (!run.stop.aborted) run.stop.abort(new TickerQError(STOP_CODES[reason], this.stopMessage(id, reason)));
    return true;
  }

  /** Aborts every running job: the shutdown grace period is over, or this node fenced itself. */
  abortAll(reason: "shutdown" | "fenced" = "shutdown"): void {
    for (const id of this.running.keys()) this.cancel(id, reason);
  }

  private stopMessage(id: string, reason: StopReason): string {
    const node = this.deps.nodeId;
    switch (reason) {
      case "cancel":
        return `job ${id} was cancelled`;
      case "shutdown":
        return `node ${node} is shutting down`;
      case "superseded":
        return `job ${id}'s lease was taken over while node ${node} was paused or cut off: this run no longer counts`;
      case "fenced":
        return `node ${node} could not reach the store for longer than its lease allows and stopped this run`;
    }
  }

  /** Runs `job`; with `stop`, it is stopped before its handler starts (a job the claim started, cancelled while held). */
  async run(job: JobRecord, stop?: StopReason): Promise<void> {
    const { deps } = this;
    const halt = new RunStop();
    const run = { stop: halt, reason: null as StopReason | null };
    // This run's lease: the token its claim returned. Its writes name it, so a run that goes on
    // after its lease was recovered writes as superseded even once this node claimed the job
    // again (the book then holds the newer token, which is the newer run's).
    const lease: JobLease = { id: job.id, leaseToken: job.leaseToken };
    this.running.set(job.id, run);
    if (stop) this.cancel(job.id, stop);
    // The store has this attempt as InProgress at once when the claim started it; a job held
    // Queued is started by a batched write (issued a moment before it is due when claimed
    // ahead), and its handler waits for that write. Should it find the job cancelled, deleted
    // or recovered meanwhile, the job does not run here and leaves no trace.
    let recorded: Promise<boolean>;
    const startedByClaim = job.status === "InProgress" && job.lockHolder === deps.nodeId && job.executedAt !== null;
    let startedAt = startedByClaim ? job.executedAt! : new Date(deps.clock.now());
    if (startedByClaim) {
      // Awaited all the same: the handler starts after the pool has placed the whole claim.
      recorded = Promise.resolve(true);
      this.emitChange(job, "InProgress");
    } else {
      recorded = deps.starts.add(lease).then(
        ({ started }) => started.includes(job.id),
        () => false,
      );
      void recorded.then((ok) => ok && this.emitChange(job, "InProgress"));
    }
    // The pool releases a job claimed ahead a moment before it is due, so that its start
    // write is done by then: the handler itself starts at the due instant, unless aborted.
    const due = job.executionTime?.getTime() ?? 0;
    if (due > deps.clock.now()) {
      this.fires.set(job.id, due);
      await this.until(due, halt);
      this.fires.delete(job.id);
    }
    if (!(await recorded)) {
      this.ended(run, job.id);
      deps.leases.forget(lease);
      return;
    }
    const now = deps.clock.now();
    if (now > startedAt.getTime()) startedAt = new Date(now);
    const scheduledFor = job.scheduledFor ?? job.executionTime ?? startedAt;
    const latenessMs = startedAt.getTime() - scheduledFor.getTime();
    const isDue = job.retryCount === 0 && latenessMs <= deps.dueToleranceMs;
    const { log } = deps.reporter;
    if (log.enabled("debug")) log.debug({ ...this.fields(job), status: "InProgress", latenessMs }, "job started");

    let error: unknown = null;
    let threw = false;
    let started = false;
    try {
      if (halt.error) throw halt.error;
      const fn = deps.functions.get(job.function);
      if (!fn)
        throw new TickerQError(
          "UNKNOWN_FUNCTION",
          `function ${JSON.stringify(job.function)} is not registered on node ${deps.nodeId}`,
        );
      const ctx = this.context(job, fn, scheduledFor, startedAt, isDue, halt);
      started = true;
      if (deps.middleware.wrapsRun || fn.options.skipIfAlreadyRunning) {
        await deps.middleware.run(ctx, async () => {
          if (fn.options.skipIfAlreadyRunning) await ctx.skipIfAlreadyRunning();
          await call(fn, ctx, halt);
        });
      } else {
        // Awaited only if it returned a promise: a synchronous handler costs no extra turn.
        const result = call(fn, ctx, halt);
        if (isThenable(result)) await result;
      }
    } catch (caught) {
      threw = true;
      error = caught;
    } finally {
      this.ended(run, job.id);
    }

    const finishedAt = new Date(deps.clock.now());
    // The slot frees now; the outcome is written in the background.
    const outcome: AttemptOutcome = {
      started,
      error,
      threw,
      reason: run.reason,
      startedAt,
      finishedAt,
      scheduledFor,
      latenessMs,
      isDue,
    };
    this.writing.add(this.record(job, lease, outcome));
  }

  /** `run` ended; a newer run of the same job on this node (claimed again) keeps its entry. */
  private ended(run: { stop: RunStop }, id: string): void {
    if (this.running.get(id) === run) this.running.delete(id);
  }

  /**
   * Resolves at `due` (or on abort). A system timer only promises "not before": armed for the
   * exact millisecond it fires up to a couple of ms late (the event loop's cached time, the
   * poll timeout's rounding). So on the system clock it is armed a millisecond early and the
   * last stretch is checked on each turn of the event loop, which starts the job within the
   * millisecond it is due. A test clock fires exactly.
   */
  private until(due: number, stop: RunStop): Promise<void> {
    const { clock } = this.deps;
    const early = clock === systemClock ? 1 : 0;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (stop.aborted) return;
        if (clock.now() >= due) resolve();
        else setImmediate(check);
      };
      const timer = clock.setTimeout(early ? check : resolve, due - clock.now() - early);
      stop.onAbort(() => (clock.clearTimeout(timer), resolve()));
    });
  }

  /**
   * Resolves once no handler is due to start within `marginMs`: store work, which holds the
   * event loop for a moment (all of it on SQLite, whose driver is synchronous), waits until
   * the start has happened. Gives up after a few starts in a row, so a dense schedule delays
   * writes but never starves them. A start write names its own jobs (`own`): their handlers
   * wait for it, so it waits only for starts due well before theirs.
   */
  async clearOfStarts(marginMs: number, own: readonly string[] = []): Promise<void> {
    const { clock } = this.deps;
    // A job of the write with no instant ahead is due now, and so is the write.
    let deadline = Number.POSITIVE_INFINITY;
    for (const id of own) deadline = Math.min(deadline, this.fires.get(id) ?? Number.NEGATIVE_INFINITY);
    for (let round = 0; round < 4; round++) {
      const now = clock.now();
      const next = startToWaitOut(this.fires.values(), now, marginMs, deadline);
      if (next === null) return;
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

  /**
   * Writes how an attempt ended: released when stopped by this node's own trouble before or
   * instead of finishing, else a completion under the job's lease (batched).
   */
  private async record(job: JobRecord, lease: JobLease, outcome: AttemptOutcome): Promise<void> {
    const { deps } = this;
    const { error, threw, startedAt, finishedAt, scheduledFor, latenessMs, isDue, reason } = outcome;
    const elapsedMs = finishedAt.getTime() - startedAt.getTime();
    const interrupted = threw && !(error instanceof TerminateExecutionError);
    if (
      (reason === "shutdown" && interrupted) ||
      (!outcome.started && (reason === "fenced" || reason === "superseded"))
    ) {
      // Interrupted by shutdown, or stopped before it began: the job is not at fault; it runs
      // again, here or elsewhere, with no attempt used.
      deps.leases.closingWrite(lease);
      await deps.store.jobRelease({ leases: [lease], nodeId: deps.nodeId, now: finishedAt }).then(
        () => {
          this.emitChange(job, "Idle");
          deps.reporter.log.debug({ ...this.fields(job), status: "Idle", reason }, "job released");
        },
        (e) => deps.reporter.error(e, "release"),
      );
      deps.leases.forget(lease);
      return;
    }

    let status: FinalStatus | "Idle";
    let nextAt: Date | null = null;
    if (threw && error instanceof TerminateExecutionError) status = "Skipped";
    else if (reason === "cancel") status = "Cancelled";
    else if (reason === "fenced" && interrupted) {
      // This node lost the store mid-run: like a node that died, the run counts as a failed
      // attempt and the job runs again at once (if its lease was taken meanwhile, the store
      // keeps this only as a superseded attempt).
      status = "Idle";
      nextAt = finishedAt;
    } else if (threw) {
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
      leaseToken: lease.leaseToken,
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
        superseded: false,
      },
    };
    deps.stats.executed++;
    if (failed) deps.stats.failed++;
    // The write is batched: the lease keeps the job ours until the completion lands. Events
    // and hooks follow the write, so what they report is what the store holds.
    deps.leases.closingWrite(lease);
    await deps.completions.add(completion).then(
      ({ superseded }) => {
        if (superseded.includes(job.id)) this.superseded(job, completion);
        else this.announce(job, completion, { scheduledFor, startedAt, latenessMs, error: failed ? error : null });
      },
      (e) => deps.reporter.error(e, "completion"),
    );
    deps.leases.forget(lease);
  }

  /** The store refused this run's outcome: its lease had been taken over. */
  private superseded(job: JobRecord, completion: JobCompletion): void {
    const { deps } = this;
    deps.reporter.warn(
      `[tickerq ${deps.nodeId}] job ${job.id} (${job.function}): this node's run ended ${completion.attempt.status} ` +
        `after its lease was taken over; kept in the history as superseded, the job's state is the newer run's`,
      { jobId: job.id, function: job.function, attempt: job.retryCount, status: completion.attempt.status },
    );
    deps.events.emit("superseded", {
      id: job.id,
      type: job.type,
      function: job.function,
      cronTickerId: job.cronTickerId,
      nodeId: deps.nodeId,
      retryCount: job.retryCount,
      status: completion.attempt.status,
    });
  }

  private announce(
    job: JobRecord,
    completion: JobCompletion,
    run: { scheduledFor: Date; startedAt: Date; latenessMs: number; error: unknown },
  ): void {
    const { deps } = this;
    const { status } = completion;
    this.emitChange(job, status);
    const { log } = deps.reporter;
    const failedAttempt = status === "Idle" || status === "Failed";
    if (failedAttempt || log.enabled("debug")) {
      const fields = {
        ...this.fields(job),
        status,
        latenessMs: run.latenessMs,
        elapsedMs: completion.elapsedMs,
        ...(completion.retryAt ? { retryAt: completion.retryAt.toISOString() } : {}),
      };
      if (failedAttempt) {
        log.error(
          { ...fields, err: run.error },
          status === "Idle" ? "job attempt failed; retry scheduled" : "job failed",
        );
      } else log.debug(fields, "job completed");
    }
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
    const info = (): JobInfo => ({
      id: job.id,
      type: job.type,
      functionName: job.function,
      retryCount: job.retryCount,
      cronTickerId: job.cronTickerId,
      nodeId: deps.nodeId,
    });
    if (failedAttempt && deps.onException) {
      this.callHook("onException", () => deps.onException!(run.error, { ...info(), willRetry: status === "Idle" }));
    }
    if (status === "Cancelled" && deps.onCancelled) this.callHook("onCancelled", () => deps.onCancelled!(info()));
  }

  private context(
    job: JobRecord,
    fn: AnyFunctionDefinition,
    scheduledFor: Date,
    startedAt: Date,
    isDue: boolean,
    stop: RunStop,
  ): TickerContext<unknown> {
    const { deps } = this;
    return withSignal({
      id: job.id,
      type: job.type,
      functionName: fn.name,
      scheduledFor,
      retryCount: job.retryCount,
      retries: job.retries,
      startedAt,
      metadata: job.metadata ?? {},
      isDue,
      request: job.request === null ? undefined : JSON.parse(job.request),
      [RUN_STOP]: stop,
      cronTickerId: job.cronTickerId,
      parentId: job.parentId,
      nodeId: deps.nodeId,
      requestCancellation: () => {
        this.cancel(job.id, "cancel");
      },
      skipIfAlreadyRunning: async () => {
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
    });
  }

  /** The fields every lifecycle line of a job carries. */
  private fields(job: JobRecord) {
    return { jobId: job.id, function: job.function, attempt: job.retryCount, nodeId: this.deps.nodeId };
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
      Promise.resolve(hook()).catch((error) => this.deps.reporter.error(error, name));
    } catch (error) {
      this.deps.reporter.error(error, name);
    }
  }
}

/** Calls the handler; one that declares only `ctx` is not handed a signal it would never read. */
function call(fn: AnyFunctionDefinition, ctx: TickerContext<unknown>, stop: RunStop): unknown {
  return fn.handler.length === 1
    ? (fn.handler as (c: TickerContext<unknown>) => unknown)(ctx)
    : fn.handler(ctx, stop.signal);
}

/**
 * The instant of the next handler start (of `fires`) that store work due `now` should wait
 * out, or null: the soonest start within `marginMs`, unless it is not at least `marginMs`
 * before `deadline`, the instant by which the work must be done (its own jobs' start).
 */
function startToWaitOut(fires: Iterable<number>, now: number, marginMs: number, deadline: number): number | null {
  let next = Number.POSITIVE_INFINITY;
  for (const at of fires) if (at >= now && at < next) next = at;
  return next - now <= marginMs && next <= deadline - marginMs ? next : null;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === "function";
}

/**
 * The most of a handler error's message and details (its stack, with its causes') stored with
 * an attempt, in UTF-16 units: a longer text is cut, saying how much more there was. An error
 * carrying a whole response body (megabytes) made a completion batch too big for MySQL's
 * max_allowed_packet, and every job in it stayed InProgress while the write was retried.
 */
export const MAX_EXCEPTION_MESSAGE = 4_000;
export const MAX_EXCEPTION_DETAILS = 32_000;

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  // Never between the two halves of a surrogate pair.
  const cut = /[\uD800-\uDBFF]/.test(text[max - 1]!) ? max - 1 : max;
  return `${text.slice(0, cut)}… [cut: ${(text.length - cut).toLocaleString("en")} more characters]`;
}

function errorMessage(error: unknown): string {
  return storableText(clip(messageOf(error), MAX_EXCEPTION_MESSAGE));
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return String(error.message || error.name);
  if (typeof error === "string") return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function errorDetails(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  let details = String(error.stack ?? `${error.name}: ${error.message}`);
  let cause = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 5; depth++, cause = cause.cause) {
    details += `\nCaused by: ${cause.stack ?? cause.message}`;
  }
  return storableText(clip(details, MAX_EXCEPTION_DETAILS));
}
