/** Routes for one-shot jobs: schedule (one or a batch, idempotent), read, list, act, change, delete. */

import { TickerQError } from "../errors.js";
import { TICKER_STATUSES } from "../lifecycle.js";
import { toTimeTicker } from "../records.js";
import type { JobQuery } from "../store/contract.js";
import { idempotencyKey, idFromKey } from "./idempotency.js";
import { jobsOfBody, normalisePatch } from "./job-input.js";
import { ApiProblem } from "./problem.js";
import { decodeCursor, encodeCursor, queryDate, queryEnum, queryEnumList, queryInt, queryText } from "./query.js";
import { json, ref, type AnyTickerQ, type ParamDef, type RouteContext, type RouteDef } from "./route.js";

const ORDER_BY = ["executionTime", "updatedAt", "createdAt"] as const;

const LIST_QUERY: readonly ParamDef[] = [
  { name: "type", schema: { enum: ["TimeTicker", "CronTickerOccurrence"] }, description: "@default TimeTicker" },
  { name: "status", schema: { type: "string" }, description: `Comma-separated: ${TICKER_STATUSES.join(", ")}` },
  { name: "function", schema: { type: "string" }, description: "Only jobs of this function" },
  { name: "cronTickerId", schema: { type: "string" }, description: "Only occurrences of this cron ticker" },
  { name: "parentId", schema: { type: "string" }, description: "Only children of this job" },
  { name: "from", schema: { type: "string" }, description: "executionTime from (inclusive), ISO 8601 or epoch ms" },
  { name: "to", schema: { type: "string" }, description: "executionTime to (exclusive), ISO 8601 or epoch ms" },
  { name: "search", schema: { type: "string" }, description: "Substring of id, function or description" },
  { name: "orderBy", schema: { enum: [...ORDER_BY] }, description: "@default executionTime" },
  { name: "order", schema: { enum: ["asc", "desc"] }, description: "@default desc" },
  { name: "limit", schema: { type: "integer", minimum: 1, maximum: 500 }, description: "@default 50" },
  { name: "cursor", schema: { type: "string" }, description: "The previous page's nextCursor" },
];

const location = (base: string, id: string) => `${base}/jobs/${encodeURIComponent(id)}`;

/** A library error about `tickers[i].x` renamed after the body the client sent. */
function renamed(error: unknown, batchPrefix: string | null): unknown {
  if (!(error instanceof TickerQError) || error.field === undefined) return error;
  const match = /^tickers(\[\d+\])\.?(.*)$/.exec(error.field);
  if (!match || batchPrefix === null) return error;
  const field = `${batchPrefix}${match[1]}${match[2] ? `.${match[2]}` : ""}`;
  const message = error.message.split(error.field).join(field);
  return new TickerQError(error.code, message, { field, cause: error.cause });
}

