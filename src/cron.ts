/**
 * Cron expressions: parsing, validation and the next instants a schedule fires, in UTC or an
 * IANA time zone. Croner matches the fields; this module owns the time-zone arithmetic, so
 * the DST policy is ours and explicit:
 * - a wall time inside a spring-forward gap runs once, at the end of the gap;
 * - a wall time repeated by fall-back runs once, at its first instant.
 */

import { Cron } from "croner";
import { invalid, show, TickerQError } from "./errors.js";
import { readFields, validateDate } from "./validation.js";

const FIELDS_6 = ["second", "minute", "hour", "day-of-month", "month", "day-of-week"] as const;
const FIELDS_5 = FIELDS_6.slice(1);
const DAY_MS = 86_400_000;

/** A parsed, validated schedule. `next(after)` is the first instant strictly after `after`. */
export class CronSchedule {
  private readonly matcher: Cron;
  private readonly zone: ZoneClock | null;

  constructor(
    readonly expression: string,
    readonly timeZone: string | null = null,
  ) {
    this.matcher = parseExpression(expression);
    this.zone =
      timeZone === null || timeZone === "UTC" || timeZone === "Etc/UTC" ? null : zoneClock(checkZoneName(timeZone));
  }

  next(after: Date): Date | null {
    const afterMs = after.getTime();
    if (!this.zone) return this.matcher.nextRun(new Date(afterMs));
    const zone = this.zone;
    let wallFrom = zone.wall(afterMs);
    // Bounded: a repeated hour of a per-second schedule is skipped in one jump below.
    for (let guard = 0; guard < 10_000; guard++) {
      const wall = this.matcher.nextRun(new Date(wallFrom))?.getTime();
      if (wall === undefined) return null;
      const resolved = zone.instant(wall);
      if (resolved.at > afterMs) return new Date(resolved.at);
      wallFrom = resolved.repeatedUntilWall !== null ? Math.max(wall, resolved.repeatedUntilWall - 1) : wall;
    }
    return null;
  }

  /** The next `count` instants after `from`. */
  upcoming(from: Date, count: number): Date[] {
    const result: Date[] = [];
    let cursor: Date | null = from;
    while (result.length < count && (cursor = this.next(cursor))) result.push(cursor);
    return result;
  }
}

export interface NextOccurrencesOptions {
  /** Instants strictly after this one. @default now */
  from?: Date;
  /** IANA time zone the expression is read in. @default UTC */
  timeZone?: string;
  /** How many instants. @default 5 */
  count?: number;
}

/** The next instants `expression` fires: the same computation the engine uses. */
export function nextOccurrences(expression: string, options: NextOccurrencesOptions = {}): Date[] {
  if (typeof options !== "object" || options === null) throw invalid("options", options, "an object");
  const given = readFields("", options, ["count", "from", "timeZone"]);
  const count = given.count ?? 5;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0 || count > 10_000) {
    throw invalid("count", count, "an integer from 0 to 10000");
  }
  const from = given.from === undefined ? new Date() : validateDate("from", given.from);
  return new CronSchedule(expression, (given.timeZone ?? null) as string | null).upcoming(from, count);
}

/** A year in which every year-less schedule that can fire at all fires (2000 is a leap year). */
const FIRES_BY = Date.UTC(2000, 0, 1);

/**
 * Throws a TickerQError naming the field at fault when `expression` is not a valid 5/6-field
 * cron, or when no date matches it (`0 0 30 2 *`): such a ticker would never run.
 */
