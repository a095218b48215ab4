/**
 * The Store contract over SQL, written once for SQLite, PostgreSQL and MySQL: it wires the
 * per-concern modules to a dialect, runs migrations at init, delivers signals after commit,
 * and gives every failure to reach the database one coded error (STORE_UNAVAILABLE, or
 * STORE_CLOSED after close()).
 */

import { TickerQError } from "../../errors.js";
import { consoleStoreLogger } from "../console-logger.js";
import type { RollupSpan, Store, StoreCapabilities, StoreInitOptions, StoreLogger, StoreSignal } from "../contract.js";
import * as aggregates from "./aggregates.js";
import { storeClosed } from "./connect-errors.js";
import type { SqlContext } from "./context.js";
import * as cron from "./cron-tickers.js";
import type { SqlDialect } from "./dialect.js";
import * as jobs from "./jobs.js";
import { jobClaimDue } from "./claim.js";
import * as leases from "./leases.js";
import { checkSchema, migrate } from "./migrator.js";
import type { MigrateResult } from "./migrator.js";
import * as nodes from "./nodes.js";
import { tableNames } from "./schema.js";
import { PROCESS_ORIGIN, busPublish, busSubscribe } from "./signal-bus.js";

export interface SqlStoreOptions {
  name: string;
  dialect: SqlDialect;
  /** Prefix of every table and index name. @default "tickerq_" */
  tablePrefix: string;
  /** PostgreSQL schema holding the tables; null for the connection's default. */
  schema: string | null;
  /** Apply pending migrations at `init()`. @default true */
  migrate: boolean;
  /** Identifies the database for in-process signal delivery (file, server, tables). */
  busKey: string;
}

/** What the SQL factories return: a Store plus `migrate()` for tools such as the CLI. */
export type SqlStoreHandle = Store & Pick<SqlStore, "migrate">;

/** Methods that run without the guard: close() and setLogger() must work when closed; these two return no promise; listen() is init()'s, which is guarded. */
const UNGUARDED = new Set(["constructor", "close", "setLogger", "signalSubscribe", "guard", "listen"]);

/** The longest a starting node's LISTEN connection waits for the node's first claim (ms). */
const LISTEN_DEFER_MS = 1000;

/** A promise and the function that settles it (idempotent). */
function settleable(): { settled: Promise<void>; settle: () => void } {
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  return { settled, settle };
}

export class SqlStore implements Store {
  readonly name: string;
  readonly capabilities: StoreCapabilities;
  private readonly ctx: SqlContext;
  private readonly options: SqlStoreOptions;
  private initialised: Promise<void> | null = null;
  private listening: Promise<void> | null = null;
  private closed = false;
  private log: StoreLogger = consoleStoreLogger;
  /**
   * Settles once this store's first claim is back, or LISTEN_DEFER_MS after a starting node's
   * init (a paused node claims nothing): its LISTEN connection opens then. Opened beside the
   * start's own round trips, that second new server process made the first job ~10 ms later
   * on 2 cores. Nothing is missed meanwhile: its first success tells the node to look again.
   */
  private readonly firstClaim = settleable();

