/**
 * tickerq/otel: traces and metrics through the middleware seam, on @opentelemetry/api only
 * (bring your own SDK). A PRODUCER span `send {function}` at enqueue writes its context into
 * the job's metadata (W3C traceparent), and each attempt is a CONSUMER span `process
 * {function}` parented on it, on whichever node runs it; the handler's own spans nest under
 * `process`. With no SDK registered every call is a no-op.
 */

import {
  context,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type MeterProvider,
  type ObservableResult,
  type TracerProvider,
} from "@opentelemetry/api";
import { TerminateExecutionError, TickerQError } from "./errors.js";
import { VERSION } from "./tickerq.js";
import type { EnqueueJob, Middleware, MiddlewareNode } from "./middleware.js";
import type { TickerContext } from "./functions.js";

export interface OtelMiddlewareOptions {
  /** @default the global tracer provider (trace.getTracerProvider()) */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider (metrics.getMeterProvider()) */
  meterProvider?: MeterProvider;
  /** Spans around the engine's claim, start and completion calls, for finding a slow database. @default false */
  storeSpans?: boolean;
}

const SCOPE = "tickerq";

/** W3C trace context in a metadata map, read and written by the propagation API. */
const metadataCarrier = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  set: (carrier: Record<string, string>, key: string, value: string) => void (carrier[key] = value),
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

/** The status an attempt ends with, as the executor will record it (`Idle`: a retry follows). */
function statusOf(ctx: TickerContext<unknown>, error: unknown): string {
  const reason: unknown = ctx.signal.aborted ? ctx.signal.reason : null;
  const stop = reason instanceof TickerQError ? reason.code : null;
  if (error === null) return stop === "CANCELLED" ? "Cancelled" : ctx.isDue ? "DueDone" : "Done";
  if (error instanceof TerminateExecutionError) return "Skipped";
  if (stop === "CANCELLED") return "Cancelled";
  if (stop === "SHUTDOWN" || stop === "LEASE_LOST") return "Idle";
  return ctx.retryCount < ctx.retries ? "Idle" : "Failed";
}

const FINAL = new Set(["Done", "DueDone", "Failed", "Cancelled", "Skipped"]);

/**
 * Spans and metrics for every enqueue and run: `createTickerQ({ middleware: [otelMiddleware()] })`.
 * Metrics: `tickerq.jobs.enqueued` and `tickerq.jobs.completed` (counters), `tickerq.job.duration`
 * and `tickerq.job.lateness` (histograms, ms), `tickerq.jobs.due` (gauge of due Idle jobs).
 */
