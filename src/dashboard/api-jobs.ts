/** API routes for jobs: time tickers and cron occurrences, their detail, actions and bulk actions. */

import { Hono } from "hono";
import type { TickerQ } from "../tickerq.js";
import type { JobQuery, JobRecord } from "../store/contract.js";
import type { DashboardQueries } from "./queries.js";
import { BulkOperations } from "./bulk.js";
import { TICKER_STATUSES, type TickerStatus } from "../lifecycle.js";
import { HttpError, notFound } from "./http-errors.js";
import { jsonBody, onlyEditable, queryDate, queryEnum, queryInt, queryStatuses, queryText } from "./query.js";
import { attemptView, jobView } from "./views.js";

type AnyTickerQ = TickerQ<any>;

const BULK_ACTIONS = ["delete", "retry", "cancel"] as const;
/** What PATCH /jobs/:id may change (of an Idle time ticker). */
const JOB_EDITABLE = ["executionTime", "request", "description"] as const;

export function jobRoutes(tq: AnyTickerQ, queries: DashboardQueries, onChange: () => void): Hono {
  const app = new Hono();
  const now = () => tq.options.clock.now();
  const bulkOperations = new BulkOperations(tq, queries, onChange);

  app.get("/", async (c) => {
    const query: JobQuery = {
      type: queryEnum(c, "type", ["TimeTicker", "CronTickerOccurrence"] as const) ?? "TimeTicker",
      status: queryStatuses(c),
      function: queryText(c, "function"),
      cronTickerId: queryText(c, "cronTickerId"),
      from: queryDate(c, "from"),
      to: queryDate(c, "to"),
      search: queryText(c, "search")?.trim() || undefined,
      searchRequest: c.req.query("searchRequest") === "1" || undefined,
    };
    const parentId = queryText(c, "parentId");
    if (parentId !== undefined) query.parentId = parentId;
    else if (c.req.query("topLevel") === "1") query.parentId = null;
    const orderBy = queryEnum(c, "orderBy", ["attention", "executionTime", "updatedAt", "createdAt"] as const);
    const order = queryEnum(c, "order", ["asc", "desc"] as const) ?? "desc";
    const limit = queryInt(c, "limit", 50, 1, 500);
    const offset = queryInt(c, "offset", 0, 0, 10_000_000);
    const afterId = c.req.query("afterId");
    const afterTime = c.req.query("afterTime");
    const afterValue = afterTime === undefined || afterTime === "" ? null : queryDate(c, "afterTime")!;
    const view = (job: JobRecord & { childCount: number; lastNodeId: string | null }) => ({
      ...jobView(job),
      childCount: job.childCount,
      lastNodeId: job.lastNodeId,
    });
    if (orderBy === undefined || orderBy === "attention") {
      const section = queryInt(c, "afterSection", 0, 0, 2);
      const page = await queries.attentionPage(
        query,
        limit,
        offset,
        afterId ? { section, value: afterValue, id: afterId } : null,
      );
      const next = page.next && {
        afterSection: page.next.section,
        afterTime: page.next.value ? page.next.value.getTime() : "",
        afterId: page.next.id,
      };
      return c.json({ items: page.items.map(view), total: page.total, next });
    }
    const page = await queries.jobPage({
      ...query,
      orderBy,
      order,
      limit,
      offset: offset || undefined,
      after: afterId ? { value: afterValue, id: afterId } : undefined,
    });
    const last = page.items[page.items.length - 1];
    const next =
      last && page.items.length === limit
        ? { afterTime: last[orderBy] ? last[orderBy].getTime() : "", afterId: last.id }
        : null;
    return c.json({ items: page.items.map(view), total: page.total, next });
  });

  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const detail = await queries.jobDetail(id);
    if (!detail) throw notFound("job", id);
    const { job, attempts, children, parent, cronTicker: cron } = detail;
    return c.json({
      job: jobView(job),
      attempts: attempts.map(attemptView),
      children: children.map(jobView),
      parent: parent && { id: parent.id, function: parent.function, status: parent.status },
      cronTicker: cron && { id: cron.id, function: cron.function, expression: cron.expression },
    });
  });

  app.post("/", async (c) => {
    const body = await jsonBody(c);
    const ticker = await tq.timeTickers.add(body as never);
    onChange();
    return c.json({ job: jobView(ticker) }, 201);
  });

  app.patch("/:id", async (c) => {
    const id = c.req.param("id");
    const body = await jsonBody(c);
    onlyEditable(body, JOB_EDITABLE);
    const patch: Record<string, unknown> = {};
    if (body.executionTime !== undefined) {
      const at = new Date(body.executionTime as string);
      if (typeof body.executionTime === "string" && !Number.isNaN(at.getTime()) && at.getTime() < now()) {
        throw new HttpError(
          400,
          "INVALID_ARGUMENT",
          `executionTime must not be in the past; got ${at.toISOString()}`,
          "executionTime",
        );
      }
      patch.executionTime = body.executionTime;
    }
    if ("request" in body) patch.request = body.request;
    if (body.description !== undefined) patch.description = body.description;
    const job = await queries.job(id);
    if (!job) throw notFound("job", id);
    if (job.type !== "TimeTicker")
      throw new HttpError(409, "INVALID_STATE", `job ${id} is a cron occurrence; edit its cron ticker instead`);
    const updated = await tq.timeTickers.update(id, patch);
    onChange();
    return c.json({ job: jobView(updated) });
  });

  app.delete("/:id", async (c) => {
    const id = c.req.param("id");
    const deleted = await queries.deleteJobs([id]);
    if (deleted === 0) throw notFound("job", id);
    onChange();
    return c.json({ deleted });
  });

  app.post("/:id/retry", async (c) => {
    const job = await tq.retry(c.req.param("id"));
    return c.json({ job: jobView(job) });
  });

  app.post("/:id/run-now", async (c) => {
    const job = await tq.runNow(c.req.param("id"));
    return c.json({ job: jobView(job) });
  });

  app.post("/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const result = await tq.cancel(id);
    if (result === "not-found") throw notFound("job", id);
    if (result === "final") throw new HttpError(409, "INVALID_STATE", `job ${id} has already ended`);
    return c.json({ result });
  });

  app.get("/bulk/:operation", (c) => {
    const progress = bulkOperations.get(c.req.param("operation"));
    if (!progress) throw notFound("bulk operation", c.req.param("operation"));
    return c.json({ operation: progress });
  });

  app.post("/bulk", async (c) => {
    const body = await jsonBody(c);
    const action = body.action as (typeof BULK_ACTIONS)[number];
    if (!BULK_ACTIONS.includes(action)) {
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `action must be one of ${BULK_ACTIONS.join(", ")}; got ${JSON.stringify(body.action)}`,
        "action",
      );
    }
    // "Apply to all matching": a list filter instead of ids, run on the server in batches.
    if (body.filter !== undefined) {
      if (body.ids !== undefined)
        throw new HttpError(400, "INVALID_ARGUMENT", "send either ids or filter, not both", "filter");
      const operation = await bulkOperations.start(action, bulkFilter(body.filter));
      return c.json({ operation }, 202);
    }
    const ids = body.ids;
    if (
      !Array.isArray(ids) ||
      ids.length === 0 ||
      ids.length > 1000 ||
      !ids.every((id) => typeof id === "string" && id !== "")
    ) {
      throw new HttpError(400, "INVALID_ARGUMENT", "ids must be an array of 1 to 1000 job ids", "ids");
    }
    if (action === "delete") {
      const deleted = await queries.deleteJobs(ids);
      onChange();
      return c.json({ action, succeeded: deleted, failed: [] });
    }
    const failed: { id: string; message: string }[] = [];
    let succeeded = 0;
    for (const id of ids as string[]) {
      try {
        if (action === "retry") await tq.retry(id);
        else {
          const result = await tq.cancel(id);
          if (result === "not-found" || result === "final")
            throw new Error(result === "final" ? "already ended" : "not found");
        }
        succeeded++;
      } catch (error) {
        failed.push({ id, message: error instanceof Error ? error.message : String(error) });
      }
    }
    return c.json({ action, succeeded, failed });
  });

  return app;
}

