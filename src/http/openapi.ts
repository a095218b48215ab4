/** The OpenAPI 3.1 document, generated from the route definitions createApi mounts. */

import { VERSION } from "../version.js";
import type { ApiAuthenticator } from "./auth.js";
import { PROBLEM_TYPE } from "./problem.js";
import { ref, type JsonSchema, type RouteDef } from "./route.js";
import { SCHEMAS } from "./schemas.js";

const PROBLEM_TEXT: Record<number, string> = {
  400: "Invalid input",
  401: "No valid credentials",
  403: "The credentials lack the scope",
  404: "Not found",
  409: "Conflicts with the job's state",
  413: "Body too large",
  415: "Body is not JSON",
  429: "Too many unknown credentials from this client: wait for Retry-After",
  503: "Not ready",
};

function securitySchemes(auth: ApiAuthenticator): Record<string, JsonSchema> {
  switch (auth.kind) {
    case "apiKey":
      return { apiKey: { type: "apiKey", in: "header", name: auth.header } };
    case "bearer":
      return { bearer: { type: "http", scheme: "bearer" } };
    default:
      return {};
  }
}

export function openApiDocument(
  routes: readonly RouteDef[],
  auth: ApiAuthenticator,
  base: string,
  throttled = false,
): JsonSchema {
  const schemes = securitySchemes(auth);
  const schemeNames = Object.keys(schemes);
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1]!,
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const queryParams = (route.query ?? []).map((p) => ({
      name: p.name,
      in: "query",
      required: p.required ?? false,
      description: p.description,
      schema: p.schema,
    }));
    const idempotency =
      route.operationId === "createJobs"
        ? [
            {
              name: "Idempotency-Key",
              in: "header",
              required: false,
              description: "A retry with the same key returns the first answer (200) and schedules nothing more",
              schema: { type: "string", maxLength: 200 },
            },
          ]
        : [];
    const responses: Record<string, JsonSchema> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      const response: JsonSchema = { description: answer.description };
      if (answer.schema) response.content = { "application/json": { schema: answer.schema } };
      if (answer.headers)
        response.headers = Object.fromEntries(answer.headers.map((h) => [h, { schema: { type: "string" } }]));
      responses[status] = response;
    }
    const problems = [...route.problems];
    if (route.scope !== "public" && auth.kind !== "none") problems.push(401, 403);
    if (route.scope !== "public" && throttled) problems.push(429);
    for (const status of problems.sort())
      responses[String(status)] = {
        description: PROBLEM_TEXT[status] ?? "Problem",
        content: { [PROBLEM_TYPE]: { schema: ref("Problem") } },
      };
    const operation: JsonSchema = {
      operationId: route.operationId,
      summary: route.summary,
      parameters: [...pathParams, ...queryParams, ...idempotency],
      responses,
    };
    if (route.body) operation.requestBody = { required: true, content: { "application/json": { schema: route.body } } };
    if (route.scope === "public") operation.security = [];
    else if (schemeNames.length > 0) {
      operation.security = schemeNames.map((name) => ({ [name]: [] }));
      operation["x-tickerq-scope"] = route.scope;
    }
    (paths[route.path] ??= {})[route.method] = operation;
  }
  const document: JsonSchema = {
    openapi: "3.1.0",
    info: { title: "tickerq HTTP API", version: VERSION },
    servers: [{ url: base === "" ? "/" : base }],
    paths,
    components: { schemas: SCHEMAS, securitySchemes: schemes },
  };
  if (schemeNames.length > 0) document.security = schemeNames.map((name) => ({ [name]: [] }));
  return document;
}
