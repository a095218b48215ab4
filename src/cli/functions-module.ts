/** `--functions ./jobs.js`: the defineFunction() results a module exports, for serve and for checking requests. */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { AnyFunctionDefinition } from "../functions.js";
import { UsageError } from "./db-url.js";

function isDefinition(value: unknown): value is AnyFunctionDefinition {
  const v = value as Partial<AnyFunctionDefinition> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.name === "string" &&
    typeof v.handler === "function" &&
    typeof v.options === "object"
  );
}

/**
 * Every definition the module exports, by name or in an exported array (`export const
 * functions = [...]`, or a default export), each once. A module that cannot be loaded, or
 * exports none, is a usage error naming the path.
 */
export async function loadFunctions(path: string, cwd: string): Promise<AnyFunctionDefinition[]> {
  const file = resolve(cwd, path);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(
      `--functions ${JSON.stringify(path)} could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  const found = new Set<AnyFunctionDefinition>();
  for (const value of Object.values(module)) {
    if (isDefinition(value)) found.add(value);
    else if (Array.isArray(value)) for (const item of value) if (isDefinition(item)) found.add(item);
  }
  if (found.size === 0)
    throw new UsageError(
      `--functions ${JSON.stringify(path)} exports no defineFunction() results (exports: ${Object.keys(module).join(", ") || "none"})`,
    );
  return [...found];
}