function parseExpression(expression: string): Cron {
  if (typeof expression !== "string") {
    throw new TickerQError("INVALID_CRON", `expression must be a cron string; got ${show(expression)}`, {
      field: "expression",
    });
  }
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) {
    throw new TickerQError(
      "INVALID_CRON",
      `expression ${show(expression)} must have 5 fields (minute hour day-of-month month day-of-week) or 6 (with seconds first); it has ${expression.trim() === "" ? 0 : parts.length}`,
      { field: "expression" },
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(parts.join(" "), { utcOffset: 0, paused: true, mode: "5-or-6-parts" });
  } catch (error) {
    const names = parts.length === 6 ? FIELDS_6 : FIELDS_5;
    const index = parts.findIndex((part, i) => !fieldParses(parts.map((p, j) => (j === i ? part : "*")).join(" ")));
    const where = index >= 0 ? `the ${names[index]} field ${show(parts[index])} is invalid` : "it is invalid";
    throw new TickerQError("INVALID_CRON", `expression ${show(expression)}: ${where}`, {
      cause: error,
      field: "expression",
    });
  }
  // Croner looks up to the year 3000; a year-less schedule repeats within 400 years.
  if (cron.nextRun(new Date(FIRES_BY)) === null) {
    throw new TickerQError(
      "INVALID_CRON",
      `expression ${show(expression)} can never fire: no date has that day of the month in those months`,
      { field: "expression" },
    );
  }
  return cron;
}

function fieldParses(pattern: string): boolean {
  try {
    new Cron(pattern, { utcOffset: 0, paused: true, mode: "5-or-6-parts" });
    return true;
  } catch {
    return false;
  }
}

interface ZoneClock {
  /** The zone's wall-clock reading at `instant`, as milliseconds of a UTC date with those fields. */
  wall(instant: number): number;
  /** The instant a wall time runs at, by the DST policy above. */
  instant(wall: number): { at: number; repeatedUntilWall: number | null };
}

const zoneClocks = new Map<string, ZoneClock>();

/** Throws INVALID_TIME_ZONE for a name Intl does not know. */
export function assertTimeZone(timeZone: string): void {
  zoneClock(timeZone);
}

function zoneClock(timeZone: string): ZoneClock {
  const cached = zoneClocks.get(timeZone);
  if (cached) return cached;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
  } catch (error) {
    throw new TickerQError("INVALID_TIME_ZONE", `timeZone ${show(timeZone)} is not an IANA time zone`, {
      cause: error,
      field: "timeZone",
    });
  }
  const wall = (instant: number): number => {
    const f: Record<string, number> = {};
    for (const part of format.formatToParts(new Date(instant))) if (part.type !== "literal") f[part.type] = +part.value;
    const whole = Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!);
    return whole + (((instant % 1000) + 1000) % 1000);
  };
  const offset = (instant: number) => wall(instant) - instant;
  /** First instant in (lo, hi] whose offset differs from lo's. */
  const transition = (lo: number, hi: number): number => {
    const before = offset(lo);
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offset(mid) === before) lo = mid;
      else hi = mid;
    }
    return hi;
  };
  const clock: ZoneClock = {
    wall,
    instant(w) {
      const offBefore = offset(w - DAY_MS);
      const offAfter = offset(w + DAY_MS);
      const early = w - Math.max(offBefore, offAfter);
      const late = w - Math.min(offBefore, offAfter);
      const earlyOk = wall(early) === w;
      const lateOk = wall(late) === w;
      if (earlyOk && lateOk && early !== late) {
        // Fall-back: the wall time happens twice. Run at the first; the repeat window ends
        // at the transition, read on the earlier offset.
        const t = transition(early, late);
        return { at: early, repeatedUntilWall: t + offBefore };
      }
      if (earlyOk) return { at: early, repeatedUntilWall: null };
      if (lateOk) return { at: late, repeatedUntilWall: null };
      // Spring-forward gap: the wall time never happens; run at the end of the gap.
      return { at: transition(early, late), repeatedUntilWall: null };
    },
  };
  zoneClocks.set(timeZone, clock);
  return clock;
}

/** Normalises an optional zone: undefined/null/"UTC" mean UTC (stored as null); others must be IANA names. */
export function occurrenceTimeZone(timeZone: unknown): string | null {
  if (timeZone === undefined || timeZone === null || timeZone === "UTC" || timeZone === "Etc/UTC") return null;
  assertTimeZone(checkZoneName(timeZone));
  return timeZone as string;
}

function checkZoneName(timeZone: unknown): string {
  if (typeof timeZone !== "string" || timeZone.length > 100) {
    throw new TickerQError("INVALID_TIME_ZONE", `timeZone must be an IANA time zone name; got ${show(timeZone)}`, {
      field: "timeZone",
    });
  }
  return timeZone;
}
