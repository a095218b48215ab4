/** The README's option table and src/options.ts say the same thing: same options, same defaults. */

import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

const source = readFileSync(new URL("../src/options.ts", import.meta.url), "utf8");
const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");

/** `name → default` from the doc comments of TickerQOptions. */
function declared(): Map<string, string | null> {
  const body = source.slice(
    source.indexOf("export interface TickerQOptions"),
    source.indexOf("export type ResolvedOptions"),
  );
  const options = new Map<string, string | null>();
  const pattern = /\/\*\*([\s\S]*?)\*\/\s*(\w+)\??:/g;
  for (const match of body.matchAll(pattern)) {
    const def = /@default (.+?)\s*$/m.exec(match[1]!.replace(/\*\//, ""));
    options.set(match[2]!, def ? def[1]!.trim() : null);
  }
  return options;
}

/** `name → default cell` from the README's option table. */
function documented(): Map<string, string> {
  const section = readme.slice(readme.indexOf("### Options"), readme.indexOf("### Bad input"));
  const rows = new Map<string, string>();
  for (const line of section.split("\n")) {
    const cells = /^\| `(\w+)` \| (.+?) \| .+ \|$/.exec(line);
    if (cells) rows.set(cells[1]!, cells[2]!.replace(/`/g, ""));
  }
  return rows;
}

it("documents every option of createTickerQ, and no other", () => {
  expect([...documented().keys()].sort()).toEqual([...declared().keys()].sort());
});

it("gives each option the default its declaration gives", () => {
  const rows = documented();
  for (const [name, def] of declared()) {
    if (def === null) continue;
    const normalise = (text: string) => text.replace(/[`()]/g, "").replace(/\s+/g, " ").trim();
    expect([name, normalise(rows.get(name)!)]).toEqual([name, normalise(def)]);
  }
});
