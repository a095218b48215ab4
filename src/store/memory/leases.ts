/**
 * The lease path: claiming due jobs, starting, completing, releasing, cancelling and
 * recovering them, and the polls over held jobs. Every write checks that the job is still
 * held by the writer; the held set keeps the polls off the rest of the table.
 */

import { isFinal, PRIORITIES, type FinalStatus } from "../../lifecycle.js";
import type { CancelResult, JobLease, JobRecord } from "../contract.js";
import { settleChildren, startChildren } from "./children.js";
import { clone, earlier, type MemoryState, type Params } from "./context.js";

export function jobClaimDue(s: MemoryState, params: Params<"jobClaimDue">): JobRecord[] {
  const until = params.until.getTime();
  // Pick first, then lease: children started by these starts wait for the next claim.
  const picked: JobRecord[] = [];
  let slotted = 0;
  for (let rank = 0; rank < PRIORITIES.length; rank++) {
    const longRunning = PRIORITIES[rank] === "LongRunning";
    let room = longRunning ? params.longRunningLimit : params.limit - slotted;
    while (room-- > 0) {
      const job = s.jobs.takeDue(rank, until);
      if (!job) break;
      job.status = "Queued"; // at once: a duplicate heap entry for it is now stale
      picked.push(job);
      if (!longRunning) slotted++;
    }
  }
  const claimed: JobRecord[] = [];
  let starts = params.startLimit ?? 0;
  for (const job of picked) {
    Object.assign(job, {
      status: "Queued",
      lockHolder: params.nodeId,
      lockedAt: params.now,
      leaseToken: job.leaseToken + 1,
      updatedAt: params.now,
    });
    s.jobs.hold(job.id);
    const dueNow = job.executionTime! <= params.now;
    if (dueNow && (job.priority === "LongRunning" || starts-- > 0)) start(s, job, params.now);
    claimed.push(clone(job));
  }
  return claimed;
}

/** The job, while `nodeId` holds it under `lease`. */
function held(s: MemoryState, lease: JobLease, nodeId: string): JobRecord | undefined {
  const job = s.jobs.get(lease.id);
  if (!job || job.lockHolder !== nodeId || job.leaseToken !== lease.leaseToken) return undefined;
  return job.status === "Queued" || job.status === "InProgress" ? job : undefined;
}

export function jobStartMany(s: MemoryState, { leases, nodeId, at }: Params<"jobStartMany">): string[] {
  const started: string[] = [];
  for (const lease of leases) {
    const job = held(s, lease, nodeId);
    if (!job || job.status !== "Queued") continue;
    start(s, job, job.executionTime && job.executionTime > at ? job.executionTime : at);
    started.push(lease.id);
  }
  return started;
}

export function jobCompleteMany(s: MemoryState, { completions }: Params<"jobCompleteMany">): { superseded: string[] } {
  const superseded: string[] = [];
  for (const done of completions) {
    const job = held(s, done, done.nodeId);
    if (!job) {
      superseded.push(done.id);
      if (s.jobs.get(done.id)) s.jobs.appendAttempt({ ...done.attempt, superseded: true });
      continue;
    }
    s.jobs.appendAttempt(done.attempt);
    s.jobs.unhold(job.id);
    Object.assign(job, {
      elapsedMs: done.elapsedMs,
      exceptionMessage: done.exceptionMessage,
      exceptionDetails: done.exceptionDetails,
      lockHolder: null,
      lockedAt: null,
      cancelRequested: false,
      updatedAt: done.finishedAt,
    });
    if (done.status === "Idle") {
      job.status = "Idle";
      job.retryCount++;
      job.executionTime = done.retryAt ?? done.finishedAt;
      s.jobs.schedule(job);
      s.signals.emit({ type: "due", at: job.executionTime });
    } else {
      finish(s, job, done.status, done.finishedAt);
    }
  }
  return { superseded };
}

export function jobRelease(s: MemoryState, { leases, nodeId, now }: Params<"jobRelease">): void {
  let earliest: Date | null = null;
  for (const lease of leases) {
    const job = held(s, lease, nodeId);
    if (!job) continue;
    Object.assign(job, { status: "Idle", lockHolder: null, lockedAt: null, updatedAt: now });
    s.jobs.unhold(job.id);
    s.jobs.schedule(job);
    earliest = earlier(earliest, job.executionTime);
  }
  if (earliest) s.signals.emit({ type: "due", at: earliest });
}

