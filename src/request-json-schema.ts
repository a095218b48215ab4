/** A function's request schema as JSON Schema, for API clients: from Standard JSON Schema, where the library offers it. */

interface StandardJsonSchema {
  "~standard"?: { jsonSchema?: { input?: (options: { target: string }) => unknown } };
}

/**
 * The JSON Schema (draft 2020-12) of what a function's request accepts, or null when its
 * schema library does not implement Standard JSON Schema or cannot express the schema.
 */
export function requestJsonSchema(schema: unknown): Record<string, unknown> | null {
  try {
    const convert = (schema as StandardJsonSchema | undefined)?.["~standard"]?.jsonSchema?.input;
    if (typeof convert !== "function") return null;
    const result = convert({ target: "draft-2020-12" });
    return typeof result === "object" && result !== null ? (result as Record<string, unknown>) : null;
  } catch {
    return null; // a type JSON Schema cannot express (a Date, a transform): the schema still validates
  }
}