export function otelMiddleware(options: OtelMiddlewareOptions = {}): Middleware {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE, VERSION);
  const enqueued = meter.createCounter("tickerq.jobs.enqueued", { description: "Jobs stored by this node" });
  const completed = meter.createCounter("tickerq.jobs.completed", {
    description: "Jobs that reached a final status on this node, by function and status",
  });
  const duration = meter.createHistogram("tickerq.job.duration", {
    description: "How long each attempt's handler ran",
    unit: "ms",
  });
  const lateness = meter.createHistogram("tickerq.job.lateness", {
    description: "How long after its scheduled time each attempt started",
    unit: "ms",
  });
  const due = meter.createObservableGauge("tickerq.jobs.due", {
    description: "Idle jobs that are due but not started, by function",
  });
  const nodes = new Set<MiddlewareNode>();
  // One query per collection and node; nodes sharing a store report the same counts, so each
  // carries its node id.
  const observeDue = async (result: ObservableResult) => {
    await Promise.all(
      [...nodes].map(async (node) => {
        const counts = await node.dueCounts().catch(() => null);
        if (!counts) return;
        for (const [fn, n] of Object.entries(counts)) {
          result.observe(n, { "messaging.destination.name": fn, "tickerq.node_id": node.nodeId });
        }
      }),
    );
  };

  const middleware: Middleware = {
    name: "otel",
    attach(node) {
      if (nodes.size === 0) due.addCallback(observeDue);
      nodes.add(node);
      return () => {
        nodes.delete(node);
        if (nodes.size === 0) due.removeCallback(observeDue);
      };
    },

    async enqueue(job: EnqueueJob, next) {
      // A cron occurrence starts its own trace; any other job joins the caller's.
      const parent = job.type === "CronTickerOccurrence" ? ROOT_CONTEXT : context.active();
      const span = tracer.startSpan(
        `send ${job.functionName}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            "messaging.system": "tickerq",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": job.functionName,
            "messaging.message.id": job.id,
            "tickerq.node_id": job.nodeId,
            ...(job.parentId ? { "tickerq.parent_id": job.parentId } : {}),
            ...(job.cronTickerId ? { "tickerq.cron_ticker_id": job.cronTickerId } : {}),
          },
        },
        parent,
      );
      const active = trace.setSpan(parent, span);
      propagation.inject(active, job.metadata, metadataCarrier);
      // The W3C propagator is the default, but with no SDK there is none: carry the span anyway.
      if (job.metadata.traceparent === undefined && span.spanContext().traceId !== "0".repeat(32)) {
        const { traceId, spanId, traceFlags } = span.spanContext();
        job.metadata.traceparent = `00-${traceId}-${spanId}-0${traceFlags.toString(16)}`;
      }
      try {
        await context.with(active, next);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
        span.end();
        throw error;
      }
      // Another node stored this cron occurrence first: its send span is the one `process`
      // follows, so this one is never ended, hence never exported.
      if (job.duplicate) return;
      enqueued.add(1, { "messaging.destination.name": job.functionName });
      span.end();
    },

    async run(ctx, next) {
      const parent = parentOf(ctx.metadata);
      const latenessMs = Math.max(0, ctx.startedAt.getTime() - ctx.scheduledFor.getTime());
      const attributes: Attributes = {
        "messaging.system": "tickerq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": ctx.functionName,
        "messaging.message.id": ctx.id,
        "tickerq.attempt": ctx.retryCount,
        "tickerq.node_id": ctx.nodeId,
        "tickerq.lateness_ms": latenessMs,
        ...(ctx.cronTickerId ? { "tickerq.cron_ticker_id": ctx.cronTickerId } : {}),
        ...(ctx.parentId ? { "tickerq.parent_id": ctx.parentId } : {}),
      };
      const span = tracer.startSpan(`process ${ctx.functionName}`, { kind: SpanKind.CONSUMER, attributes }, parent);
      const byFunction = { "messaging.destination.name": ctx.functionName };
      lateness.record(latenessMs, byFunction);
      const began = performance.now();
      let error: unknown = null;
      try {
        await context.with(trace.setSpan(parent, span), next);
      } catch (caught) {
        error = caught;
        throw caught;
      } finally {
        const status = statusOf(ctx, error);
        span.setAttribute("tickerq.status", status);
        if (error !== null && status !== "Skipped") {
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: error instanceof Error ? error.message : String(error),
          });
        }
        span.end();
        duration.record(performance.now() - began, byFunction);
        if (FINAL.has(status)) completed.add(1, { ...byFunction, "tickerq.status": status });
      }
    },
  };
  if (options.storeSpans) {
    middleware.store = async (call, next) => {
      const span = tracer.startSpan(`tickerq ${call.operation}`, {
        kind: SpanKind.CLIENT,
        attributes: {
          "db.system.name": call.store,
          "db.operation.name": call.operation,
          "tickerq.node_id": call.nodeId,
          "tickerq.batch_size": call.count,
        },
      });
      try {
        await context.with(trace.setSpan(context.active(), span), next);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    };
  }
  return middleware;
}

/** The enqueuing span's context from the job's metadata, or a new trace. */
function parentOf(metadata: Readonly<Record<string, string>>): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, metadata, metadataCarrier);
  if (trace.getSpanContext(extracted)) return extracted;
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(metadata.traceparent ?? "");
  if (!match) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: parseInt(match[3]!, 16),
    isRemote: true,
  });
}
