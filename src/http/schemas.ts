/** The JSON Schemas of the API's bodies, as OpenAPI 3.1 components. */

import { PRIORITIES, TICKER_STATUSES } from "../lifecycle.js";
import { ref, type JsonSchema } from "./route.js";

const time = { type: "string", format: "date-time" };
const nullable = (schema: JsonSchema): JsonSchema => ({ oneOf: [schema, { type: "null" }] });
const timeInput = {
  description: "ISO 8601 time or epoch milliseconds",
  oneOf: [{ type: "string" }, { type: "integer" }],
};
const retryIntervals = { type: "array", items: { type: "number", minimum: 0 } };

const jobFields: Record<string, JsonSchema> = {
  function: { type: "string", description: "The function to run (Tickr: `type` or `name`)" },
  type: { type: "string", description: "Alias of function (Tickr)" },
  name: { type: "string", description: "Alias of function" },
  request: { description: "The function's request, any JSON (Tickr: `payload`)" },
  payload: { description: "Alias of request (Tickr)" },
  executionTime: { ...timeInput, description: "When it runs. @default now (aliases: runAt, run_at, executeAt)" },
  runAt: timeInput,
  run_at: timeInput,
  executeAt: timeInput,
  execute_at: timeInput,
  delay: {
    description: 'Run after this long: seconds, or a duration like "30s", "5m", "2h"',
    oneOf: [{ type: "number", minimum: 0 }, { type: "string" }],
  },
  id: { type: "string", maxLength: 100, description: "Your id; a retry with the same id returns the first job" },
  description: { type: "string" },
  priority: { enum: [...PRIORITIES] },
  retries: { type: "integer", minimum: 0 },
  retryIntervals,
};

export const SCHEMAS: Record<string, JsonSchema> = {
  Problem: {
    type: "object",
    description: "RFC 9457 problem details",
    required: ["type", "title", "status", "detail", "code"],
    properties: {
      type: { type: "string" },
      title: { type: "string" },
      status: { type: "integer" },
      detail: { type: "string" },
      code: { type: "string", description: "The library's error code, e.g. INVALID_ARGUMENT, NOT_FOUND" },
      field: { type: "string", description: "The input at fault" },
      value: { description: "The value at fault, when not a secret" },
    },
  },
  JobInput: {
    type: "object",
    additionalProperties: false,
    properties: { ...jobFields, children: { type: "array", items: ref("ChildJobInput") } },
  },
  ChildJobInput: {
    type: "object",
    additionalProperties: false,
    properties: {
      ...jobFields,
      runCondition: { type: "string" },
      children: { type: "array", items: ref("ChildJobInput") },
    },
  },
  JobsInput: {
    oneOf: [
      ref("JobInput"),
      { type: "array", items: ref("JobInput"), minItems: 1, maxItems: 1000 },
      {
        type: "object",
        additionalProperties: false,
        required: ["jobs"],
        properties: { jobs: { type: "array", items: ref("JobInput"), minItems: 1, maxItems: 1000 } },
      },
    ],
  },
  JobPatch: {
    type: "object",
    additionalProperties: false,
    properties: Object.fromEntries(
      Object.entries(jobFields).filter(([name]) => !["function", "type", "name", "id"].includes(name)),
    ),
  },
  Created: {
    oneOf: [
      {
        type: "object",
        required: ["id", "location"],
        properties: { id: { type: "string" }, location: { type: "string" } },
      },
      {
        type: "object",
        required: ["jobs"],
        properties: {
          jobs: {
            type: "array",
            items: { type: "object", properties: { id: { type: "string" }, location: { type: "string" } } },
          },
        },
      },
    ],
  },
  Job: {
    type: "object",
    required: ["id", "type", "function", "status"],
    properties: {
      id: { type: "string" },
      type: { enum: ["TimeTicker", "CronTickerOccurrence"] },
      function: { type: "string" },
      description: nullable({ type: "string" }),
      request: { description: "The request, parsed" },
      executionTime: nullable(time),
      scheduledFor: nullable(time),
      status: { enum: [...TICKER_STATUSES] },
      priority: { enum: [...PRIORITIES] },
      retries: { type: "integer" },
      retryIntervals: nullable(retryIntervals),
      retryCount: { type: "integer" },
      lockHolder: nullable({ type: "string" }),
      lockedAt: nullable(time),
      executedAt: nullable(time),
      elapsedMs: nullable({ type: "number" }),
      exceptionMessage: nullable({ type: "string" }),
      exceptionDetails: nullable({ type: "string" }),
      parentId: nullable({ type: "string" }),
      runCondition: nullable({ type: "string" }),
      cronTickerId: nullable({ type: "string" }),
      cancelRequested: { type: "boolean" },
      createdAt: time,
      updatedAt: time,
    },
  },
  JobPage: {
    type: "object",
    required: ["items", "nextCursor"],
    properties: { items: { type: "array", items: ref("Job") }, nextCursor: nullable({ type: "string" }) },
  },
  JobOffsetPage: {
    type: "object",
    properties: { items: { type: "array", items: ref("Job") }, total: { type: "integer" } },
  },
  Attempt: {
    type: "object",
    properties: {
      jobId: { type: "string" },
      attempt: { type: "integer" },
      status: { type: "string" },
      nodeId: { type: "string" },
      startedAt: time,
      finishedAt: time,
      elapsedMs: { type: "number" },
      exceptionMessage: nullable({ type: "string" }),
      superseded: { type: "boolean" },
    },
  },
  CancelResult: {
    type: "object",
    properties: { id: { type: "string" }, result: { enum: ["cancelled", "requested"] } },
  },
  CronTickerInput: {
    type: "object",
    required: ["function", "expression"],
    properties: {
      function: { type: "string" },
      expression: { type: "string", description: "5 or 6 fields (seconds first when 6)" },
      timeZone: { type: "string", description: "IANA zone. @default UTC" },
      request: {},
      retries: { type: "integer", minimum: 0 },
      retryIntervals,
      description: { type: "string" },
      priority: { enum: [...PRIORITIES] },
      enabled: { type: "boolean" },
    },
  },
  CronTickerPatch: {
    type: "object",
    properties: {
      expression: { type: "string" },
      timeZone: nullable({ type: "string" }),
      request: {},
      retries: { type: "integer", minimum: 0 },
      retryIntervals: nullable(retryIntervals),
      description: nullable({ type: "string" }),
      priority: { enum: [...PRIORITIES] },
      enabled: { type: "boolean" },
    },
  },
  CronTicker: {
    type: "object",
    required: ["id", "function", "expression", "enabled"],
    properties: {
      id: { type: "string" },
      function: { type: "string" },
      expression: { type: "string" },
      timeZone: nullable({ type: "string" }),
      request: {},
      enabled: { type: "boolean" },
      createdAt: time,
      updatedAt: time,
    },
  },
  CronTickerPage: {
    type: "object",
    properties: { items: { type: "array", items: ref("CronTicker") }, total: { type: "integer" } },
  },
  Function: {
    type: "object",
    properties: {
      name: { type: "string" },
      cron: nullable({ type: "string" }),
      priority: { type: "string" },
      retries: { type: "integer" },
      description: nullable({ type: "string" }),
      hasSchema: { type: "boolean" },
      requestSchema: {
        oneOf: [{ type: "object" }, { type: "null" }],
        description: "The request's JSON Schema (draft 2020-12), where the function's schema can produce one",
      },
    },
  },
  Health: { type: "object", properties: { status: { const: "ok" } } },
};
