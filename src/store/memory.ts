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
  return new MemoryStore(options.name ?? "memory");
}

// The methods are async only to honour the contract: a throw becomes a rejection, as with any store.
class MemoryStore implements Store {
  readonly capabilities = { signalsAcrossProcesses: false, callerTransactions: false, shared: false };
  private readonly s: MemoryState = {
    jobs: new JobTable(),
    cronTickers: new Map(),
    nodes: new Map(),
    signals: new SignalHub(),
  };

  constructor(readonly name: string) {}

  async init(): Promise<void> {}
  async close(): Promise<void> {}

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
  async jobPurge(params: Params<"jobPurge">) {
    return jobs.jobPurge(this.s, params);
  }
  async attemptList(params: Params<"attemptList">) {
    return jobs.attemptList(this.s, params);
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
