/** Retry timing: when a failed attempt runs again. Nothing else computes it. */

/** The longest retry interval accepted (one year): a longer one would park the job past any useful time. */
export const MAX_RETRY_INTERVAL_SECONDS = 365 * 24 * 3600;

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
  const seconds = intervals[Math.min(retryCount, intervals.length - 1)]!;
  // Rows written before intervals were bounded may hold anything; a retry still gets a real time.
  return Number.isFinite(seconds)
    ? Math.min(Math.max(seconds, 0), MAX_RETRY_INTERVAL_SECONDS)
    : defaultRetryDelaySeconds(retryCount);
}

export function retryAt(now: number, intervals: readonly number[] | null, retryCount: number): Date {
  return new Date(now + Math.round(retryDelaySeconds(intervals, retryCount) * 1000));
}
