/** Jobs outside the lease path: insert, read, list, count, edit, requeue, delete, purge, history. */

import { duplicateId } from "../../errors.js";
import { isFinal, TICKER_STATUSES, type TickerStatus } from "../../lifecycle.js";
import type { AttemptRecord, JobCount, JobQuery, JobRecord, Page, UpdateResult } from "../contract.js";
import { clone, earlier, paged, type MemoryState, type Params } from "./context.js";

/** All or nothing: every id is checked before the first job is stored. */
export function jobInsertMany(s: MemoryState, { jobs }: Params<"jobInsertMany">): void {
  const seen = new Set<string>();
  for (const job of jobs) {
    if (seen.has(job.id)) throw duplicateId(job.id, "appears twice in the batch");
    if (s.jobs.has(job.id)) throw duplicateId(job.id, "already exists");
    seen.add(job.id);
  }
  let earliest: Date | null = null;
  for (const job of jobs) {
    s.jobs.insert(job);
    earliest = earlier(earliest, job.executionTime);
  }
  if (earliest) s.signals.emit({ type: "due", at: earliest });
}

export function jobGet(s: MemoryState, { id }: Params<"jobGet">): JobRecord | null {
  const job = s.jobs.get(id);
  return job ? clone(job) : null;
}

export function jobList(s: MemoryState, query: Params<"jobList">): Page<JobRecord> {
  const matches = [...s.jobs.values()].filter((job) => matchesQuery(job, query));
  const key = query.orderBy ?? "executionTime";
  const sign = query.order === "asc" ? 1 : -1;
  // Jobs without a value last either way; ties by id in the same direction (as the SQL stores).
  const compare = (a: { value: Date | null; id: string }, b: { value: Date | null; id: string }) => {
    const x = a.value?.getTime() ?? Number.POSITIVE_INFINITY * sign;
    const y = b.value?.getTime() ?? Number.POSITIVE_INFINITY * sign;
    return x === y ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * sign : (x - y) * sign;
  };
  const entry = (job: JobRecord) => ({ value: job[key], id: job.id });
  matches.sort((a, b) => compare(entry(a), entry(b)));
  const after = query.after;
  const rest = after ? matches.filter((job) => compare(entry(job), after) > 0) : matches;
  const page = paged(rest, query);
  return { items: page.items, total: query.withTotal === false ? -1 : matches.length };
}

export function jobChildCounts(s: MemoryState, { parentIds }: Params<"jobChildCounts">): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of parentIds) {
    const n = s.jobs.children(id).length;
    if (n > 0) counts[id] = n;
  }
  return counts;
}

export function jobCountByStatus(s: MemoryState, query: Params<"jobCountByStatus">): Record<TickerStatus, number> {
  const counts = Object.fromEntries(TICKER_STATUSES.map((status) => [status, 0])) as Record<TickerStatus, number>;
  for (const job of s.jobs.values()) if (matchesQuery(job, query)) counts[job.status]++;
  return counts;
}

export function jobUpdateIdle(s: MemoryState, { id, patch, now }: Params<"jobUpdateIdle">): UpdateResult {
  const job = s.jobs.get(id);
  if (!job) return { ok: false, reason: "not-found" };
  if (job.status !== "Idle") return { ok: false, reason: "wrong-status", status: job.status };
  Object.assign(job, patch, { updatedAt: now });
  if (patch.executionTime && !job.cronTickerId) job.scheduledFor = patch.executionTime;
  s.jobs.schedule(job);
  if (patch.executionTime) s.signals.emit({ type: "due", at: patch.executionTime });
  return { ok: true, job: clone(job) };
}

