/**
 * The Store contract: everything the engine asks of a backend. Memory, SQLite, PostgreSQL
 * and MySQL implement it, and one conformance suite (test/contract/) runs against each.
 *
 * Rules every store keeps:
 * - The engine passes every instant (`now`, `at`): a store never reads the clock, so a test
 *   clock drives stores as well as the engine.
 * - Writes that belong together are atomic: a batch insert is all or nothing; a completion
 *   updates the job, appends its attempt and releases or skips its children in one step.
 * - Work is leased: a claim records `lockHolder`/`lockedAt` and increments the job's
 *   `leaseToken`, the lease's fencing token. The holder's later writes (start, completion,
 *   release) name the token and apply only while the job still carries it: a node whose lease
 *   was recovered, even one that claimed the same job again since, changes nothing with a
 *   stale write.
 * - Requests are stored as the JSON text the engine produced; a store never parses them.
 * - Methods are named noun-first and take one params object, so the interface reads by entity.
 */

import type { FinalStatus, Priority, RunCondition, TickerStatus, TickerType } from "../lifecycle.js";
import type { JobCount, RollupSpan, RunRollup } from "./aggregates.js";

export type { JobCount, RollupSpan, RunRollup } from "./aggregates.js";

/** One job: a time ticker, or one occurrence of a cron ticker. */
export interface JobRecord {
  id: string;
  type: TickerType;
  function: string;
  description: string | null;
  /** The request as JSON text, or null when there is none. */
  request: string | null;
  /** When the job is due. Null for a child that waits for its parent. */
  executionTime: Date | null;
  /**
   * The intended time: set when the job first becomes due (insert, or a child's activation);
   * retries and requeues keep it. For an occurrence it is the cron instant, never changed,
   * and (cronTickerId, scheduledFor) is unique.
   */
  scheduledFor: Date | null;
  status: TickerStatus;
  priority: Priority;
  /** How many retries after the first attempt. */
  retries: number;
  /** Seconds to wait before each retry; the last repeats. Null: the default backoff. */
  retryIntervals: number[] | null;
  /** Attempts made before the current one (0 on the first attempt). */
  retryCount: number;
  lockHolder: string | null;
  lockedAt: Date | null;
  /** How many times the job was claimed: the fencing token of its current (or last) lease. */
  leaseToken: number;
  /** When the latest attempt's handler started. */
  executedAt: Date | null;
  elapsedMs: number | null;
  exceptionMessage: string | null;
  exceptionDetails: string | null;
  parentId: string | null;
  runCondition: RunCondition | null;
  cronTickerId: string | null;
  /** Set by a cancel of a running job; the node running it aborts it. */
  cancelRequested: boolean;
  /** Written by enqueue middleware (trace context and the like); null when none (migration 4). */
  metadata: Record<string, string> | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What the engine inserts; the store fills status Idle, counters and timestamps. */
export interface NewJob {
  id: string;
  type: TickerType;
  function: string;
  description: string | null;
  request: string | null;
  executionTime: Date | null;
  priority: Priority;
  retries: number;
  retryIntervals: number[] | null;
  parentId: string | null;
  runCondition: RunCondition | null;
  cronTickerId: string | null;
  /** Stored as given (the engine checked its size); null when none. */
  metadata: Record<string, string> | null;
  createdAt: Date;
}

/** The outcome of one attempt, as kept in the job's history. */
export interface AttemptRecord {
  jobId: string;
  /** The job's retryCount during this attempt. */
  attempt: number;
  status: FinalStatus;
  nodeId: string;
  startedAt: Date;
  finishedAt: Date;
  elapsedMs: number;
  exceptionMessage: string | null;
  exceptionDetails: string | null;
  /**
   * The run ended after its lease had been taken over (its node was paused or cut off past
   * the lease timeout): it happened, but its outcome changed nothing.
   */
  superseded: boolean;
}

/** One lease: the job and the fencing token its claim returned. */
export interface JobLease {
  id: string;
  leaseToken: number;
}

/**
 * The end of an attempt. `status: "Idle"` schedules a retry at `retryAt` (retryCount + 1);
 * a final status ends the job and releases or skips its children.
 */
export interface JobCompletion {
  id: string;
  nodeId: string;
  /** The lease the attempt ran under: the completion applies only while the job still carries it. */
  leaseToken: number;
  status: FinalStatus | "Idle";
  retryAt: Date | null;
  finishedAt: Date;
  elapsedMs: number;
  exceptionMessage: string | null;
  exceptionDetails: string | null;
  /** The attempt to append to the history. */
  attempt: AttemptRecord;
}

export interface CronTickerRecord {
  id: string;
  function: string;
  /** 5 or 6 fields (seconds first when 6). */
  expression: string;
  /** IANA zone; null means UTC. */
  timeZone: string | null;
  request: string | null;
  retries: number;
  retryIntervals: number[] | null;
  description: string | null;
  priority: Priority;
  enabled: boolean;
  /** Set for cron tickers seeded from a function's `cron` option: the function name. */
  seededBy: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewCronTicker = Omit<CronTickerRecord, "updatedAt">;

export type CronTickerPatch = Partial<
  Pick<
    CronTickerRecord,
    "expression" | "timeZone" | "request" | "retries" | "retryIntervals" | "description" | "priority" | "enabled"
  >
>;

export type JobPatch = Partial<
  Pick<JobRecord, "executionTime" | "request" | "description" | "retries" | "retryIntervals" | "priority">
>;

export interface NodeRecord {
  nodeId: string;
  startedAt: Date;
  heartbeatAt: Date;
  /** Asked of the node by an operator (dashboard); the node follows at its next heartbeat. */
  paused: boolean;
  /** What the node reports about itself: concurrency, slots in use, version. */
  info: NodeInfo;
}

export interface NodeInfo {
  maxConcurrency: number;
  active: number;
  longRunning: number;
  paused: boolean;
  version: string;
  /** Jobs this node executed since it started, and how many of those failed. */
  executed: number;
  failed: number;
}

export interface JobQuery {
  type?: TickerType;
  status?: TickerStatus | readonly TickerStatus[];
  function?: string;
  cronTickerId?: string;
  /** `null`: only jobs without a parent. */
  parentId?: string | null;
  /** Bounds on executionTime (from inclusive, to exclusive). */
  from?: Date;
  to?: Date;
  /** Case-insensitive substring of id, function or description. */
  search?: string;
  /** With `search`, also look in the request's JSON text (a scan of the matches). @default false */
  searchRequest?: boolean;
  /** Only jobs changed after this instant (live views poll with it). */
  updatedSince?: Date;
  /** Sort key; default executionTime. Jobs without executionTime sort last. */
  orderBy?: "executionTime" | "updatedAt" | "createdAt";
  /** Newest first by default. */
  order?: "asc" | "desc";
  limit?: number;
  offset?: number;
  /**
   * Keyset pagination: only jobs after this one in the query's order, named by the sort value
   * and id the previous page's last job had. Unlike an offset it costs the same at any depth.
   */
  after?: { value: Date | null; id: string };
  /** Count `total` (which visits every match); false answers total -1. @default true */
  withTotal?: boolean;
}

export interface CronTickerQuery {
  function?: string;
  enabled?: boolean;
  limit?: number;
  offset?: number;
}

export interface Page<T> {
  items: T[];
  total: number;
}

/** Messages between nodes. Stores with `signalsAcrossProcesses` deliver them to every node. */
export type StoreSignal =
  /** Idle work became due at `at` (insert, update, retry, release, child activation). */
  | { type: "due"; at: Date }
  /** A running job was asked to cancel, or a job a node holds Queued was cancelled: its holder drops it. */
  | { type: "cancel"; id: string }
  /** Cron tickers changed: nodes reload them. */
  | { type: "cron" }
  /** An operator paused or resumed a node. */
  | { type: "node"; nodeId: string };

export type CancelResult = "cancelled" | "requested" | "not-found" | "final";

export type UpdateResult =
  | { ok: true; job: JobRecord }
  | { ok: false; reason: "not-found" }
  | { ok: false; reason: "wrong-status"; status: TickerStatus };

export interface StoreInitOptions {
  /**
   * false: resolve once the store can be used, with the connection that hears other
   * processes' signals still opening (a node's start: one connection fewer opened at once on
   * the way to its first claim). Once that connection is up, the store signals `due` at the
   * epoch, so that what was announced meanwhile is looked at. @default true
   */
  awaitSignals?: boolean;
}

export interface StoreCapabilities {
  /** Signals reach other processes (PostgreSQL NOTIFY). Without it, nodes also poll. */
  signalsAcrossProcesses: boolean;
  /** `jobInsertMany` accepts the caller's transaction (`{ tx }`). */
  callerTransactions: boolean;
  /** Several processes may share the store. */
  shared: boolean;
  /**
   * Without signals across processes, the store still wakes a node soon after another
   * process writes (SQLite's watch on its WAL file), so nodes need not go looking. @default false
   */
  wakesOnOtherWrites?: boolean;
}

/** Where a store reports what it recovers from by itself: the node's logger, in pino's shape. */
export interface StoreLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface Store {
  readonly name: string;
  readonly capabilities: StoreCapabilities;

