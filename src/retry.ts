/** Retry timing: when a failed attempt runs again. Nothing else computes it. */

/** Used when a job has retries but no intervals: 30 s doubling per attempt, capped at one hour. */
export function defaultRetryDelaySeconds(retryCount: number): number {
  return Math.min(30 * 2 ** retryCount, 3600);
}

/**
 * Seconds to wait before the retry that follows the attempt numbered `retryCount` (0 for the
 * first attempt): `intervals[retryCount]`, the last interval repeating.
 */
export function retryDelaySeconds(intervals: readonly number[] | null, retryCount: number): number {
  if (!intervals || intervals.length === 0) return defaultRetryDelaySeconds(retryCount);
  return intervals[Math.min(retryCount, intervals.length - 1)]!;
}

export function retryAt(now: number, intervals: readonly number[] | null, retryCount: number): Date {
  return new Date(now + Math.round(retryDelaySeconds(intervals, retryCount) * 1000));
}