export function jobRoutes(tq: AnyTickerQ, now: () => number): RouteDef[] {
  const job = async (id: string) => {
    const found = await tq.job(id);
    if (!found) throw new ApiProblem(404, "NOT_FOUND", `job ${JSON.stringify(id)} does not exist`, "id", id);
    return found;
  };

  /** The first request's answer when every job of this one exists already; null when none does. */
  const replay = async (ids: string[], jobs: Record<string, unknown>[], batch: boolean, base: string) => {
    const found = await Promise.all(ids.map((id) => tq.timeTickers.get(id)));
    if (found.some((f) => f === null)) return null;
    found.forEach((f, i) => {
      if (f!.function !== jobs[i]!.function)
        throw new ApiProblem(
          409,
          "INVALID_STATE",
          `job ${JSON.stringify(ids[i])} exists for function ${JSON.stringify(f!.function)}; this request names another, so the Idempotency-Key or id was reused`,
          batch ? `jobs[${i}].id` : "id",
          ids[i],
        );
    });
    return created(ids, batch, base, 200);
  };

  const created = (ids: string[], batch: boolean, base: string, status: 200 | 201) => {
    const headers = { location: location(base, ids[0]!) };
    if (!batch) return json({ id: ids[0], location: headers.location }, status, headers);
    return json({ jobs: ids.map((id) => ({ id, location: location(base, id) })) }, status, headers);
  };

  const schedule = async ({ request, body, base, principal }: RouteContext) => {
    const key = idempotencyKey(request);
    const { jobs, batch } = jobsOfBody(body, now());
    if (key !== null) jobs.forEach((j, i) => (j.id ??= idFromKey(key, i, batch, principal)));
    const ids = jobs.every((j) => typeof j.id === "string") ? jobs.map((j) => j.id as string) : null;
    if (ids) {
      const earlier = await replay(ids, jobs, batch, base);
      if (earlier) return earlier;
    }
    try {
      const tickers = batch
        ? await tq.timeTickers.addMany(jobs as never)
        : [await tq.timeTickers.add(jobs[0] as never)];
      return created(
        tickers.map((t) => t.id),
        batch,
        base,
        201,
      );
    } catch (error) {
      // A retry that raced the first request: its insert was refused for the ids the first took.
      if (ids && error instanceof TickerQError && error.field === "id") {
        const earlier = await replay(ids, jobs, batch, base);
        if (earlier) return earlier;
      }
      throw renamed(error, batch ? (Array.isArray(body) ? "" : "jobs") : null);
    }
  };

  const list = async ({ query }: RouteContext) => {
    const orderBy = queryEnum(query, "orderBy", ORDER_BY) ?? "executionTime";
    const limit = queryInt(query, "limit", 50, 1, 500);
    const cursor = queryText(query, "cursor");
    const filter: JobQuery = {
      type: queryEnum(query, "type", ["TimeTicker", "CronTickerOccurrence"] as const) ?? "TimeTicker",
      status: queryEnumList(query, "status", TICKER_STATUSES),
      function: queryText(query, "function"),
      cronTickerId: queryText(query, "cronTickerId"),
      from: queryDate(query, "from"),
      to: queryDate(query, "to"),
      search: queryText(query, "search"),
      orderBy,
      order: queryEnum(query, "order", ["asc", "desc"] as const) ?? "desc",
      limit: limit + 1,
      withTotal: false,
    };
    const parentId = queryText(query, "parentId");
    if (parentId !== undefined) filter.parentId = parentId;
    if (cursor !== undefined) filter.after = decodeCursor(cursor);
    for (const key of Object.keys(filter) as (keyof JobQuery)[]) if (filter[key] === undefined) delete filter[key];
    const page = await tq.store.jobList(filter);
    const items = page.items.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = page.items.length > limit && last ? encodeCursor(last[orderBy], last.id) : null;
    return json({ items: items.map((j) => toTimeTicker(j)), nextCursor });
  };

  const idParam = (ctx: RouteContext) => ctx.params.id!;

  return [
    {
      method: "post",
      path: "/jobs",
      operationId: "createJobs",
      summary: "Schedule one job or a batch (all or nothing); Idempotency-Key makes retries safe",
      scope: "write",
      body: ref("JobsInput"),
      responses: {
        201: { description: "Scheduled", schema: ref("Created"), headers: ["Location"] },
        200: { description: "A retry: the first request's answer", schema: ref("Created"), headers: ["Location"] },
      },
      problems: [400, 409, 413, 415],
      handle: schedule,
    },
    {
      method: "get",
      path: "/jobs",
      operationId: "listJobs",
      summary: "List jobs, newest first, a page at a time (keyset cursor)",
      scope: "read",
      query: LIST_QUERY,
      responses: { 200: { description: "A page", schema: ref("JobPage") } },
      problems: [400],
      handle: list,
    },
    {
      method: "get",
      path: "/jobs/{id}",
      operationId: "getJob",
      summary: "One job (time ticker or cron occurrence)",
      scope: "read",
      responses: { 200: { description: "The job", schema: ref("Job") } },
      problems: [404],
      handle: async (ctx) => json(await job(idParam(ctx))),
    },
    {
      method: "get",
      path: "/jobs/{id}/attempts",
      operationId: "listJobAttempts",
      summary: "A job's attempts, oldest first",
      scope: "read",
      responses: { 200: { description: "Attempts", schema: { type: "array", items: ref("Attempt") } } },
      problems: [404],
      handle: async (ctx) => {
        await job(idParam(ctx));
        return json(await tq.attempts(idParam(ctx)));
      },
    },
    {
      method: "post",
      path: "/jobs/{id}/cancel",
      operationId: "cancelJob",
      summary: "Cancel a job: at once when Idle or Queued; a running job is asked to stop",
      scope: "write",
      responses: { 200: { description: "Cancelled or requested", schema: ref("CancelResult") } },
      problems: [404, 409],
      handle: async (ctx) => {
        const id = idParam(ctx);
        const result = await tq.cancel(id);
        if (result === "not-found")
          throw new ApiProblem(404, "NOT_FOUND", `job ${JSON.stringify(id)} does not exist`, "id", id);
        if (result === "final")
          throw new ApiProblem(409, "INVALID_STATE", `job ${JSON.stringify(id)} has ended already`, "id", id);
        return json({ id, result });
      },
    },
    {
      method: "post",
      path: "/jobs/{id}/retry",
      operationId: "retryJob",
      summary: "Run a Failed, Cancelled or Skipped job again, now",
      scope: "write",
      responses: { 200: { description: "The job, Idle again", schema: ref("Job") } },
      problems: [404, 409],
      handle: async (ctx) => json(await tq.retry(idParam(ctx))),
    },
    {
      method: "post",
      path: "/jobs/{id}/run-now",
      operationId: "runJobNow",
      summary: "Make an Idle job due now",
      scope: "write",
      responses: { 200: { description: "The job", schema: ref("Job") } },
      problems: [404, 409],
      handle: async (ctx) => json(await tq.runNow(idParam(ctx))),
    },
    {
      method: "patch",
      path: "/jobs/{id}",
      operationId: "updateJob",
      summary: "Change an Idle job",
      scope: "write",
      body: ref("JobPatch"),
      responses: { 200: { description: "The job", schema: ref("Job") } },
      problems: [400, 404, 409, 413, 415],
      handle: async (ctx) => json(await tq.timeTickers.update(idParam(ctx), normalisePatch(ctx.body, now()))),
    },
    {
      method: "delete",
      path: "/jobs/{id}",
      operationId: "deleteJob",
      summary: "Delete a job with its children and history",
      scope: "write",
      responses: { 204: { description: "Deleted", schema: null } },
      problems: [404],
      handle: async (ctx) => {
        const id = idParam(ctx);
        if (!(await tq.timeTickers.delete(id)))
          throw new ApiProblem(404, "NOT_FOUND", `job ${JSON.stringify(id)} does not exist`, "id", id);
        return new Response(null, { status: 204 });
      },
    },
  ];
}
