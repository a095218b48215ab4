/**
 * A plain-English reading of a cron expression ("At 09:30, Monday through Friday"), for the
 * dashboard: cronstrue's, a maintained library that reads 5 and 6 fields (seconds first), ranges,
 * steps, names, `L` and `#`. 24-hour times, as the dashboard shows every time.
 */

import cronstrue from "cronstrue";

/** The description, or null when the expression cannot be read. */
export function describeCron(expression: string): string | null {
  try {
    return cronstrue.toString(expression.trim(), { use24HourTimeFormat: true, throwExceptionOnParseError: true });
  } catch {
    return null;
  }
}
