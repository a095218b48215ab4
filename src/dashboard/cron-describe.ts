/**
 * A plain-English reading of a cron expression ("At 09:00, Monday through Friday"), for the
 * dashboard. It covers the shapes people write; anything unusual falls back to naming the
 * field's raw value, so a description is never wrong, only sometimes literal.
 */

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = [
  "January",
  "February",
  "March",
  "April",
  "May",
  "June",
  "July",
  "August",
  "September",
  "October",
  "November",
  "December",
];
const DAY_NAMES: Record<string, number> = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };
const MONTH_NAMES: Record<string, number> = Object.fromEntries(
  MONTHS.map((m, i) => [m.slice(0, 3).toUpperCase(), i + 1]),
);

const isNum = (s: string) => /^\d+$/.test(s);
const pad = (n: string | number) => String(n).padStart(2, "0");
const plural = (n: number, unit: string) => (n === 1 ? unit : `${n} ${unit}s`);

function list(items: string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${n % 10 > 3 ? "th" : s}`;
}

/** "*\/15" → 15; "0/15" → 15; else null. */
function step(field: string): number | null {
  const m = /^(\*|0)\/(\d+)$/.exec(field);
  return m ? Number(m[2]) : null;
}

/** Describes a value list/range of a named field (days, months) with a name lookup. */
function named(field: string, names: string[], lookup: Record<string, number>, offset: number): string | null {
  const token = (t: string): string | null => {
    const up = t.toUpperCase();
    const n = isNum(t) ? Number(t) : lookup[up];
    if (n === undefined) return null;
    return names[(n - offset + names.length) % names.length] ?? null;
  };
  const parts: string[] = [];
  for (const item of field.split(",")) {
    const range = /^(\w+)-(\w+)$/.exec(item);
    if (range) {
      const a = token(range[1]!);
      const b = token(range[2]!);
      if (!a || !b) return null;
      parts.push(`${a} through ${b}`);
    } else {
      const t = token(item);
      if (!t) return null;
      parts.push(t);
    }
  }
  return list(parts);
}

function timePart(second: string, minute: string, hour: string): string {
  const secondStep = step(second);
  const minuteStep = step(minute);
  const hourStep = step(hour);
  const sec0 = second === "0";
  if (second === "*") return "Every second" + (minute !== "*" || hour !== "*" ? ` ${within(minute, hour)}` : "");
  if (secondStep)
    return `Every ${plural(secondStep, "second")}` + (minute !== "*" || hour !== "*" ? ` ${within(minute, hour)}` : "");
  const secondSuffix = sec0 ? "" : isNum(second) ? `, at second ${Number(second)}` : `, at seconds ${second}`;
  if (minute === "*" && hour === "*") return `Every minute${secondSuffix}`;
  if (minuteStep && hour === "*") return `Every ${plural(minuteStep, "minute")}${secondSuffix}`;
  if (minuteStep && isNum(hour))
    return `Every ${plural(minuteStep, "minute")} during the ${pad(hour)}:00 hour${secondSuffix}`;
  if (isNum(minute) && hour === "*") return `At minute ${Number(minute)} past every hour${secondSuffix}`;
  if (isNum(minute) && hourStep)
    return `At minute ${Number(minute)} past every ${ordinal(hourStep)} hour${secondSuffix}`;
  if (isNum(minute) && /^\d+(,\d+)*$/.test(hour)) {
    const s = sec0 ? "" : `:${pad(second)}`;
    return `At ${list(hour.split(",").map((h) => `${pad(h)}:${pad(minute)}${s}`))}`;
  }
  if (isNum(minute) && /^\d+-\d+$/.test(hour)) {
    const [a, b] = hour.split("-");
    return `At minute ${Number(minute)} past every hour from ${pad(a!)}:00 to ${pad(b!)}:59${secondSuffix}`;
  }
  if (minute === "*" && isNum(hour)) return `Every minute during the ${pad(hour)}:00 hour${secondSuffix}`;
  return `At minute ${minute} of hour ${hour}${secondSuffix}`;
}

function within(minute: string, hour: string): string {
  if (hour === "*") return isNum(minute) ? `during minute ${Number(minute)} of every hour` : `of minutes ${minute}`;
  if (minute === "*") return isNum(hour) ? `during the ${pad(hour)}:00 hour` : `during hours ${hour}`;
  return `during minute ${minute} of hour ${hour}`;
}

function dayOfMonthPart(dom: string): string | null {
  if (dom === "*" || dom === "?") return null;
  if (dom === "L") return "on the last day of the month";
  if (isNum(dom)) return `on the ${ordinal(Number(dom))} of the month`;
  if (/^\d+(,\d+)+$/.test(dom)) return `on the ${list(dom.split(",").map((d) => ordinal(Number(d))))} of the month`;
  if (/^\d+-\d+$/.test(dom)) {
    const [a, b] = dom.split("-");
    return `between the ${ordinal(Number(a))} and the ${ordinal(Number(b))} of the month`;
  }
  const s = step(dom) ?? (/^1\/(\d+)$/.exec(dom) ? Number(dom.split("/")[1]) : null);
  if (s) return `every ${plural(s, "day")}`;
  return `on day-of-month ${dom}`;
}

function dayOfWeekPart(dow: string): string | null {
  if (dow === "*" || dow === "?") return null;
  const normal = dow.replace(/\b7\b/g, "0");
  const names = named(normal, DAYS, DAY_NAMES, 0);
  return names ? `on ${names}` : `on day-of-week ${dow}`;
}

function monthPart(month: string): string | null {
  if (month === "*") return null;
  const s = step(month) ?? (/^1\/(\d+)$/.exec(month) ? Number(month.split("/")[1]) : null);
  if (s) return `every ${plural(s, "month")}`;
  const names = named(month, MONTHS, MONTH_NAMES, 1);
  return names ? `in ${names}` : `in month ${month}`;
}

/** Describes a 5- or 6-field expression; returns null when it has the wrong number of fields. */
export function describeCron(expression: string): string | null {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 && parts.length !== 6) return null;
  const [second, minute, hour, dom, month, dow] = parts.length === 6 ? parts : ["0", ...parts];
  const pieces = [timePart(second!, minute!, hour!)];
  const days = [dayOfMonthPart(dom!), dayOfWeekPart(dow!)].filter((p): p is string => p !== null);
  // In cron, a restricted day-of-month and day-of-week match either one, not both.
  if (days.length === 2) pieces.push(`${days[0]} or ${days[1]}`);
  else if (days.length === 1) pieces.push(days[0]!);
  const m = monthPart(month!);
  if (m) pieces.push(m);
  return pieces.join(", ");
}
