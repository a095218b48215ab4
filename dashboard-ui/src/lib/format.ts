/** Dates and durations shown in the chosen display time zone. */

import { state } from "./state";

const formats = new Map<string, Intl.DateTimeFormat>();
function fmt(zone: string, withSeconds: boolean): Intl.DateTimeFormat {
  const key = `${zone}|${withSeconds}`;
  let f = formats.get(key);
  if (!f) {
    // A zone half typed in a form ("Europe/Par") is not a zone: show UTC rather than throw a RangeError.
    let timeZone = zone;
    try {
      new Intl.DateTimeFormat("en-CA", { timeZone });
    } catch {
      timeZone = "UTC";
    }
    f = new Intl.DateTimeFormat("en-CA", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: withSeconds ? "2-digit" : undefined,
      hourCycle: "h23",
    });
    formats.set(key, f);
  }
  return f;
}

/** "2030-01-01 09:00:05" in the display zone (or `zone`). */
export function formatTime(iso: string | null | undefined, zone = state.timeZone, withSeconds = true): string {
  if (!iso) return "—";
  const parts = Object.fromEntries(
    fmt(zone, withSeconds)
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}${withSeconds ? `:${parts.second}` : ""}`;
}

export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const text =
    abs < 1000
      ? "now"
      : abs < 60_000
        ? `${Math.round(abs / 1000)}s`
        : abs < 3_600_000
          ? `${Math.round(abs / 60_000)}m`
          : abs < 86_400_000
            ? `${Math.round(abs / 3_600_000)}h`
            : `${Math.round(abs / 86_400_000)}d`;
  if (text === "now") return "just now";
  return diff > 0 ? `in ${text}` : `${text} ago`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function offsetMs(instant: number, zone: string): number {
  const p = Object.fromEntries(
    fmt(zone, true)
      .formatToParts(new Date(instant))
      .map((x) => [x.type, x.value]),
  );
  const wall = Date.UTC(+p.year!, +p.month! - 1, +p.day!, +p.hour! % 24, +p.minute!, +p.second!);
  return wall - Math.floor(instant / 1000) * 1000;
}

/** A datetime-local value ("2030-01-01T09:00") read as wall time in `zone` → ISO instant. */
export function wallToIso(value: string, zone = state.timeZone): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return null;
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0));
  let guess = wall - offsetMs(wall, zone);
  guess = wall - offsetMs(guess, zone);
  return new Date(guess).toISOString();
}

/** An ISO instant → datetime-local value in `zone`. */
export function isoToWall(iso: string | null, zone = state.timeZone): string {
  if (!iso) return "";
  return formatTime(iso, zone, true).replace(" ", "T");
}

export function shortId(id: string): string {
  return id.length > 12 ? id.slice(0, 8) : id;
}

export const FINAL = ["Done", "DueDone", "Failed", "Cancelled", "Skipped"];
