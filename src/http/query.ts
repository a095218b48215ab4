/** Query parameters read strictly: a value that does not parse is a 400 naming the parameter and the value. */

import { ApiProblem } from "./problem.js";

const bad = (name: string, value: string, expected: string) =>
  new ApiProblem(400, "INVALID_ARGUMENT", `query parameter ${name} must be ${expected}`, name, value);

export function queryInt(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw bad(name, raw, `an integer from ${min} to ${max}`);
  return value;
}

export function queryEnum<T extends string>(query: URLSearchParams, name: string, values: readonly T[]): T | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (!values.includes(raw as T)) throw bad(name, raw, `one of ${values.join(", ")}`);
  return raw as T;
}

export function queryEnumList<T extends string>(
  query: URLSearchParams,
  name: string,
  values: readonly T[],
): T[] | undefined {
  const raw = query
    .getAll(name)
    .flatMap((v) => v.split(","))
    .filter((v) => v !== "");
  if (raw.length === 0) return undefined;
  const wrong = raw.find((v) => !values.includes(v as T));
  if (wrong !== undefined) throw bad(name, wrong, `one or more (comma-separated) of ${values.join(", ")}`);
  return raw as T[];
}

export function queryDate(query: URLSearchParams, name: string): Date | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  const date = new Date(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (Number.isNaN(date.getTime())) throw bad(name, raw, "an ISO 8601 time or epoch milliseconds");
  return date;
}

export function queryBool(query: URLSearchParams, name: string): boolean | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (raw !== "true" && raw !== "false") throw bad(name, raw, "true or false");
  return raw === "true";
}

/** Text as the stores keep it: no NUL (`%00`), which PostgreSQL cannot compare against. */
export function queryText(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  if (raw === null || raw === "") return undefined;
  if (raw.includes("\0")) throw bad(name, raw, "text without NUL (U+0000)");
  return raw;
}

/** The keyset cursor: the sort value (epoch ms or null) and id of the previous page's last job. */
export function encodeCursor(value: Date | null, id: string): string {
  return Buffer.from(JSON.stringify([value ? value.getTime() : null, id])).toString("base64url");
}

export function decodeCursor(raw: string): { value: Date | null; id: string } {
  try {
    const decoded: unknown = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
    if (Array.isArray(decoded) && decoded.length === 2 && typeof decoded[1] === "string") {
      const [ms, id] = decoded as [unknown, string];
      if (ms === null) return { value: null, id };
      if (typeof ms === "number" && Number.isFinite(ms)) return { value: new Date(ms), id };
    }
  } catch {
    // falls through to the 400
  }
  throw bad("cursor", raw.slice(0, 80), "a nextCursor from a previous page");
}
