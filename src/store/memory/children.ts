/**
 * What happens to waiting children when their parent starts or ends: run conditions met
 * make them due at that instant, unmet ones skip them and their whole subtree.
 */

import { childRuns, type FinalStatus } from "../../lifecycle.js";
import type { JobRecord } from "../contract.js";
import type { MemoryState } from "./context.js";

/** The parent just started: its `InProgress` children become due. */
export function startChildren(s: MemoryState, parent: JobRecord, at: Date): void {
  for (const child of s.jobs.children(parent.id)) {
    if (child.status === "Idle" && child.runCondition === "InProgress") activate(s, child, at);
  }
}

/** The parent just ended with `status`: each waiting child runs or is skipped, by its run condition. */
export function settleChildren(s: MemoryState, parent: JobRecord, status: FinalStatus, at: Date): void {
  for (const child of s.jobs.children(parent.id)) {
    if (child.status !== "Idle" || child.executionTime !== null) continue;
    if (child.runCondition && childRuns(child.runCondition, status)) activate(s, child, at);
    else skipSubtree(s, child, at);
  }
}

/** A child whose condition is not met never runs, so neither does anything below it. */
function skipSubtree(s: MemoryState, job: JobRecord, at: Date): void {
  Object.assign(job, { status: "Skipped", updatedAt: at });
  for (const child of s.jobs.children(job.id)) if (child.status === "Idle") skipSubtree(s, child, at);
}

function activate(s: MemoryState, child: JobRecord, at: Date): void {
  Object.assign(child, { executionTime: at, scheduledFor: at, updatedAt: at });
  s.jobs.schedule(child);
  s.signals.emit({ type: "due", at });
}
