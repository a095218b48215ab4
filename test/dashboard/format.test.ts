/** The dashboard's duration formatter: seconds, minutes, hours and days in their own units ("1109m 26s" was 18h 29m). */

import { describe, expect, it, vi } from "vitest";

// format.ts reads the display zone from the app state, which needs a browser; durations need neither.
vi.mock("../../dashboard-ui/src/lib/state", () => ({ state: { timeZone: "UTC" } }));
// A path tsc does not follow: the UI compiles under its own config (bundler resolution).
const FORMAT = "../../dashboard-ui/src/lib/format.js";
const { duration } = (await import(FORMAT)) as { duration: (ms: number | null | undefined) => string };

describe("duration", () => {
  it.each([
    [null, "—"],
    [undefined, "—"],
    [0, "0 ms"],
    [999, "999 ms"],
    [1000, "1.00 s"],
    [9_994, "9.99 s"],
    [12_345, "12.3 s"],
    [59_940, "59.9 s"],
    [60_000, "1m 0s"],
    [3_599_000, "59m 59s"],
    [3_600_000, "1h 0m"],
    [(1109 * 60 + 26) * 1000, "18h 29m"],
    [86_399_000, "23h 59m"],
    [86_400_000, "1d 0h"],
    [(3 * 86_400 + 5 * 3600 + 59 * 60) * 1000, "3d 5h"],
    [400 * 86_400_000, "400d 0h"],
  ])("%s ms reads %s", (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
