/** Routes for cron tickers: create, read, list, change, delete, trigger once, list occurrences. */

import { TICKER_STATUSES } from "../lifecycle.js";
import { ApiProblem } from "./problem.js";
import { queryBool, queryDate, queryEnum, queryEnumList, queryInt, queryText } from "./query.js";
import { json, ref, type AnyTickerQ, type RouteContext, type RouteDef } from "./route.js";

const PAGE_QUERY = [
  { name: "limit", schema: { type: "integer", minimum: 1, maximum: 500 }, description: "@default 50" },
  { name: "offset", schema: { type: "integer", minimum: 0 }, description: "@default 0" },
] as const;

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new ApiProblem(400, "INVALID_ARGUMENT", "body must be a JSON object", "body", body);
  return body as Record<string, unknown>;
}

export function cronRoutes(tq: AnyTickerQ): RouteDef[] {
  const idOf = (ctx: RouteContext) => ctx.params.id!;
  const notFound = (id: string) =>
    new ApiProblem(404, "NOT_FOUND", `cron ticker ${JSON.stringify(id)} does not exist`, "id", id);
  const location = (base: string, id: string) => `${base}/cron-tickers/${encodeURIComponent(id)}`;

  return [
    {
      method: "post",
      path: "/cron-tickers",
      operationId: "createCronTicker",
      summary: "Create a cron ticker",
      scope: "write",
      body: ref("CronTickerInput"),
      responses: { 201: { description: "Created", schema: ref("CronTicker"), headers: ["Location"] } },
      problems: [400, 413, 415],
      handle: async (ctx) => {
        const ticker = await tq.cronTickers.add(objectBody(ctx.body) as never);
        return json(ticker, 201, { location: location(ctx.base, ticker.id) });
      },
    },
    {
      method: "get",
      path: "/cron-tickers",
      operationId: "listCronTickers",
      summary: "List cron tickers",
      scope: "read",
      query: [
        { name: "function", schema: { type: "string" }, description: "Only tickers of this function" },
        { name: "enabled", schema: { type: "boolean" }, description: "Only enabled (true) or disabled (false)" },
        ...PAGE_QUERY,
      ],
      responses: { 200: { description: "A page", schema: ref("CronTickerPage") } },
      problems: [400],
      handle: async ({ query }) =>
        json(
          await tq.cronTickers.list({
            function: queryText(query, "function"),
            enabled: queryBool(query, "enabled"),
            limit: queryInt(query, "limit", 50, 1, 500),
            offset: queryInt(query, "offset", 0, 0, 10_000_000),
          }),
        ),
    },
    {
      method: "get",
      path: "/cron-tickers/{id}",
      operationId: "getCronTicker",
      summary: "One cron ticker",
      scope: "read",
      responses: { 200: { description: "The ticker", schema: ref("CronTicker") } },
      problems: [404],
      handle: async (ctx) => {
        const ticker = await tq.cronTickers.get(idOf(ctx));
        if (!ticker) throw notFound(idOf(ctx));
        return json(ticker);
      },
    },
    {
      method: "patch",
      path: "/cron-tickers/{id}",
      operationId: "updateCronTicker",
      summary: "Change a cron ticker; its Idle occurrences are re-planned",
      scope: "write",
      body: ref("CronTickerPatch"),
      responses: { 200: { description: "The ticker", schema: ref("CronTicker") } },
      problems: [400, 404, 413, 415],
      handle: async (ctx) => json(await tq.cronTickers.update(idOf(ctx), objectBody(ctx.body) as never)),
    },
    {
      method: "delete",
      path: "/cron-tickers/{id}",
      operationId: "deleteCronTicker",
      summary: "Delete a cron ticker with its occurrences",
      scope: "write",
      responses: { 204: { description: "Deleted", schema: null } },
      problems: [404],
      handle: async (ctx) => {
        if (!(await tq.cronTickers.delete(idOf(ctx)))) throw notFound(idOf(ctx));
        return new Response(null, { status: 204 });
      },
    },
    {
      method: "post",
      path: "/cron-tickers/{id}/trigger",
      operationId: "triggerCronTicker",
      summary: "Run the cron ticker once now, as an extra occurrence",
      scope: "write",
      responses: { 201: { description: "The occurrence", schema: ref("Job"), headers: ["Location"] } },
      problems: [404, 409],
      handle: async (ctx) => {
        const occurrence = await tq.cronTickers.trigger(idOf(ctx));
        return json(occurrence, 201, { location: `${ctx.base}/jobs/${encodeURIComponent(occurrence.id)}` });
      },
    },
    {
      method: "get",
      path: "/cron-tickers/{id}/occurrences",
      operationId: "listCronTickerOccurrences",
      summary: "A cron ticker's occurrences, newest first",
      scope: "read",
      query: [
        { name: "status", schema: { type: "string" }, description: `Comma-separated: ${TICKER_STATUSES.join(", ")}` },
        { name: "from", schema: { type: "string" }, description: "executionTime from (inclusive)" },
        { name: "to", schema: { type: "string" }, description: "executionTime to (exclusive)" },
        { name: "order", schema: { enum: ["asc", "desc"] }, description: "@default desc" },
        ...PAGE_QUERY,
      ],
      responses: { 200: { description: "A page", schema: ref("JobOffsetPage") } },
      problems: [400, 404],
      handle: async (ctx) => {
        const id = idOf(ctx);
        if (!(await tq.cronTickers.get(id))) throw notFound(id);
        const { query } = ctx;
        return json(
          await tq.cronTickers.occurrences(id, {
            status: queryEnumList(query, "status", TICKER_STATUSES),
            from: queryDate(query, "from"),
            to: queryDate(query, "to"),
            order: queryEnum(query, "order", ["asc", "desc"] as const),
            limit: queryInt(query, "limit", 50, 1, 500),
            offset: queryInt(query, "offset", 0, 0, 10_000_000),
          }),
        );
      },
    },
  ];
}
