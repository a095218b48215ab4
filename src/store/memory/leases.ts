/**
 * The lease path: claiming due jobs, starting, completing, releasing, cancelling and
 * recovering them, and the polls over held jobs. Every write checks that the job is still
 * held by the writer; the held set keeps the polls off the rest of the table.
 */

import { isFinal, PRIORITIES, type FinalStatus } from "../../lifecycle.js";
import type { CancelResult, JobRecord } from "../contract.js";
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
    Object.assign(job, { status: "Queued", lockHolder: params.nodeId, lockedAt: params.now, updatedAt: params.now });
    s.jobs.hold(job.id);
    const dueNow = job.executionTime! <= params.now;
    if (dueNow && (job.priority === "LongRunning" || starts-- > 0)) start(s, job, params.now);
    claimed.push(clone(job));
  }
  return claimed;
}

export function jobStartMany(s: MemoryState, { ids, nodeId, at }: Params<"jobStartMany">): string[] {
  const started: string[] = [];
  for (const id of ids) {
    const job = s.jobs.get(id);
    if (!job || job.status !== "Queued" || job.lockHolder !== nodeId) continue;
    start(s, job, at);
    started.push(id);
  }
  return started;
}

export function jobCompleteMany(s: MemoryState, { completions }: Params<"jobCompleteMany">): void {
  for (const done of completions) {
    const job = s.jobs.get(done.id);
    if (!job || job.lockHolder !== done.nodeId || (job.status !== "InProgress" && job.status !== "Queued")) continue;
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
}

export function jobRelease(s: MemoryState, { ids, nodeId, now }: Params<"jobRelease">): void {
  let earliest: Date | null = null;
  for (const id of ids) {
    const job = s.jobs.get(id);
    if (!job || job.lockHolder !== nodeId || isFinal(job.status)) continue;
    Object.assign(job, { status: "Idle", lockHolder: null, lockedAt: null, updatedAt: now });
    s.jobs.unhold(id);
    s.jobs.schedule(job);
    earliest = earlier(earliest, job.executionTime);
  }
  if (earliest) s.signals.emit({ type: "due", at: earliest });
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
  const dead = new Set(params.deadNodeIds ?? []);
  const isDead = (nodeId: string) => {
    if (dead.has(nodeId)) return true;
    const node = s.nodes.get(nodeId);
    return !node || node.heartbeatAt < params.staleBefore;
  };
  const recovered: string[] = [];
  for (const id of [...s.jobs.held]) {
    const job = s.jobs.get(id)!;
    if ((job.status !== "Queued" && job.status !== "InProgress") || !job.lockHolder || !isDead(job.lockHolder)) {
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
