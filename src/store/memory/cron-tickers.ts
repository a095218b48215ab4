/** Cron tickers, their seeding from code, and the occurrences planned from them. */

import { TickerQError } from "../../errors.js";
import { isFinal } from "../../lifecycle.js";
import type { CronTickerRecord, JobRecord, Page } from "../contract.js";
import { clone, earlier, paged, type MemoryState, type Params } from "./context.js";

export function cronTickerInsert(s: MemoryState, { cronTicker }: Params<"cronTickerInsert">): void {
  if (s.cronTickers.has(cronTicker.id)) {
    throw new TickerQError("INVALID_ARGUMENT", `id ${JSON.stringify(cronTicker.id)} already exists`, {
      field: "id",
    });
  }
  s.cronTickers.set(cronTicker.id, { ...cronTicker, updatedAt: cronTicker.createdAt });
  s.signals.emit({ type: "cron" });
}

export function cronTickerGet(s: MemoryState, { id }: Params<"cronTickerGet">): CronTickerRecord | null {
  const ticker = s.cronTickers.get(id);
  return ticker ? clone(ticker) : null;
}

export function cronTickerList(s: MemoryState, query: Params<"cronTickerList">): Page<CronTickerRecord> {
  const matches = [...s.cronTickers.values()]
    .filter(
      (t) =>
        (query.function === undefined || t.function === query.function) &&
        (query.enabled === undefined || t.enabled === query.enabled),
    )
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
  return paged(matches, query);
}

export function cronTickerUpdate(
  s: MemoryState,
  { id, patch, now }: Params<"cronTickerUpdate">,
): CronTickerRecord | null {
  const ticker = s.cronTickers.get(id);
  if (!ticker) return null;
  Object.assign(ticker, patch, { updatedAt: now });
  deleteIdleOccurrences(s, id);
  s.signals.emit({ type: "cron" });
  return clone(ticker);
}

export function cronTickerDelete(s: MemoryState, { id }: Params<"cronTickerDelete">): boolean {
  if (!s.cronTickers.delete(id)) return false;
  for (const job of [...s.jobs.values()]) if (job.cronTickerId === id) s.jobs.remove(job);
  s.signals.emit({ type: "cron" });
  return true;
}

/** Keyed by `seededBy`: a ticker seeded before keeps its id and settings, but follows a new expression or zone. */
export function cronTickerSeed(s: MemoryState, { cronTickers, now }: Params<"cronTickerSeed">): CronTickerRecord[] {
  const result: CronTickerRecord[] = [];
  let changed = false;
  for (const seed of cronTickers) {
    const existing = [...s.cronTickers.values()].find((t) => t.seededBy === seed.seededBy);
    if (!existing) {
      const record = { ...seed, updatedAt: now };
      s.cronTickers.set(seed.id, record);
      result.push(clone(record));
      changed = true;
      continue;
    }
    if (existing.expression !== seed.expression || existing.timeZone !== seed.timeZone) {
      Object.assign(existing, { expression: seed.expression, timeZone: seed.timeZone, updatedAt: now });
      deleteIdleOccurrences(s, existing.id);
      changed = true;
    }
    result.push(clone(existing));
  }
  if (changed) s.signals.emit({ type: "cron" });
  return result;
}

/** Skips an occurrence whose (cronTickerId, instant) or id is stored already. */
export function occurrenceInsertMany(s: MemoryState, { occurrences }: Params<"occurrenceInsertMany">): number {
  let inserted = 0;
  let earliest: Date | null = null;
  for (const occurrence of occurrences) {
    if (s.jobs.hasOccurrence(occurrence.cronTickerId, occurrence.executionTime) || s.jobs.has(occurrence.id)) continue;
    s.jobs.insert(occurrence);
    inserted++;
    earliest = earlier(earliest, occurrence.executionTime);
  }
  if (earliest) s.signals.emit({ type: "due", at: earliest });
  return inserted;
}

/** Idle occurrences are re-planned after a change of schedule; ones already run or running stay. */
function deleteIdleOccurrences(s: MemoryState, cronTickerId: string): void {
  for (const job of [...s.jobs.values()]) {
    if (job.cronTickerId === cronTickerId && job.status === "Idle") s.jobs.remove(job);
  }
}

/** Of each cron ticker, the occurrence that ended last (greatest updatedAt, then id). */
export function occurrenceLastEnded(
  s: MemoryState,
  { cronTickerIds }: Params<"occurrenceLastEnded">,
): Record<string, JobRecord> {
  const wanted = new Set(cronTickerIds);
  const last: Record<string, JobRecord> = {};
  for (const job of s.jobs.values()) {
    if (job.type !== "CronTickerOccurrence" || job.cronTickerId === null || !wanted.has(job.cronTickerId)) continue;
    if (!isFinal(job.status)) continue;
    const held = last[job.cronTickerId];
    const at = job.updatedAt.getTime();
    if (!held || at > held.updatedAt.getTime() || (at === held.updatedAt.getTime() && job.id > held.id))
      last[job.cronTickerId] = job;
  }
  return last;
}
