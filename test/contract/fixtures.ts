/** Builders and fixed instants shared by the store conformance suite: stores never read the clock, so neither do these. */

import { randomUUID } from "node:crypto";
import type {
  AttemptRecord,
  JobCompletion,
  JobLease,
  NewCronTicker,
  NewJob,
  NodeInfo,
  Store,
} from "../../src/store/contract.js";
import type { FinalStatus } from "../../src/lifecycle.js";

/** A fixed origin far from the real clock, so a store that reads the clock would show it. */
export const T0 = Date.parse("2030-01-01T00:00:00.000Z");

/** The instant `seconds` after T0 (fractions allowed, to check millisecond precision). */
export function at(seconds: number): Date {
  return new Date(T0 + seconds * 1000);
}

export function jobId(): string {
  return randomUUID();
}

export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    id: jobId(),
    type: "TimeTicker",
    function: "SendEmail",
    description: null,
    request: null,
    executionTime: at(0),
    priority: "Normal",
    retries: 0,
    retryIntervals: null,
    parentId: null,
    runCondition: null,
    cronTickerId: null,
    metadata: null,
    createdAt: at(-60),
    ...overrides,
  };
}

export function newCronTicker(overrides: Partial<NewCronTicker> = {}): NewCronTicker {
  return {
    id: jobId(),
    function: "Digest",
    expression: "0 0 9 * * *",
    timeZone: null,
    request: null,
    retries: 0,
    retryIntervals: null,
    description: null,
    priority: "Normal",
    enabled: true,
    seededBy: null,
    createdAt: at(-60),
    ...overrides,
  };
}

export function occurrence(cronTickerId: string, executionTime: Date, overrides: Partial<NewJob> = {}): NewJob {
  return newJob({ type: "CronTickerOccurrence", function: "Digest", cronTickerId, executionTime, ...overrides });
}

export function nodeInfo(overrides: Partial<NodeInfo> = {}): NodeInfo {
  return {
    maxConcurrency: 4,
    active: 0,
    longRunning: 0,
    paused: false,
    version: "test",
    executed: 0,
    failed: 0,
    ...overrides,
  };
}

/** A completion of an attempt that started at `startedAt` and ended at `finishedAt`. */
export function completion(
  id: string,
  nodeId: string,
  status: FinalStatus | "Idle",
  finishedAt: Date,
  options: { startedAt?: Date; retryAt?: Date | null; attempt?: number; error?: string; leaseToken?: number } = {},
): JobCompletion {
  const startedAt = options.startedAt ?? new Date(finishedAt.getTime() - 250);
  const elapsedMs = finishedAt.getTime() - startedAt.getTime();
  const attemptStatus: FinalStatus = status === "Idle" ? "Failed" : status;
  const attempt: AttemptRecord = {
    jobId: id,
    attempt: options.attempt ?? 0,
    status: attemptStatus,
    nodeId,
    startedAt,
    finishedAt,
    elapsedMs,
    exceptionMessage: options.error ?? null,
    exceptionDetails: options.error ? `Error: ${options.error}\n    at handler` : null,
    superseded: false,
  };
  return {
    id,
    nodeId,
    // A job claimed once carries lease 1.
    leaseToken: options.leaseToken ?? 1,
    status,
    retryAt: options.retryAt ?? null,
    finishedAt,
    elapsedMs,
    exceptionMessage: options.error ?? null,
    exceptionDetails: attempt.exceptionDetails,
    attempt,
  };
}

/** Claims everything due by `until` for `nodeId` and starts it: the usual path to InProgress. */
export async function claimAndStart(store: Store, nodeId: string, until: Date, now = until): Promise<string[]> {
  const claimed = await store.jobClaimDue({ nodeId, now, until, limit: 1000, longRunningLimit: 1000 });
  return store.jobStartMany({ leases: claimed, nodeId, at: now });
}

/** The leases the jobs carry now (a missing job gets a token no row has), as their holder knows them. */
export async function leasesOf(store: Store, ids: readonly string[]): Promise<JobLease[]> {
  return Promise.all(ids.map(async (id) => ({ id, leaseToken: (await store.jobGet({ id }))?.leaseToken ?? -1 })));
}

/** Resolves with the first signal the listener accepts; no timers, the signal is the event. */
export function nextSignal<S>(
  store: Store,
  accept: (signal: Parameters<Parameters<Store["signalSubscribe"]>[0]>[0]) => S | undefined,
): Promise<S> {
  return new Promise((resolve) => {
    const off = store.signalSubscribe((signal) => {
      const value = accept(signal);
      if (value !== undefined) {
        off();
        resolve(value);
      }
    });
  });
}