export function jobLeaseList(s: MemoryState, { nodeId }: Params<"jobLeaseList">): JobLease[] {
  const leases: JobLease[] = [];
  for (const id of s.jobs.held) {
    const job = s.jobs.get(id)!;
    if (job.lockHolder === nodeId) leases.push({ id, leaseToken: job.leaseToken });
  }
  return leases;
}

export function jobCancel(s: MemoryState, { id, now }: Params<"jobCancel">): CancelResult {
  const job = s.jobs.get(id);
  if (!job) return "not-found";
  if (isFinal(job.status)) return "final";
  if (job.status === "InProgress") {
    Object.assign(job, { cancelRequested: true, updatedAt: now });
    s.signals.emit({ type: "cancel", id });
    return "requested";
  }
  const held = job.status === "Queued";
  Object.assign(job, { lockHolder: null, lockedAt: null });
  s.jobs.unhold(id);
  finish(s, job, "Cancelled", now);
  if (held) s.signals.emit({ type: "cancel", id }); // its holder drops it
  return "cancelled";
}

export function jobCancelRequested(s: MemoryState, { nodeId }: Params<"jobCancelRequested">): string[] {
  const ids: string[] = [];
  for (const id of s.jobs.held) {
    const job = s.jobs.get(id)!;
    if (job.cancelRequested && job.lockHolder === nodeId && job.status === "InProgress") ids.push(job.id);
  }
  return ids;
}

export function jobRunningCount(s: MemoryState, params: Params<"jobRunningCount">): number {
  let count = 0;
  const before = params.startedBefore;
  for (const id of s.jobs.held) {
    const job = s.jobs.get(id)!;
    if (job.status !== "InProgress" || job.id === params.excludeId) continue;
    if (before && job.executedAt) {
      const delta = job.executedAt.getTime() - before.at.getTime();
      if (delta > 0 || (delta === 0 && job.id >= before.id)) continue;
    }
    const same = params.cronTickerId ? job.cronTickerId === params.cronTickerId : job.function === params.function;
    if (same) count++;
  }
  return count;
}

export function jobRecoverLeases(s: MemoryState, params: Params<"jobRecoverLeases">): string[] {
  const named = new Map(params.deadNodes.map((dead) => [dead.nodeId, dead.heartbeatAt]));
  const isDead = (job: JobRecord) => {
    const node = s.nodes.get(job.lockHolder!);
    if (named.has(job.lockHolder!)) {
      const seen = named.get(job.lockHolder!);
      return !node || !seen || node.heartbeatAt.getTime() === seen.getTime();
    }
    return !node && params.orphanedBefore !== null && (job.lockedAt ?? params.now) < params.orphanedBefore;
  };
  const recovered: string[] = [];
  for (const id of [...s.jobs.held]) {
    const job = s.jobs.get(id)!;
    if ((job.status !== "Queued" && job.status !== "InProgress") || !job.lockHolder || !isDead(job)) {
      continue;
    }
    if (job.status === "InProgress") {
      const startedAt = job.executedAt ?? job.lockedAt ?? params.now;
      s.jobs.appendAttempt({
        jobId: job.id,
        attempt: job.retryCount,
        status: "Failed",
        nodeId: job.lockHolder,
        startedAt,
        finishedAt: params.now,
        elapsedMs: params.now.getTime() - startedAt.getTime(),
        exceptionMessage: `node ${job.lockHolder} stopped heartbeating during this attempt`,
        exceptionDetails: null,
        superseded: false,
      });
      job.retryCount++;
      job.exceptionMessage = `node ${job.lockHolder} stopped heartbeating during this attempt`;
    }
    Object.assign(job, { status: "Idle", lockHolder: null, lockedAt: null, updatedAt: params.now });
    s.jobs.unhold(job.id);
    s.jobs.schedule(job);
    recovered.push(job.id);
  }
  if (recovered.length > 0) s.signals.emit({ type: "due", at: params.now });
  return recovered;
}

/** Queued → InProgress, and the children that run with it become due. */
function start(s: MemoryState, job: JobRecord, at: Date): void {
  Object.assign(job, { status: "InProgress", executedAt: at, updatedAt: at });
  startChildren(s, job, at);
}

/** Ends a job and lets each waiting child run or be skipped, by its run condition. */
function finish(s: MemoryState, job: JobRecord, status: FinalStatus, at: Date): void {
  Object.assign(job, { status, updatedAt: at });
  settleChildren(s, job, status, at);
}
