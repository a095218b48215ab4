/** Checks the percentile arithmetic the benchmark tables are built on. */
import { describe, expect, it } from "vitest";
import { latenessOf, median, percentile, summarize } from "../bench/stats.js";

describe("bench stats", () => {
  it("interpolates percentiles between ranks", () => {
    const values = [10, 1, 4, 2, 3];
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(values, 50)).toBe(3);
    expect(percentile(values, 100)).toBe(10);
    expect(percentile(values, 75)).toBe(4);
    expect(percentile(values, 87.5)).toBe(7);
    expect(median([1, 2, 3, 4])).toBe(2.5);
  });

  it("handles empty and single inputs", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([7], 99)).toBe(7);
    expect(summarize([])).toBeNull();
  });

  it("summarizes repeats as median and range, ignoring non-finite values", () => {
    expect(summarize([3, Number.NaN, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
  });

  it("reports lateness percentiles and the maximum", () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    expect(latenessOf(values)).toEqual({ p50: 50, p95: 95, p99: 99, max: 100 });
  });
});
