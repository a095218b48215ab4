/**
 * The in-memory store: tickerq's default. It keeps the whole contract in one process, so
 * several TickerQ instances sharing one memoryStore() behave like nodes sharing a database.
 * Nothing survives a restart; use a SQL store for that.
 *
 * This file wires the contract to the modules under memory/, one per concern: the job table
 * and its indexes (job-table.ts), jobs off the lease path (jobs.ts), the lease path
 * (leases.ts), children's run conditions (children.ts), cron tickers (cron-tickers.ts) and
 * nodes (nodes.ts). Every method does its work synchronously inside one call, so each is
 * atomic with respect to the others.
 */

import { TickerQError } from "../errors.js";
import type { Store, StoreSignal } from "./contract.js";
import type { MemoryState, Params } from "./memory/context.js";
import * as cron from "./memory/cron-tickers.js";
import { JobTable } from "./memory/job-table.js";
import * as jobs from "./memory/jobs.js";
import * as leases from "./memory/leases.js";
import * as nodes from "./memory/nodes.js";
import { SignalHub } from "./signals.js";

export interface MemoryStoreOptions {
  /** Name shown in logs and the dashboard. @default "memory" */
  name?: string;
}

export function memoryStore(options: MemoryStoreOptions = {}): Store {
  return detached(new MemoryStore(options.name ?? "memory"));
}

// The methods are async only to honour the contract: a throw becomes a rejection, as with any store.
class MemoryStore implements Store {
  readonly capabilities = { signalsAcrossProcesses: false, callerTransactions: false, shared: false };
  private closed = false;
  private readonly state: MemoryState = {
    jobs: new JobTable(),
    cronTickers: new Map(),
    nodes: new Map(),
    signals: new SignalHub(),
  };

  constructor(readonly name: string) {}

  /** Every method reaches the state through here, so after close() each one rejects with STORE_CLOSED. */
  private get s(): MemoryState {
    if (this.closed) throw new TickerQError("STORE_CLOSED", `the ${this.name} store is closed; create a new store`);
    return this.state;
  }

