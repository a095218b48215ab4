/**
 * The memory store's job table: every job with its attempt history, and the indexes kept in
 * step with it (due heaps per priority, parent → children, the held set, occurrence keys).
 * Other modules change a job's fields in place, then call `schedule`, `hold`/`unhold` or
 * `remove` so that the indexes stay true; nothing else touches them.
 */

import { PRIORITIES, PRIORITY_RANK } from "../../lifecycle.js";
import type { AttemptRecord, JobRecord, NewJob } from "../contract.js";
import { RollupBook } from "../aggregates.js";
import { DueHeap, type DueEntry } from "../due-heap.js";
import { newJobRecord } from "../new-record.js";

/** An occurrence's identity for the (cronTickerId, scheduledFor) uniqueness rule. */
const occurrenceKey = (cronTickerId: string | null, at: Date | null) => `${cronTickerId}|${at?.getTime()}`;

export class JobTable {
  private readonly records = new Map<string, JobRecord>();
  private readonly attempts = new Map<string, AttemptRecord[]>();
  /** The key of every occurrence stored. */
  private readonly occurrenceKeys = new Set<string>();
  /** Idle jobs with a due time, one heap per priority rank: claims and next-due in O(log n). */
  private readonly due = PRIORITIES.map(() => new DueHeap());
  /** parent id → child ids, so children are found without a scan. */
  private readonly childrenOf = new Map<string, Set<string>>();
  /** Jobs leased to a node (Queued or InProgress): what recovery and cancel polls look at. */
  private readonly heldIds = new Set<string>();
  /** Finished runs per minute, hour and day, added to as attempts are appended. */
  readonly rollups = new RollupBook();

  get(id: string): JobRecord | undefined {
    return this.records.get(id);
  }

  has(id: string): boolean {
    return this.records.has(id);
  }

  values(): IterableIterator<JobRecord> {
    return this.records.values();
  }

  /** Stores a new job as Idle, indexed; the caller has checked that its id is free. */
  insert(job: NewJob): void {
    if (job.cronTickerId) this.occurrenceKeys.add(occurrenceKey(job.cronTickerId, job.executionTime));
    if (job.parentId) {
      const siblings = this.childrenOf.get(job.parentId) ?? new Set<string>();
      this.childrenOf.set(job.parentId, siblings.add(job.id));
    }
    const record = newJobRecord(job);
    this.schedule(record);
    this.records.set(job.id, record);
  }

  hasOccurrence(cronTickerId: string | null, at: Date | null): boolean {
    return this.occurrenceKeys.has(occurrenceKey(cronTickerId, at));
  }

  /** Deletes the job, its history and its index entries (its children stay; callers decide about them). */
  remove(job: JobRecord): void {
    this.records.delete(job.id);
    this.heldIds.delete(job.id);
    this.childrenOf.delete(job.id);
    if (job.parentId) this.childrenOf.get(job.parentId)?.delete(job.id);
    this.attempts.delete(job.id);
    if (job.cronTickerId && job.scheduledFor)
      this.occurrenceKeys.delete(occurrenceKey(job.cronTickerId, job.scheduledFor));
  }

  /** An Idle job with a due time enters its priority's heap (older entries go stale). */
  schedule(job: JobRecord): void {
    if (job.status === "Idle" && job.executionTime) {
      this.due[PRIORITY_RANK[job.priority]]!.push({ at: job.executionTime.getTime(), id: job.id });
    }
  }

  /** The earliest executionTime among Idle jobs, or null. */
  nextDue(): Date | null {
    let next: number | null = null;
    for (const [rank, heap] of this.due.entries()) {
      const top = heap.peek(this.isDue[rank]!);
      if (top && (next === null || top.at < next)) next = top.at;
    }
    return next === null ? null : new Date(next);
  }

  /**
   * Takes the earliest Idle job of this priority rank due by `until` (epoch ms) off its heap.
   * The caller must move it out of Idle at once: until then, a duplicate entry could return it again.
   */
  takeDue(rank: number, until: number): JobRecord | undefined {
    const heap = this.due[rank]!;
    const top = heap.peek(this.isDue[rank]!);
    if (!top || top.at > until) return undefined;
    heap.pop();
    return this.records.get(top.id)!;
  }

  /** Per priority rank: whether a heap entry still stands for an Idle job of that rank due at that time. */
  private readonly isDue = PRIORITIES.map((_, rank) => (entry: DueEntry): boolean => {
    const job = this.records.get(entry.id);
    return (
      !!job &&
      job.status === "Idle" &&
      job.executionTime?.getTime() === entry.at &&
      PRIORITY_RANK[job.priority] === rank
    );
  });

  children(parentId: string): JobRecord[] {
    const ids = this.childrenOf.get(parentId);
    return ids ? [...ids].map((id) => this.records.get(id)!).filter(Boolean) : [];
  }

  /** Ids of the jobs leased to a node, Queued or InProgress. */
  get held(): ReadonlySet<string> {
    return this.heldIds;
  }

  hold(id: string): void {
    this.heldIds.add(id);
  }

  unhold(id: string): void {
    this.heldIds.delete(id);
  }

  appendAttempt(attempt: AttemptRecord): void {
    const list = this.attempts.get(attempt.jobId) ?? [];
    list.push({ ...attempt });
    this.attempts.set(attempt.jobId, list);
    this.rollups.add(attempt, this.records.get(attempt.jobId) ?? null);
  }

  attemptsOf(jobId: string): readonly AttemptRecord[] {
    return this.attempts.get(jobId) ?? [];
  }
}
