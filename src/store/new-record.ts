/** The record a store holds for a job just inserted: Idle, no attempt yet, nothing leased. */

import type { JobRecord, NewJob } from "./contract.js";

export function newJobRecord(job: NewJob): JobRecord {
  return {
    ...job,
    scheduledFor: job.executionTime,
    status: "Idle",
    retryCount: 0,
    lockHolder: null,
    lockedAt: null,
    executedAt: null,
    elapsedMs: null,
    exceptionMessage: null,
    exceptionDetails: null,
    cancelRequested: false,
    updatedAt: job.createdAt,
  };
}
