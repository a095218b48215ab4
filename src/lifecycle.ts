/**
 * The states a job moves through, and the rules between them.
 *
 *   Idle ──claim──► Queued ──start──► InProgress ──► Done | DueDone | Failed | Cancelled | Skipped
 *     ▲                │                  │
 *     └── release ─────┘                  └── failed attempt with retries left: back to Idle at
 *         (shutdown, dead node)               now + retryIntervals[retryCount]
 *
 * DueDone: completed by an attempt that started on time (first attempt, within the due
 * tolerance). Done: completed late: after a restart, a backlog or a retry.
 */

export const TICKER_STATUSES = [
  "Idle",
  "Queued",
  "InProgress",
  "Done",
  "DueDone",
  "Failed",
  "Cancelled",
  "Skipped",
] as const;
export type TickerStatus = (typeof TICKER_STATUSES)[number];

export const FINAL_STATUSES = ["Done", "DueDone", "Failed", "Cancelled", "Skipped"] as const;
export type FinalStatus = (typeof FINAL_STATUSES)[number];

export function isFinal(status: TickerStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

/** High, Normal and Low order the work that waits for a slot; LongRunning runs outside the slots. */
export const PRIORITIES = ["High", "Normal", "Low", "LongRunning"] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Rank used for ordering claims: lower runs first. */
export const PRIORITY_RANK: Record<Priority, number> = { High: 0, Normal: 1, Low: 2, LongRunning: 3 };

export const RUN_CONDITIONS = [
  "OnSuccess",
  "OnFailure",
  "OnCancelled",
  "OnFailureOrCancelled",
  "OnAnyCompletedStatus",
  "InProgress",
] as const;
/** When a child runs, relative to its parent. `InProgress` starts it together with the parent. */
export type RunCondition = (typeof RUN_CONDITIONS)[number];

export type TickerType = "TimeTicker" | "CronTickerOccurrence";

/**
 * Whether a child with `condition` runs once its parent ended in `parentStatus`. Children
 * whose condition is not met end as Skipped, and so do their own children.
 */
export function childRuns(condition: RunCondition, parentStatus: FinalStatus): boolean {
  const succeeded = parentStatus === "Done" || parentStatus === "DueDone";
  switch (condition) {
    case "OnSuccess":
      return succeeded;
    case "OnFailure":
      return parentStatus === "Failed";
    case "OnCancelled":
      return parentStatus === "Cancelled";
    case "OnFailureOrCancelled":
      return parentStatus === "Failed" || parentStatus === "Cancelled";
    case "OnAnyCompletedStatus":
      return true;
    case "InProgress":
      return false; // already started with the parent
  }
}