/** A list filter sent in a bulk body, checked as the list's query string is. */
function bulkFilter(raw: unknown): Omit<JobQuery, "orderBy" | "order" | "after" | "limit" | "offset"> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new HttpError(400, "INVALID_ARGUMENT", "filter must be an object", "filter");
  const f = raw as Record<string, unknown>;
  const text = (name: string): string | undefined => {
    const value = f[name];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value !== "string" || value.length > 1000 || value.includes("\0"))
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `filter.${name} must be a string of at most 1000 characters without NUL`,
        `filter.${name}`,
      );
    return value;
  };
  const date = (name: string): Date | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const at = new Date(value);
    if (Number.isNaN(at.getTime()))
      throw new HttpError(400, "INVALID_ARGUMENT", `filter.${name} must be an ISO date`, `filter.${name}`);
    return at;
  };
  const type = text("type") ?? "TimeTicker";
  if (type !== "TimeTicker" && type !== "CronTickerOccurrence")
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      "filter.type must be TimeTicker or CronTickerOccurrence",
      "filter.type",
    );
  const statuses = text("status")?.split(",").filter(Boolean);
  for (const status of statuses ?? [])
    if (!(TICKER_STATUSES as readonly string[]).includes(status))
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `filter.status has an unknown status ${JSON.stringify(status)}`,
        "filter.status",
      );
  return {
    type,
    status: statuses as TickerStatus[] | undefined,
    function: text("function"),
    search: text("search")?.trim() || undefined,
    searchRequest: f.searchRequest === true || f.searchRequest === "1" || undefined,
    from: date("from"),
    to: date("to"),
  };
}
