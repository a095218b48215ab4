import { Validator } from "@seriousme/openapi-schema-validator";
import { afterEach, describe, expect, it } from "vitest";
import type { ApiAuth } from "../../src/http/index.js";
import { setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

/**
 * A small JSON Schema check of the keywords the document uses (type, required, properties,
 * additionalProperties, items, enum, const, oneOf, $ref): enough to catch a response that
 * drifted from its documented shape. Returns the paths that do not match.
 */
function mismatches(schema: any, value: unknown, doc: any, at = "$"): string[] {
  if (schema.$ref) return mismatches(doc.components.schemas[schema.$ref.split("/").pop()], value, doc, at);
  if (schema.oneOf) {
    const fits = schema.oneOf.filter((s: unknown) => mismatches(s, value, doc, at).length === 0);
    return fits.length === 1 ? [] : [`${at}: matches ${fits.length} of oneOf`];
  }
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: ${JSON.stringify(value)} not in enum`];
  if ("const" in schema && schema.const !== value) return [`${at}: not ${JSON.stringify(schema.const)}`];
  const kind = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  const type = schema.type;
  if (
    type === "integer"
      ? !Number.isInteger(value)
      : type !== undefined && type !== kind && !(type === "number" && kind === "number")
  )
    return [`${at}: ${kind}, documented ${type}`];
  if (kind === "array" && schema.items)
    return (value as unknown[]).flatMap((v, i) => mismatches(schema.items, v, doc, `${at}[${i}]`));
  if (kind === "object") {
    const object = value as Record<string, unknown>;
    const missing = (schema.required ?? [])
      .filter((k: string) => !(k in object))
      .map((k: string) => `${at}.${k}: missing`);
    const props = schema.properties ?? {};
    const extra =
      schema.additionalProperties === false
        ? Object.keys(object)
            .filter((k) => !(k in props))
            .map((k) => `${at}.${k}: undocumented`)
        : [];
    const inner = Object.entries(props).flatMap(([k, s]) =>
      k in object ? mismatches(s, object[k], doc, `${at}.${k}`) : [],
    );
    return [...missing, ...extra, ...inner];
  }
  return [];
}

type Operation = { operationId: string; responses: Record<string, unknown>; requestBody?: unknown };
type Paths = Record<string, Record<string, Operation>>;

const AUTHS: ApiAuth[] = [
  { type: "none" },
  { type: "bearer", tokens: [{ secret: "a-token-of-16-chars" }] },
  { type: "apiKey", keys: [{ secret: "a-key-of-16-chars!", scopes: ["read"] }] },
  () => true,
];

describe("the OpenAPI document", () => {
  it.each(AUTHS.map((auth) => [typeof auth === "function" ? "hook" : auth.type, auth] as const))(
    "validates as OpenAPI 3.1 (%s auth) and is served at /openapi.json",
    async (_name, auth) => {
      ctx = await setup({ auth, basePath: "/api" });
      const served = await ctx.call("GET", "/api/openapi.json");
      expect(served.status).toBe(200);
      expect(served.body).toEqual(ctx.api.openapi);
      const result = await new Validator().validate(served.body);
      expect(result.errors ?? []).toEqual([]);
      expect(result.valid).toBe(true);
      expect(served.body.openapi).toBe("3.1.0");
      expect(served.body.servers).toEqual([{ url: "/api" }]);
    },
  );

  it("documents every route the API mounts, and nothing else", async () => {
    ctx = await setup();
    const paths = ctx.api.openapi.paths as Paths;
    const documented = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`));
    const mounted = ctx.api.routes.map((r) => `${r.method} ${r.path}`);
    expect(documented.sort()).toEqual([...mounted, "get /openapi.json"].sort());
    for (const route of ctx.api.routes) expect(paths[route.path]![route.method]!.operationId).toBe(route.operationId);
    // The shape check used below does catch a drifted body.
    const job = { $ref: "#/components/schemas/Job" };
    expect(mismatches(job, { id: 1, type: "TimeTicker", function: "f", status: "Idle" }, ctx.api.openapi)).toEqual([
      "$.id: number, documented string",
    ]);
    expect(
      mismatches(
        job,
        { id: "1", type: "TimeTicker", function: "f", status: "Idle", executionTime: 5 },
        ctx.api.openapi,
      ),
    ).toHaveLength(1);
  });

  it("every documented operation answers, with a status it documents", async () => {
    ctx = await setup({ basePath: "/api" });
    const job = await ctx.call("POST", "/api/jobs", { function: "SendEmail", executionTime: "2030-03-01T00:00:00Z" });
    const cron = await ctx.call("POST", "/api/cron-tickers", { function: "SendEmail", expression: "0 0 * * * *" });
    const bodies: Record<string, unknown> = {
      createJobs: { function: "SendEmail" },
      updateJob: { retries: 1 },
      createCronTicker: { function: "Explode", expression: "*/10 * * * * *" },
      updateCronTicker: { enabled: false },
    };
    const operations = Object.entries(ctx.api.openapi.paths as Paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    // Deletes last, so the other operations find what they act on.
    operations.sort((a, b) => Number(a.method === "delete") - Number(b.method === "delete"));
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const answered: number[] = [];
    for (const { path, method, op } of operations) {
      const id = path.startsWith("/cron-tickers") ? cron.body.id : job.body.id;
      const url = `/api${path.replace("{id}", encodeURIComponent(id))}`;
      const res = await ctx.call(method.toUpperCase(), url, op.requestBody ? bodies[op.operationId] : undefined);
      expect(
        Object.keys(op.responses),
        `${method} ${path} answered ${res.status} ${JSON.stringify(res.body)}`,
      ).toContain(String(res.status));
      // The job's state decides between success and 409 (a cancelled job cannot run now); the route is there.
      expect([404, 405], `${method} ${path}`).not.toContain(res.status);
      answered.push(res.status);
      const documentedBody = (op.responses[String(res.status)] as any)?.content;
      const schema =
        documentedBody?.["application/json"]?.schema ?? documentedBody?.["application/problem+json"]?.schema;
      if (schema) expect(mismatches(schema, res.body, ctx.api.openapi), `${method} ${path}`).toEqual([]);
    }
    expect(answered.filter((status) => status < 300).length).toBeGreaterThanOrEqual(operations.length - 2);
  });
});