  /**
   * The one wrapping point of every store method (each method of the class, whatever its
   * name, so a method added later is covered too): a call after close() rejects with
   * STORE_CLOSED; a failure to reach the database, at start or at any later call, with
   * STORE_UNAVAILABLE naming host and port and carrying the driver's error as `cause`.
   * Other errors (a constraint, a bad statement) reach the caller unchanged.
   */
  static {
    const methods = SqlStore.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(methods)) {
      const method = methods[name];
      if (typeof method !== "function" || UNGUARDED.has(name)) continue;
      methods[name] = function (this: SqlStore, ...args: unknown[]) {
        return this.guard(() => method.apply(this, args) as Promise<unknown>);
      };
    }
  }

  private guard<T>(call: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(storeClosed(this.name));
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending.catch((error: unknown) => {
      if (error instanceof TickerQError) throw error;
      // Closed while the call ran: the driver says "destroyed" or "pool ended"; the caller hears why.
      if (this.closed) throw storeClosed(this.name, error);
      throw this.ctx.dialect.connectionFailure(error) ?? error;
    });
  }

  constructor(options: SqlStoreOptions) {
    this.options = options;
    this.name = options.name;
    this.capabilities = options.dialect.capabilities;
    this.ctx = { dialect: options.dialect, t: tableNames(options.tablePrefix, options.schema) };
  }

  /** Applies pending migrations now, whatever `migrate` says; the CLI's entry point. */
  async migrate(onProgress?: (message: string) => void): Promise<MigrateResult> {
    await this.ctx.dialect.connect();
    return migrate(this.ctx, this.options.tablePrefix, onProgress);
  }

  init(options: StoreInitOptions = {}): Promise<void> {
    const background = options.awaitSignals === false;
    this.initialised ??= (async () => {
      // Awaited, the LISTEN connection opens beside the pool's first (each a new server
      // process, ~10-25 ms here), not after the schema check.
      await Promise.all([this.ctx.dialect.connect(), background ? null : this.listen(false)]);
      if (this.options.migrate) {
        await migrate(this.ctx, this.options.tablePrefix, undefined, (message) =>
          this.log.warn({ store: this.name }, message),
        );
      } else await checkSchema(this.ctx);
    })().catch((error: unknown) => {
      this.initialised = null;
      throw error;
    });
    if (!background) return this.initialised.then(async () => void (await this.listen(false)));
    // A node's start: it claims meanwhile; the dialect signals once it hears others.
    return this.initialised.then(() => {
      setTimeout(this.firstClaim.settle, LISTEN_DEFER_MS).unref();
      void this.listen(true)?.catch(() => {});
    });
  }

  /** Starts hearing other processes' signals, once: a retried init() keeps what it opened. */
  private listen(background: boolean): Promise<void> | null {
    this.listening ??=
      this.ctx.dialect
        .listen?.(
          (signal, origin) => {
            if (origin !== PROCESS_ORIGIN) busPublish(this.options.busKey, signal);
          },
          { background, after: this.firstClaim.settled },
        )
        .catch((error: unknown) => {
          this.listening = null;
          throw error;
        }) ?? null;
    return this.listening;
  }

  setLogger(logger: StoreLogger): void {
    this.log = logger;
    this.ctx.dialect.setLogger?.(logger);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ctx.dialect.close();
  }

  /** Delivers in this process at once, and to other processes when the dialect can. */
  private async emit(signals: readonly StoreSignal[]): Promise<void> {
    for (const signal of signals) {
      busPublish(this.options.busKey, signal);
      // Not awaited: the write is done; other processes hear of it a moment later, and a
      // lost broadcast only delays them until their poll.
      void this.ctx.dialect.broadcast?.(signal, PROCESS_ORIGIN).catch(() => {});
    }
  }

  private async withSignals<T>(fn: (signals: StoreSignal[]) => Promise<T>): Promise<T> {
    const signals: StoreSignal[] = [];
    const result = await fn(signals);
    await this.emit(signals);
    return result;
  }

  async jobInsertMany({ jobs: batch, tx }: Parameters<Store["jobInsertMany"]>[0]): Promise<void> {
    if (batch.length === 0) return;
    const due = jobs.dueSignal(batch);
    if (tx === undefined || tx === null) {
      const notify = due ? this.ctx.dialect.notifyExpression?.(due, PROCESS_ORIGIN) : undefined;
      await jobs.jobInsert(this.ctx, batch, null, notify);
      if (due && notify) busPublish(this.options.busKey, due);
      else if (due) await this.emit([due]);
      return;
    }
    const caller = this.ctx.dialect.callerExecutor(tx);
    await jobs.jobInsert(this.ctx, batch, caller);
    if (!due) return;
    if (this.ctx.dialect.broadcast) {
      // NOTIFY inside the caller's transaction: it reaches every node, this one included, on commit.
      await this.ctx.dialect.broadcast(due, "", caller);
    } else {
      // No commit hook here: wake local nodes now; if they look before the commit, their poll finds it.
      busPublish(this.options.busKey, due);
    }
  }

  jobGet({ id }: { id: string }) {
    return jobs.jobGet(this.ctx, this.ctx.dialect.db, id);
  }
  jobList(query: Parameters<Store["jobList"]>[0]) {
    return jobs.jobList(this.ctx, query);
  }
  jobCountByStatus(query: Parameters<Store["jobCountByStatus"]>[0]) {
    return jobs.jobCountByStatus(this.ctx, query);
  }
  async jobUpdateIdle({ id, patch, now }: Parameters<Store["jobUpdateIdle"]>[0]) {
    const result = await jobs.jobUpdateIdle(this.ctx, id, patch, now);
    if (result.ok && result.job.executionTime) await this.emit([{ type: "due", at: result.job.executionTime }]);
    return result;
  }
  async jobRequeue({ id, now }: { id: string; now: Date }) {
    const result = await jobs.jobRequeue(this.ctx, id, now);
    if (result.ok) await this.emit([{ type: "due", at: now }]);
    return result;
  }
  jobDeleteMany({ ids }: { ids: readonly string[] }) {
    return jobs.jobDeleteMany(this.ctx, ids);
  }
  jobNextDue() {
    return this.ctx.dialect.hotPath?.nextDue?.(this.ctx) ?? jobs.jobNextDue(this.ctx);
  }
  jobDueCountByFunction({ now }: Parameters<Store["jobDueCountByFunction"]>[0]) {
    return jobs.jobDueCountByFunction(this.ctx, now);
  }
  jobClaimDue(params: Parameters<Store["jobClaimDue"]>[0]) {
    const claimed = this.withSignals((s) => jobClaimDue(this.ctx, params, s));
    claimed.then(this.firstClaim.settle, this.firstClaim.settle);
    return claimed;
  }
  jobStartMany({ leases: held, nodeId, at }: Parameters<Store["jobStartMany"]>[0]) {
    return this.withSignals((s) => leases.jobStartMany(this.ctx, held, nodeId, at, s));
  }
  jobCompleteMany({ completions }: Parameters<Store["jobCompleteMany"]>[0]) {
    return this.withSignals((s) => leases.jobCompleteMany(this.ctx, completions, s));
  }
  jobRelease({ leases: held, nodeId, now }: Parameters<Store["jobRelease"]>[0]) {
    return this.withSignals((s) => leases.jobRelease(this.ctx, held, nodeId, now, s));
  }
  jobLeaseList({ nodeId }: Parameters<Store["jobLeaseList"]>[0]) {
    return leases.jobLeaseList(this.ctx, nodeId);
  }
  jobCancel({ id, now }: { id: string; now: Date }) {
    return this.withSignals((s) => leases.jobCancel(this.ctx, id, now, s));
  }
  jobCancelRequested({ nodeId }: { nodeId: string }) {
    return jobs.jobCancelRequested(this.ctx, nodeId);
  }
  jobRunningCount(params: Parameters<Store["jobRunningCount"]>[0]) {
    return jobs.jobRunningCount(this.ctx, params);
  }
  jobRecoverLeases(params: Parameters<Store["jobRecoverLeases"]>[0]) {
    return this.withSignals((s) => leases.jobRecoverLeases(this.ctx, params, s));
  }
  jobPurge({ before, limit }: { before: Date; limit: number }) {
    return jobs.jobPurge(this.ctx, before, limit);
  }
  attemptList({ jobId }: { jobId: string }) {
    return jobs.attemptList(this.ctx, jobId);
  }
  attemptLastNodes({ jobIds }: { jobIds: readonly string[] }) {
    return jobIds.length === 0 ? Promise.resolve({}) : jobs.attemptLastNodes(this.ctx, jobIds);
  }
  jobChildCounts({ parentIds }: { parentIds: readonly string[] }) {
    return parentIds.length === 0 ? Promise.resolve({}) : jobs.jobChildCounts(this.ctx, parentIds);
  }
  jobCountList() {
    return aggregates.jobCountList(this.ctx);
  }
  runRollupList({ span, from, to }: { span: RollupSpan; from: Date; to: Date }) {
    return aggregates.runRollupList(this.ctx, span, from, to);
  }
  aggregateCompact({ now }: { now: Date }) {
    return aggregates.aggregateCompact(this.ctx, now);
  }
  async searchCatchUp({ limit }: { limit: number }) {
    return (await this.ctx.dialect.searchCatchUp?.(this.ctx, limit)) ?? 0;
  }

  cronTickerInsert({ cronTicker }: Parameters<Store["cronTickerInsert"]>[0]) {
    return this.withSignals((s) => cron.cronTickerInsert(this.ctx, cronTicker, s));
  }
  cronTickerGet({ id }: { id: string }) {
    return cron.cronTickerGet(this.ctx, this.ctx.dialect.db, id);
  }
  cronTickerList(query: Parameters<Store["cronTickerList"]>[0]) {
    return cron.cronTickerList(this.ctx, query);
  }
  cronTickerUpdate({ id, patch, now }: Parameters<Store["cronTickerUpdate"]>[0]) {
    return this.withSignals((s) => cron.cronTickerUpdate(this.ctx, id, patch, now, s));
  }
  cronTickerDelete({ id }: { id: string }) {
    return this.withSignals((s) => cron.cronTickerDelete(this.ctx, id, s));
  }
  cronTickerSeed({ cronTickers, now }: Parameters<Store["cronTickerSeed"]>[0]) {
    return this.withSignals((s) => cron.cronTickerSeed(this.ctx, cronTickers, now, s));
  }
  occurrenceInsertMany({ occurrences }: Parameters<Store["occurrenceInsertMany"]>[0]) {
    return this.withSignals((s) => cron.occurrenceInsertMany(this.ctx, occurrences, s));
  }

  occurrenceLastEnded({ cronTickerIds }: Parameters<Store["occurrenceLastEnded"]>[0]) {
    return cronTickerIds.length === 0 ? Promise.resolve({}) : cron.occurrenceLastEnded(this.ctx, cronTickerIds);
  }

  nodeHeartbeat({ nodeId, at, info }: Parameters<Store["nodeHeartbeat"]>[0]) {
    return nodes.nodeHeartbeat(this.ctx, nodeId, at, info);
  }
  nodeList() {
    return nodes.nodeList(this.ctx);
  }
  nodeSetPaused({ nodeId, paused }: { nodeId: string; paused: boolean }) {
    return this.withSignals((s) => nodes.nodeSetPaused(this.ctx, nodeId, paused, s));
  }
  nodeRemove({ nodeId }: { nodeId: string }) {
    return nodes.nodeRemove(this.ctx, nodeId);
  }

  signalPublish(signal: StoreSignal): Promise<void> {
    return this.emit([signal]);
  }
  signalSubscribe(listener: (signal: StoreSignal) => void): () => void {
    if (this.closed) throw storeClosed(this.name);
    return busSubscribe(this.options.busKey, listener, (error) =>
      this.log.error({ store: this.name, err: error }, "tickerq: a store signal listener threw"),
    );
  }
}