  /**
   * Connects and, unless the store was told not to, applies migrations. Idempotent. It also
   * opens what hears other processes' signals (PostgreSQL's LISTEN connection) and by default
   * waits for it; see StoreInitOptions.
   */
  init(options?: StoreInitOptions): Promise<void>;
  close(): Promise<void>;
  /**
   * Optional: where the store reports what it recovers from on its own (a dropped pooled
   * connection, its LISTEN connection lost and back, a signal listener that threw). Each node
   * passes its `logger` when it is created (several nodes on one store: the last one's is
   * used); a store used alone writes to console. Synchronous; works after close() too.
   */
  setLogger?(logger: StoreLogger): void;

  /** All or nothing. Emits a `due` signal for the earliest executionTime inserted. */
  jobInsertMany(params: { jobs: readonly NewJob[]; tx?: unknown }): Promise<void>;
  jobGet(params: { id: string }): Promise<JobRecord | null>;
  jobList(params: JobQuery): Promise<Page<JobRecord>>;
  jobCountByStatus(params: Pick<JobQuery, "type" | "cronTickerId" | "function">): Promise<Record<TickerStatus, number>>;
  /** Applies the patch only while the job is Idle. A new executionTime of a time ticker also moves its scheduledFor. */
  jobUpdateIdle(params: { id: string; patch: JobPatch; now: Date }): Promise<UpdateResult>;
  /**
   * Puts a Failed, Cancelled or Skipped job back to Idle, due at `now`, its history kept and
   * its retryCount reset to 0 (an operator's retry starts a fresh set of attempts).
   */
  jobRequeue(params: { id: string; now: Date }): Promise<UpdateResult>;
  /** Deletes the jobs, their descendants and their history. Returns how many jobs went. */
  jobDeleteMany(params: { ids: readonly string[] }): Promise<number>;

