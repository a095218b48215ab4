/** The JSON shapes the dashboard API answers with: records flattened for the browser. */

import type { AttemptRecord, CronTickerRecord, JobRecord, NodeRecord } from "../store/contract.js";
import { parseRequest } from "../records.js";

export interface JobView extends Omit<
  JobRecord,
  "request" | "executionTime" | "scheduledFor" | "lockedAt" | "executedAt" | "createdAt" | "updatedAt"
> {
  request: unknown;
  executionTime: string | null;
  scheduledFor: string | null;
  lockedAt: string | null;
  executedAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** executedAt − scheduledFor of the latest attempt, in ms. */
  latenessMs: number | null;
}

const iso = (date: Date | null) => (date ? date.toISOString() : null);

export function jobView(job: JobRecord | (Omit<JobRecord, "request"> & { request: unknown })): JobView {
  const request =
    typeof job.request === "string" || job.request === null ? parseRequest(job.request as string | null) : job.request;
  return {
    ...job,
    request,
    executionTime: iso(job.executionTime),
    scheduledFor: iso(job.scheduledFor),
    lockedAt: iso(job.lockedAt),
    executedAt: iso(job.executedAt),
    createdAt: job.createdAt.toISOString(),
    updatedAt: job.updatedAt.toISOString(),
    latenessMs: job.executedAt && job.scheduledFor ? job.executedAt.getTime() - job.scheduledFor.getTime() : null,
  };
}

export function attemptView(attempt: AttemptRecord) {
  return { ...attempt, startedAt: attempt.startedAt.toISOString(), finishedAt: attempt.finishedAt.toISOString() };
}

export function cronView(
  record: Omit<CronTickerRecord, "request"> & { request: unknown; nextOccurrence?: Date | null },
  description: string,
) {
  return {
    ...record,
    request: typeof record.request === "string" ? parseRequest(record.request) : record.request,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
    nextOccurrence: iso(record.nextOccurrence ?? null),
    description: record.description,
    summary: description,
  };
}

/**
 * A node is alive while its heartbeat is younger than the lease timeout. The node serving the
 * dashboard shows whether it is paused as it is now: its record says so only from its next
 * heartbeat, seconds after an operator paused or resumed it here.
 */
export function nodeView(
  node: NodeRecord,
  now: number,
  leaseTimeoutMs: number,
  self: { readonly nodeId: string; readonly paused: boolean },
) {
  const own = node.nodeId === self.nodeId;
  return {
    ...node,
    info: own ? { ...node.info, paused: self.paused } : node.info,
    startedAt: node.startedAt.toISOString(),
    heartbeatAt: node.heartbeatAt.toISOString(),
    alive: now - node.heartbeatAt.getTime() < leaseTimeoutMs,
    self: own,
  };
}