  async init(): Promise<void> {
    void this.s;
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  async jobInsertMany(params: Params<"jobInsertMany">) {
    return jobs.jobInsertMany(this.s, params);
  }
  async jobGet(params: Params<"jobGet">) {
    return jobs.jobGet(this.s, params);
  }
  async jobList(params: Params<"jobList">) {
    return jobs.jobList(this.s, params);
  }
  async jobCountByStatus(params: Params<"jobCountByStatus">) {
    return jobs.jobCountByStatus(this.s, params);
  }
  async jobUpdateIdle(params: Params<"jobUpdateIdle">) {
    return jobs.jobUpdateIdle(this.s, params);
  }
  async jobRequeue(params: Params<"jobRequeue">) {
    return jobs.jobRequeue(this.s, params);
  }
  async jobDeleteMany(params: Params<"jobDeleteMany">) {
    return jobs.jobDeleteMany(this.s, params);
  }
  async jobNextDue() {
    return jobs.jobNextDue(this.s);
  }
  async jobDueCountByFunction(params: Params<"jobDueCountByFunction">) {
    return jobs.jobDueCountByFunction(this.s, params);
  }
  async jobPurge(params: Params<"jobPurge">) {
    return jobs.jobPurge(this.s, params);
  }
  async attemptList(params: Params<"attemptList">) {
    return jobs.attemptList(this.s, params);
  }
  async attemptLastNodes({ jobIds }: Params<"attemptLastNodes">) {
    const nodes: Record<string, string> = {};
    for (const id of jobIds) {
      const last = this.s.jobs.attemptsOf(id).at(-1);
      if (last) nodes[id] = last.nodeId;
    }
    return nodes;
  }
  async occurrenceLastEnded(params: Params<"occurrenceLastEnded">) {
    return cron.occurrenceLastEnded(this.s, params);
  }
  async jobChildCounts(params: Params<"jobChildCounts">) {
    return jobs.jobChildCounts(this.s, params);
  }
  async jobCountList() {
    return jobs.jobCountList(this.s);
  }
  async runRollupList({ span, from, to }: Params<"runRollupList">) {
    return this.s.jobs.rollups.list(span, from, to);
  }
  async aggregateCompact({ now }: Params<"aggregateCompact">) {
    this.s.jobs.rollups.prune(now);
  }
  /** The memory store's search is a scan: nothing to index. */
  async searchCatchUp() {
    void this.s;
    return 0;
  }

  async jobClaimDue(params: Params<"jobClaimDue">) {
    return leases.jobClaimDue(this.s, params);
  }
  async jobStartMany(params: Params<"jobStartMany">) {
    return leases.jobStartMany(this.s, params);
  }
  async jobCompleteMany(params: Params<"jobCompleteMany">) {
    return leases.jobCompleteMany(this.s, params);
  }
  async jobRelease(params: Params<"jobRelease">) {
    return leases.jobRelease(this.s, params);
  }
  async jobLeaseList(params: Params<"jobLeaseList">) {
    return leases.jobLeaseList(this.s, params);
  }
  async jobCancel(params: Params<"jobCancel">) {
    return leases.jobCancel(this.s, params);
  }
  async jobCancelRequested(params: Params<"jobCancelRequested">) {
    return leases.jobCancelRequested(this.s, params);
  }
  async jobRunningCount(params: Params<"jobRunningCount">) {
    return leases.jobRunningCount(this.s, params);
  }
  async jobRecoverLeases(params: Params<"jobRecoverLeases">) {
    return leases.jobRecoverLeases(this.s, params);
  }

  async cronTickerInsert(params: Params<"cronTickerInsert">) {
    return cron.cronTickerInsert(this.s, params);
  }
  async cronTickerGet(params: Params<"cronTickerGet">) {
    return cron.cronTickerGet(this.s, params);
  }
  async cronTickerList(params: Params<"cronTickerList">) {
    return cron.cronTickerList(this.s, params);
  }
  async cronTickerUpdate(params: Params<"cronTickerUpdate">) {
    return cron.cronTickerUpdate(this.s, params);
  }
  async cronTickerDelete(params: Params<"cronTickerDelete">) {
    return cron.cronTickerDelete(this.s, params);
  }
  async cronTickerSeed(params: Params<"cronTickerSeed">) {
    return cron.cronTickerSeed(this.s, params);
  }
  async occurrenceInsertMany(params: Params<"occurrenceInsertMany">) {
    return cron.occurrenceInsertMany(this.s, params);
  }

  async nodeHeartbeat(params: Params<"nodeHeartbeat">) {
    return nodes.nodeHeartbeat(this.s, params);
  }
  async nodeList() {
    return nodes.nodeList(this.s);
  }
  async nodeSetPaused(params: Params<"nodeSetPaused">) {
    return nodes.nodeSetPaused(this.s, params);
  }
  async nodeRemove(params: Params<"nodeRemove">) {
    return nodes.nodeRemove(this.s, params);
  }

  async signalPublish(signal: StoreSignal): Promise<void> {
    this.s.signals.emit(signal);
  }
  signalSubscribe(listener: (signal: StoreSignal) => void): () => void {
    return this.s.signals.subscribe(listener);
  }
}

/**
 * The store as callers see it: every method takes a copy of its params and hands back a copy
 * of its result, Dates and arrays included, so that no object is shared between the store's
 * tables and its callers (a caller changing a returned record's Date, or the job it passed
 * in, must not change the stored job, as with any database). Copies are made here, at the
 * boundary, so the modules under memory/ may keep and return their own objects. Every method
 * of the contract is async but signalSubscribe, whose listener gets a copy of each signal.
 */
function detached(inner: MemoryStore): Store {
  const outer = Object.create(inner) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(MemoryStore.prototype)) {
    // The descriptor, not a read: a getter on the class must not run here.
    const method: unknown = Object.getOwnPropertyDescriptor(MemoryStore.prototype, name)?.value;
    if (name === "constructor" || typeof method !== "function") continue;
    outer[name] = async (params: unknown) => detach(await method.call(inner, detach(params)));
  }
  outer.signalSubscribe = (listener: (signal: StoreSignal) => void) =>
    inner.signalSubscribe((signal) => listener(detach(signal)));
  return outer as unknown as Store;
}

/** A copy of plain data: Dates, arrays and plain objects copied all the way down; anything else (a transaction, a function) as it is. */
function detach<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Array.isArray(value)) return value.map(detach) as T;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) copy[key] = detach((value as Record<string, unknown>)[key]);
  return copy as T;
}
