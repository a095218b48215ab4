/**
 * The dashboard's structure (issue 13): it reaches the core only through types and reads the
 * store only through its query facade (queries.ts), so there is no import cycle back into
 * the core and every store read it makes is named in one file.
 */

import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DIR = fileURLToPath(new URL("../../src/dashboard/", import.meta.url));
const CORE = /^\.\.\/(tickerq|engine)\.js$/;

/** Value imports (and re-exports) of the core in `source`: `import type` and `export type` are fine. */
function coreValueImports(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/^\s*(import|export)\s+(type\s+)?[^;]*?\bfrom\s+"([^"]+)"/gms))
    if (!m[2] && CORE.test(m[3]!)) found.push(m[0].trim());
  for (const m of source.matchAll(/\bimport\s*\(\s*"([^"]+)"\s*\)/g)) if (CORE.test(m[1]!)) found.push(m[0]);
  for (const m of source.matchAll(/^\s*import\s+"([^"]+)"/gm)) if (CORE.test(m[1]!)) found.push(m[0].trim());
  return found;
}

/** Reads of the scheduler's store (`tq.store`, `this.tq.store`, `tq["store"]`), but for handing it to the facade. */
function storeReads(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/\btq\s*(\.\s*store\b|\[\s*["'`]store["'`]\s*\])/g)) {
    const before = source.slice(Math.max(0, m.index - 30), m.index);
    if (!/new DashboardQueries\(\s*$/.test(before)) found.push(m[0]);
  }
  return found;
}

const files = readdirSync(DIR, { withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
  .map((entry) => entry.name);

describe("dashboard structure", () => {
  it("finds what it looks for", () => {
    expect(files).toContain("queries.ts");
    expect(
      coreValueImports('import type { TickerQ } from "../tickerq.js";\nexport type { X } from "../engine.js";'),
    ).toEqual([]);
    expect(
      coreValueImports(
        'import { createTickerQ } from "../tickerq.js";\nimport {\n  type A,\n  b,\n} from "../engine.js";\nexport { c } from "../tickerq.js";\nconst m = await import("../engine.js");',
      ),
    ).toHaveLength(4);
    expect(storeReads("const q = new DashboardQueries(tq.store, now);")).toEqual([]);
    expect(storeReads("await this.tq.store.jobGet({ id }); tq['store']; tq .store")).toHaveLength(3);
  });

  it.each(files)("%s imports the core (tickerq.ts, engine.ts) for types only", (file) => {
    expect(coreValueImports(readFileSync(DIR + file, "utf8"))).toEqual([]);
  });

  it.each(files.filter((file) => file !== "queries.ts"))("%s reads the store only through the facade", (file) => {
    expect(storeReads(readFileSync(DIR + file, "utf8"))).toEqual([]);
  });
});
