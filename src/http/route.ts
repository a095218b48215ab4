/**
 * One route definition serves twice: createApi mounts its handler, and the OpenAPI document
 * is generated from its method, path, parameters, body and response schemas.
 */

import type { TickerQ } from "../tickerq.js";
import type { ApiScope } from "./auth.js";

/** A JSON Schema (2020-12, as OpenAPI 3.1 takes it). */
export type JsonSchema = Record<string, unknown>;

export interface ParamDef {
  name: string;
  schema: JsonSchema;
  description: string;
  required?: boolean;
}

export interface RouteContext {
  request: Request;
  /** Path parameters by name. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body, for routes with `body`. */
  body: unknown;
  /** The API's base path, for Location headers. */
  base: string;
  /** Who called, as auth tags it ("" when auth names no one): scopes Idempotency-Keys. */
  principal: string;
}

export interface RouteDef {
  method: "get" | "post" | "patch" | "delete";
  /** The OpenAPI path, `{name}` for parameters. */
  path: string;
  operationId: string;
  summary: string;
  /** What the caller needs; "public" routes (probes, the document) need no credentials. */
  scope: ApiScope | "public";
  query?: readonly ParamDef[];
  /** The JSON body's schema (a `$ref` or inline); routes without one read no body. */
  body?: JsonSchema;
  /** Success statuses and their body schemas (null: no body). */
  responses: Record<number, { description: string; schema: JsonSchema | null; headers?: string[] }>;
  /** Problem statuses the route may answer besides 401/403 (which auth adds). */
  problems: readonly number[];
  handle(ctx: RouteContext): Promise<Response>;
}

export type AnyTickerQ = TickerQ<any>;

export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}
