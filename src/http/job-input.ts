/**
 * POST /jobs bodies into `timeTickers.addMany` inputs: one job or a batch, tickerq's field
 * names or Tickr's (`type`/`payload`/`run_at`/`delay`), each alias mapped to one field and
 * every unknown field refused, so a typo never schedules a job with a default.
 */

import { ApiProblem } from "./problem.js";

const ALIASES: Record<string, readonly string[]> = {
  function: ["function", "type", "name"],
  request: ["request", "payload"],
  executionTime: ["executionTime", "runAt", "run_at", "executeAt", "execute_at"],
  delay: ["delay"],
};
const PLAIN = ["id", "description", "priority", "retries", "retryIntervals"] as const;
const TOP_ONLY = ["children"] as const;
const CHILD_ONLY = ["runCondition"] as const;

const DELAY = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_DELAY_MS = 10 * 365 * 86_400_000;

const bad = (field: string, value: unknown, message: string) =>
  new ApiProblem(400, "INVALID_ARGUMENT", `${field} ${message}`, field, value);

/** A delay in seconds (a number) or a duration ("250ms", "30s", "5m", "2h", "1d") into ms. */
export function parseDelay(field: string, value: unknown): number {
  let ms: number | null = null;
  if (typeof value === "number" && Number.isFinite(value)) ms = value * 1000;
  else if (typeof value === "string") {
    const match = DELAY.exec(value.trim());
    if (match) ms = Number(match[1]) * UNIT_MS[match[2] ?? "s"]!;
  }
  if (ms === null || ms < 0 || ms > MAX_DELAY_MS)
    throw bad(field, value, 'must be seconds (a number) or a duration like "30s", "5m", "2h", at most 10 years');
  return Math.round(ms);
}

/** Maps one job (and its children) to tickerq's field names; `now` resolves a delay. */
export function normaliseJob(input: unknown, path: string, now: number, child = false): Record<string, unknown> {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    throw bad(path || "body", input, "must be a JSON object");
  const source = input as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const used = new Set<string>();
  const at = (name: string) => (path ? `${path}.${name}` : name);
  for (const [canonical, names] of Object.entries(ALIASES)) {
    const present = names.filter((name) => Object.hasOwn(source, name));
    if (present.length > 1)
      throw bad(at(present[1]!), source[present[1]!], `repeats ${at(present[0]!)}; send only one of them`);
    if (present.length === 1) {
      out[canonical] = source[present[0]!];
      used.add(present[0]!);
    }
  }
  const allowed = [...PLAIN, ...(child ? CHILD_ONLY : TOP_ONLY)];
  for (const name of allowed) {
    if (Object.hasOwn(source, name)) {
      out[name] = source[name];
      used.add(name);
    }
  }
  for (const name of Object.keys(source))
    if (!used.has(name)) throw bad(at(name), source[name], "is not a field of a job");
  if ("delay" in out) {
    if ("executionTime" in out) throw bad(at("delay"), out.delay, "cannot be sent with a run-at time");
    out.executionTime = new Date(now + parseDelay(at("delay"), out.delay));
    delete out.delay;
  }
  if (out.children !== undefined) {
    if (!Array.isArray(out.children)) throw bad(at("children"), out.children, "must be an array");
    out.children = out.children.map((c: unknown, i) => normaliseJob(c, at(`children[${i}]`), now, true));
  }
  return out;
}

export const MAX_BATCH = 1000;

/** The jobs of a POST /jobs body: an object is one job; an array or `{ jobs: [...] }` a batch. */
export function jobsOfBody(body: unknown, now: number): { jobs: Record<string, unknown>[]; batch: boolean } {
  let list: unknown[] | null = null;
  let prefix = "";
  if (Array.isArray(body)) list = body;
  else if (typeof body === "object" && body !== null && Object.hasOwn(body, "jobs")) {
    const extra = Object.keys(body).find((k) => k !== "jobs");
    if (extra) throw bad(extra, (body as Record<string, unknown>)[extra], "is not a field of a batch");
    const jobs = (body as { jobs: unknown }).jobs;
    if (!Array.isArray(jobs)) throw bad("jobs", jobs, "must be an array of jobs");
    list = jobs;
    prefix = "jobs";
  }
  if (list === null) return { jobs: [normaliseJob(body, "", now)], batch: false };
  const field = prefix || "body";
  if (list.length === 0) throw bad(field, list, "must hold at least one job");
  if (list.length > MAX_BATCH) throw bad(field, `${list.length} jobs`, `must hold at most ${MAX_BATCH} jobs`);
  return { jobs: list.map((job, i) => normaliseJob(job, `${prefix}[${i}]`, now)), batch: true };
}

/** A PATCH /jobs/{id} body: the fields an Idle job may change, with the same aliases. */
export function normalisePatch(body: unknown, now: number): Record<string, unknown> {
  const patch = normaliseJob(body, "", now, true);
  for (const name of ["function", "id", "runCondition"])
    if (name in patch) throw bad(name, patch[name], "cannot be changed; schedule a new job instead");
  return patch;
}
