/** The command line's words: `--name value`, `--name=value`, boolean switches, and positional words. */

import { UsageError } from "./db-url.js";

/** Switches that take no value. */
const SWITCHES = new Set(["help", "version", "json"]);

/** Parses `--name value` and `--name=value` pairs; positional words come back in `args`. */
export function parseFlags(argv: readonly string[]): { args: string[]; flags: Map<string, string> } {
  const args: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? "";
    if (!word.startsWith("--")) {
      args.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    if (eq > 0) flags.set(word.slice(2, eq), word.slice(eq + 1));
    else if (SWITCHES.has(word.slice(2))) flags.set(word.slice(2), "");
    else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${word} needs a value`);
      flags.set(word.slice(2), value);
      i++;
    }
  }
  return { args, flags };
}

/** Refuses an option the command does not take. */
export function onlyFlags(flags: ReadonlyMap<string, string>, allowed: readonly string[]): void {
  const unknown = [...flags.keys()].filter((name) => !allowed.includes(name) && name !== "help");
  if (unknown.length > 0) throw new UsageError(`unknown option --${unknown[0]}`);
}

/** An integer flag within bounds, or its default; anything else names the flag and the value. */
export function intFlag(
  flags: ReadonlyMap<string, string>,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const text = flags.get(name);
  if (text === undefined) return fallback;
  const value = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(text)}`);
  return value;
}

/** A comma-separated list flag ("a,b, c"), empty entries dropped. */
export function listFlag(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}
