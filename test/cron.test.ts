import { describe, expect, it } from "vitest";
import { nextOccurrences, TickerQError } from "../src/index.js";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const NY = "America/New_York";

describe("nextOccurrences", () => {
  it("reads 6 fields with seconds and 5 fields without, in UTC by default", () => {
    const from = new Date("2026-01-01T00:00:05Z");
    expect(iso(nextOccurrences("*/10 * * * * *", { from, count: 3 }))).toEqual([
      "2026-01-01T00:00:10.000Z",
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:30.000Z",
    ]);
    expect(iso(nextOccurrences("0 9 * * *", { from, count: 2 }))).toEqual([
      "2026-01-01T09:00:00.000Z",
      "2026-01-02T09:00:00.000Z",
    ]);
  });

  it("is strictly after `from`", () => {
    const from = new Date("2026-01-01T09:00:00Z");
    expect(iso(nextOccurrences("0 0 9 * * *", { from, count: 1 }))).toEqual(["2026-01-02T09:00:00.000Z"]);
  });

  it("reads the expression in the given time zone", () => {
    const from = new Date("2026-06-01T00:00:00Z");
    expect(iso(nextOccurrences("0 0 9 * * *", { from, timeZone: "Europe/Berlin", count: 1 }))).toEqual([
      "2026-06-01T07:00:00.000Z",
    ]);
    expect(iso(nextOccurrences("0 0 9 * * *", { from, timeZone: "Asia/Kolkata", count: 1 }))).toEqual([
      "2026-06-01T03:30:00.000Z",
    ]);
  });

  describe("DST, spring forward (New York, 2026-03-08, 02:00 → 03:00)", () => {
    it("runs a wall time inside the gap once, at the end of the gap", () => {
      const from = new Date("2026-03-07T12:00:00Z");
      expect(iso(nextOccurrences("0 30 2 * * *", { from, timeZone: NY, count: 3 }))).toEqual([
        "2026-03-08T07:00:00.000Z", // 03:00 EDT: the gap's end
        "2026-03-09T06:30:00.000Z", // 02:30 EDT
        "2026-03-10T06:30:00.000Z",
      ]);
    });

    it("merges every instant of the gap into one run", () => {
      const from = new Date("2026-03-08T06:00:00Z"); // 01:00 EST
      expect(iso(nextOccurrences("0 */30 * * * *", { from, timeZone: NY, count: 4 }))).toEqual([
        "2026-03-08T06:30:00.000Z", // 01:30 EST
        "2026-03-08T07:00:00.000Z", // 02:00, 02:30 and 03:00 → once at 03:00 EDT
        "2026-03-08T07:30:00.000Z", // 03:30 EDT
        "2026-03-08T08:00:00.000Z",
      ]);
    });
  });

  describe("DST, fall back (New York, 2026-11-01, 02:00 → 01:00)", () => {
    it("runs a repeated wall time once, at its first instant", () => {
      const from = new Date("2026-10-31T12:00:00Z");
      expect(iso(nextOccurrences("0 30 1 * * *", { from, timeZone: NY, count: 2 }))).toEqual([
        "2026-11-01T05:30:00.000Z", // 01:30 EDT, not 01:30 EST an hour later
        "2026-11-02T06:30:00.000Z",
      ]);
    });

    it("does not replay the repeated hour for frequent schedules", () => {
      const from = new Date("2026-11-01T05:20:00Z"); // 01:20 EDT
      expect(iso(nextOccurrences("0 */15 * * * *", { from, timeZone: NY, count: 4 }))).toEqual([
        "2026-11-01T05:30:00.000Z",
        "2026-11-01T05:45:00.000Z",
        "2026-11-01T07:00:00.000Z", // 02:00 EST: 01:00–01:45 EST were already run as EDT
        "2026-11-01T07:15:00.000Z",
      ]);
    });

    it("from inside the repeated hour, jumps to its end", () => {
      const from = new Date("2026-11-01T06:10:00Z"); // 01:10 EST, the second pass
      expect(iso(nextOccurrences("* * * * * *", { from, timeZone: NY, count: 2 }))).toEqual([
        "2026-11-01T07:00:00.000Z",
        "2026-11-01T07:00:01.000Z",
      ]);
    });
  });

  it.each([
    ["61 * * * * *", "second"],
    ["0 0 25 * * *", "hour"],
    ["a b c d e", "minute"],
    ["0 0 1 13 *", "month"],
    ["* * 32 * *", "day-of-month"],
    ["* * * * 9", "day-of-week"],
  ])("names the field at fault in %s", (expression, field) => {
    expect(() => nextOccurrences(expression)).toThrow(new RegExp(`${field} field`));
    try {
      nextOccurrences(expression);
    } catch (error) {
      expect(error).toBeInstanceOf(TickerQError);
      expect((error as TickerQError).code).toBe("INVALID_CRON");
      expect((error as Error).message).toContain(JSON.stringify(expression));
    }
  });

  it("refuses a wrong number of fields and an unknown time zone", () => {
    expect(() => nextOccurrences("* * * *")).toThrow(/must have 5 fields.*it has 4/);
    expect(() => nextOccurrences("* * * * * * *")).toThrow(/it has 7/);
    expect(() => nextOccurrences("* * * * *", { timeZone: "Mars/Phobos" })).toThrow(
      /timeZone "Mars\/Phobos" is not an IANA time zone/,
    );
  });
});