  /** The earliest executionTime among Idle jobs, or null. */
  jobNextDue(): Promise<Date | null>;
  /** How many Idle jobs are due by `now`, by function (functions with none are absent). One query. */
  jobDueCountByFunction(params: { now: Date }): Promise<Record<string, number>>;
  /**
   * Leases Idle jobs due by `until` to `nodeId` (status Queued): up to `limit` jobs of
   * High/Normal/Low priority, highest priority then earliest first, and up to
   * `longRunningLimit` LongRunning jobs. Jobs leased by one call are never leased by another.
   * The first `startLimit` High/Normal/Low jobs due by `now`, and every LongRunning job due
   * by `now`, start at once: InProgress with executedAt = now (as jobStartMany would do),
   * saving the node a write. Returned best first.
   */
  jobClaimDue(params: {
    nodeId: string;
    now: Date;
    until: Date;
    limit: number;
    longRunningLimit: number;
    startLimit?: number;
  }): Promise<JobRecord[]>;
  /**
   * Moves jobs this node holds under these leases from Queued to InProgress (executedAt = the
   * later of `at` and the job's executionTime: a job started ahead runs at its due instant)
   * and starts their `InProgress` children. Returns the ids that started; the others were
   * cancelled, deleted or recovered meanwhile and must not run.
   */
  jobStartMany(params: { leases: readonly JobLease[]; nodeId: string; at: Date }): Promise<string[]>;
  /**
   * Applies completions whose lease the job still carries. A completion whose lease is stale
   * changes nothing but its attempt, appended with `superseded: true` (while the job exists);
   * its id is returned in `superseded`.
   */
  jobCompleteMany(params: { completions: readonly JobCompletion[] }): Promise<{ superseded: string[] }>;
  /** Returns jobs this node holds under these leases to Idle, keeping their executionTime and retryCount. */
  jobRelease(params: { leases: readonly JobLease[]; nodeId: string; now: Date }): Promise<void>;
  /** The leases `nodeId` holds in the store (Queued or InProgress), for the node to reconcile with what it runs. */
  jobLeaseList(params: { nodeId: string }): Promise<JobLease[]>;
  /**
   * Idle or Queued: Cancelled at once (children follow their run conditions); for Queued a
   * `cancel` signal tells the holder to drop it. InProgress: marked cancelRequested, and a
   * `cancel` signal sent.
   */
  jobCancel(params: { id: string; now: Date }): Promise<CancelResult>;
  /** Ids of jobs `nodeId` runs that were asked to cancel (for stores without signals). */
  jobCancelRequested(params: { nodeId: string }): Promise<string[]>;
  /**
   * How many jobs other than `excludeId` are InProgress for this cron ticker (or, when
   * cronTickerId is null, for this function). With `startedBefore`, only those that started
   * earlier (executedAt < at, or the same instant and a smaller id), so that two runs
   * starting together do not both skip.
   */
  jobRunningCount(params: {
    cronTickerId: string | null;
    function: string;
    excludeId: string;
    startedBefore?: { at: Date; id: string };
  }): Promise<number>;
  /**
   * Recovers the work leased by dead nodes: each of `deadNodes` whose heartbeat is still the
   * one the caller saw (`heartbeatAt`; null: whatever it is), and holders with no node record
   * that leased before `orphanedBefore`. Queued goes back to Idle; InProgress goes back to Idle
   * as a new attempt (retryCount + 1, the lost attempt kept as Failed). Returns the recovered ids.
   */
  jobRecoverLeases(params: {
    now: Date;
    deadNodes: readonly { nodeId: string; heartbeatAt: Date | null }[];
    orphanedBefore: Date | null;
  }): Promise<string[]>;
  /** Deletes up to `limit` jobs that ended before `before` (with their history). */
  jobPurge(params: { before: Date; limit: number }): Promise<number>;

