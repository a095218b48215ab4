/** The record a store holds for a job just inserted: Idle, no attempt yet, nothing leased. */

import type { JobRecord, NewJob } from "./contract.js";

export function newJobRecord(job: NewJob): JobRecord {
  return newJobRecordWith(job, job.request);
}

/** The same record with `request` in another form, such as the value parsed from its JSON. */
export function newJobRecordWith<R>(job: NewJob, request: R): Omit<JobRecord, "request"> & { request: R } {
  // A literal, not a spread: this runs once per job on the bulk path.
  return {
    id: job.id,
    type: job.type,
    function: job.function,
    description: job.description,
    request,
    executionTime: job.executionTime,
    scheduledFor: job.executionTime,
    status: "Idle",
    priority: job.priority,
    retries: job.retries,
    retryIntervals: job.retryIntervals,
    retryCount: 0,
    lockHolder: null,
    lockedAt: null,
    leaseToken: 0,
    executedAt: null,
    elapsedMs: null,
    exceptionMessage: null,
    exceptionDetails: null,
    parentId: job.parentId,
    runCondition: job.runCondition,
    cronTickerId: job.cronTickerId,
    cancelRequested: false,
    metadata: job.metadata && { ...job.metadata },
    createdAt: job.createdAt,
    updatedAt: job.createdAt,
  };
}