export function jobRequeue(s: MemoryState, { id, now }: Params<"jobRequeue">): UpdateResult {
  const job = s.jobs.get(id);
  if (!job) return { ok: false, reason: "not-found" };
  if (job.status !== "Failed" && job.status !== "Cancelled" && job.status !== "Skipped") {
    return { ok: false, reason: "wrong-status", status: job.status };
  }
  Object.assign(job, {
    status: "Idle",
    executionTime: now,
    retryCount: 0,
    lockHolder: null,
    lockedAt: null,
    cancelRequested: false,
    updatedAt: now,
  });
  s.jobs.schedule(job);
  s.signals.emit({ type: "due", at: now });
  return { ok: true, job: clone(job) };
}

/** Deletes the jobs with all their descendants. */
export function jobDeleteMany(s: MemoryState, { ids }: Params<"jobDeleteMany">): number {
  let deleted = 0;
  const queue = [...ids];
  while (queue.length > 0) {
    const id = queue.pop()!;
    const job = s.jobs.get(id);
    if (!job) continue;
    for (const child of s.jobs.children(id)) queue.push(child.id);
    s.jobs.remove(job);
    deleted++;
  }
  return deleted;
}

export function jobNextDue(s: MemoryState): Date | null {
  return s.jobs.nextDue();
}

/** A walk of the jobs: the memory store holds what fits in one process; this runs once per metrics collection. */
export function jobDueCountByFunction(
  s: MemoryState,
  { now }: Params<"jobDueCountByFunction">,
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const job of s.jobs.values()) {
    if (job.status === "Idle" && job.executionTime !== null && job.executionTime <= now) {
      counts[job.function] = (counts[job.function] ?? 0) + 1;
    }
  }
  return counts;
}

/** Up to `limit` jobs that ended before `before` go, but none with a child still to run. */
export function jobPurge(s: MemoryState, { before, limit }: Params<"jobPurge">): number {
  const old = [...s.jobs.values()].filter(
    (job) => isFinal(job.status) && job.updatedAt < before && !hasPendingChildren(s, job.id),
  );
  for (const job of old.slice(0, limit)) s.jobs.remove(job);
  return Math.min(old.length, limit);
}

export function attemptList(s: MemoryState, { jobId }: Params<"attemptList">): AttemptRecord[] {
  return s.jobs.attemptsOf(jobId).map(clone);
}

function hasPendingChildren(s: MemoryState, id: string): boolean {
  return s.jobs.children(id).some((child) => !isFinal(child.status));
}

function matchesQuery(job: JobRecord, query: JobQuery): boolean {
  if (query.type !== undefined && job.type !== query.type) return false;
  if (query.status !== undefined) {
    const statuses: readonly TickerStatus[] = typeof query.status === "string" ? [query.status] : query.status;
    if (!statuses.includes(job.status)) return false;
  }
  if (query.function !== undefined && job.function !== query.function) return false;
  if (query.cronTickerId !== undefined && job.cronTickerId !== query.cronTickerId) return false;
  if (query.parentId !== undefined && job.parentId !== query.parentId) return false;
  if (query.from && (!job.executionTime || job.executionTime < query.from)) return false;
  if (query.to && (!job.executionTime || job.executionTime >= query.to)) return false;
  if (query.updatedSince && job.updatedAt <= query.updatedSince) return false;
  if (query.search) {
    // Each text on its own, as the SQL stores search: a match never spans two columns.
    const needle = query.search.toLowerCase();
    const texts = [job.id, job.function, job.description ?? "", query.searchRequest ? (job.request ?? "") : ""];
    if (!texts.some((text) => text.toLowerCase().includes(needle))) return false;
  }
  return true;
}

/** Counts per (type, function, status). The memory store counts by walking its jobs: it holds what fits in one process. */
export function jobCountList(s: MemoryState): JobCount[] {
  const counts = new Map<string, JobCount>();
  for (const job of s.jobs.values()) {
    const key = `${job.type}|${job.function}|${job.status}`;
    const entry = counts.get(key);
    if (entry) entry.count++;
    else counts.set(key, { type: job.type, function: job.function, status: job.status, count: 1 });
  }
  return [...counts.values()];
}