  attemptList(params: { jobId: string }): Promise<AttemptRecord[]>;
  /** The node of each job's latest attempt (jobs never run are left out): who ran it last. */
  attemptLastNodes(params: { jobIds: readonly string[] }): Promise<Record<string, string>>;

  /**
   * Job counts per (type, function, status), from counters the store keeps as jobs change:
   * never a scan of the jobs. Groups without jobs may be left out.
   */
  jobCountList(): Promise<JobCount[]>;
  /** How many children each of these jobs has; jobs without children are left out. */
  jobChildCounts(params: { parentIds: readonly string[] }): Promise<Record<string, number>>;
  /**
   * Finished runs per bucket of `span`, by function and status, for buckets starting in
   * [from, to), from the rollup the store keeps as attempts are written (superseded attempts
   * left out). Ordered by bucket, function, status.
   */
  runRollupList(params: { span: RollupSpan; from: Date; to: Date }): Promise<RunRollup[]>;
  /**
   * Housekeeping of the aggregates: folds pending increments into the totals and drops rollup
   * buckets older than their span's retention (ROLLUP_RETENTION_MS) before `now`. Reads are
   * exact without it; it keeps them cheap. Safe on several nodes at once.
   */
  aggregateCompact(params: { now: Date }): Promise<void>;
  /**
   * Housekeeping of the search: indexes up to `limit` jobs that were written since the last
   * call and not indexed on insert (PostgreSQL: migration 9's backlog); returns how many.
   * Searches find the same jobs without it; it keeps them fast. Safe on several nodes at once.
   * A store that indexes on insert returns 0.
   */
  searchCatchUp(params: { limit: number }): Promise<number>;

  cronTickerInsert(params: { cronTicker: NewCronTicker }): Promise<void>;
  cronTickerGet(params: { id: string }): Promise<CronTickerRecord | null>;
  cronTickerList(params: CronTickerQuery): Promise<Page<CronTickerRecord>>;
  /** Updates the ticker and deletes its Idle occurrences (they are re-planned). */
  cronTickerUpdate(params: { id: string; patch: CronTickerPatch; now: Date }): Promise<CronTickerRecord | null>;
  /** Deletes the ticker with its occurrences. */
  cronTickerDelete(params: { id: string }): Promise<boolean>;
  /**
   * Inserts or updates the tickers seeded from functions' `cron` options, keyed by
   * `seededBy`; safe when several nodes seed at once. Idle occurrences of a ticker whose
   * expression changed are deleted.
   */
  cronTickerSeed(params: { cronTickers: readonly NewCronTicker[]; now: Date }): Promise<CronTickerRecord[]>;
  /**
   * Inserts occurrences (executionTime = scheduledFor = the cron instant), ignoring any whose
   * (cronTickerId, scheduledFor) exists already. Returns how many were inserted.
   */
  occurrenceInsertMany(params: { occurrences: readonly NewJob[] }): Promise<number>;
  /**
   * Of each cron ticker, the occurrence that ended last (greatest updatedAt, then id); tickers
   * with none ended are left out. One read for the whole list, not one per ticker.
   */
  occurrenceLastEnded(params: { cronTickerIds: readonly string[] }): Promise<Record<string, JobRecord>>;

  /** Records this node's heartbeat; returns whether an operator asked it to pause. */
  nodeHeartbeat(params: { nodeId: string; at: Date; info: NodeInfo }): Promise<{ paused: boolean }>;
  nodeList(): Promise<NodeRecord[]>;
  nodeSetPaused(params: { nodeId: string; paused: boolean }): Promise<boolean>;
  nodeRemove(params: { nodeId: string }): Promise<void>;

  signalPublish(signal: StoreSignal): Promise<void>;
  /** Listeners run for signals from this and (with signalsAcrossProcesses) other nodes. */
  signalSubscribe(listener: (signal: StoreSignal) => void): () => void;
}
