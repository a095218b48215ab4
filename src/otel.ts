/**
 * tickerq/otel: traces and metrics through the middleware seam, on @opentelemetry/api only
 * (bring your own SDK). A PRODUCER span `send {function}` at enqueue writes its context into
 * the job's metadata (W3C traceparent), and each attempt is a CONSUMER span `process
 * {function}` parented on it, on whichever node runs it; the handler's own spans nest under
 * `process`. With no SDK registered every call is a no-op.
 */

import {
  context,
  INVALID_TRACEID as INVALID_TRACE_ID,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Meter,
  type MeterProvider,
  type Span,
  type TracerProvider,
} from "@opentelemetry/api";
import { TerminateExecutionError, TickerQError } from "./errors.js";
import { VERSION } from "./tickerq.js";
import {
  MAX_METADATA_BYTES,
  MAX_METADATA_KEYS,
  type EnqueueJob,
  type Middleware,
  type MiddlewareNode,
} from "./middleware.js";
import { stopError } from "./run-stop.js";
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
  const reason = stopError(ctx);
  const stop = reason instanceof TickerQError ? reason.code : null;
  if (error === null) return stop === "CANCELLED" ? "Cancelled" : ctx.isDue ? "DueDone" : "Done";
  if (error instanceof TerminateExecutionError) return "Skipped";
  if (stop === "CANCELLED") return "Cancelled";
  if (stop === "SHUTDOWN" || stop === "LEASE_LOST") return "Idle";
  return ctx.retryCount < ctx.retries ? "Idle" : "Failed";
}

const FINAL = new Set(["Done", "DueDone", "Failed", "Cancelled", "Skipped"]);

/** What every job of one function shares, made once: span names and metric attributes. */
interface PerFunction {
  readonly send: string;
  readonly process: string;
  readonly attributes: Attributes;
  /** Jobs stored by this node (tickerq.jobs.enqueued). */
  enqueued: number;
  /** Jobs that reached each final status on this node (tickerq.jobs.completed). */
  readonly completed: Map<string, { readonly attributes: Attributes; count: number }>;
}

/**
 * The state of one meter, shared by every otelMiddleware on it (two nodes of one process count
 * into the same counters), observed at each collection: the per-function counts, and the nodes
 * attached, by store (`tickerq.jobs.due` asks one node per store).
 */
interface MeterState {
  readonly of: (name: string) => PerFunction;
  readonly nodesByStore: Map<string, MiddlewareNode[]>;
}

const byMeter = new WeakMap<Meter, MeterState>();

function meterState(meter: Meter): MeterState {
  const known = byMeter.get(meter);
  if (known) return known;
  const functions = new Map<string, PerFunction>();
  const nodesByStore = new Map<string, MiddlewareNode[]>();
  const enqueued = meter.createObservableCounter("tickerq.jobs.enqueued", { description: "Jobs stored by this node" });
  const completed = meter.createObservableCounter("tickerq.jobs.completed", {
    description: "Jobs that reached a final status on this node, by function and status",
  });
  enqueued.addCallback((result) => {
    for (const fn of functions.values()) if (fn.enqueued > 0) result.observe(fn.enqueued, fn.attributes);
  });
  completed.addCallback((result) => {
    for (const fn of functions.values()) {
      for (const { attributes, count } of fn.completed.values()) result.observe(count, attributes);
    }
  });
  const of = (name: string): PerFunction => {
    let fn = functions.get(name);
    if (fn === undefined) {
      fn = {
        send: `send ${name}`,
        process: `process ${name}`,
        attributes: { "messaging.destination.name": name },
        enqueued: 0,
        completed: new Map(),
      };
      functions.set(name, fn);
    }
    return fn;
  };
  const due = meter.createObservableGauge("tickerq.jobs.due", {
    description: "Idle jobs that are due but not started, by function",
  });
  // One query per store and collection, however many nodes share the store; distinct stores add up.
  due.addCallback(async (result) => {
    const counts = await Promise.all(
      [...nodesByStore.values()].map((nodes) => nodes[0]!.dueCounts().catch(() => null)),
    );
    const total = new Map<string, number>();
    for (const byFunction of counts) {
      for (const [fn, n] of Object.entries(byFunction ?? {})) total.set(fn, (total.get(fn) ?? 0) + n);
    }
    for (const [fn, n] of total) result.observe(n, of(fn).attributes);
  });
  const state = { of, nodesByStore };
  byMeter.set(meter, state);
  return state;
}

/**
 * Spans and metrics for every enqueue and run: `createTickerQ({ middleware: [otelMiddleware()] })`.
 * Metrics: `tickerq.jobs.enqueued` and `tickerq.jobs.completed` (monotonic counters, kept by
 * function in the middleware and reported at each collection, so a job costs no SDK call for
 * them), `tickerq.job.duration` and `tickerq.job.lateness` (histograms, ms), `tickerq.jobs.due`
 * (gauge of due Idle jobs, asked of one node per store).
 */
export function otelMiddleware(options: OtelMiddlewareOptions = {}): Middleware {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE, VERSION);
  const duration = meter.createHistogram("tickerq.job.duration", {
    description: "How long each attempt's handler ran",
    unit: "ms",
  });
  const lateness = meter.createHistogram("tickerq.job.lateness", {
    description: "How long after its scheduled time each attempt started",
    unit: "ms",
  });
  const { of, nodesByStore } = meterState(meter);

  /** Ends an attempt's span and records its metrics; `error` is null when the handler succeeded. */
  const ended = (ctx: TickerContext<unknown>, fn: PerFunction, span: Span, began: number, error: unknown) => {
    const status = statusOf(ctx, error);
    span.setAttribute("tickerq.status", status);
    if (error !== null && status !== "Skipped") {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end();
    duration.record(performance.now() - began, fn.attributes);
    if (FINAL.has(status)) {
      let count = fn.completed.get(status);
      if (count === undefined) {
        count = { attributes: { ...fn.attributes, "tickerq.status": status }, count: 0 };
        fn.completed.set(status, count);
      }
      count.count++;
    }
  };

  const middleware: Middleware = {
    name: "otel",
    attach(node) {
      const sharing = nodesByStore.get(node.storeId) ?? [];
      nodesByStore.set(node.storeId, [...sharing, node]);
      return () => {
        const rest = (nodesByStore.get(node.storeId) ?? []).filter((n) => n !== node);
        if (rest.length > 0) nodesByStore.set(node.storeId, rest);
        else nodesByStore.delete(node.storeId);
      };
    },

    async enqueue(job: EnqueueJob, next) {
      const fn = of(job.functionName);
      // A cron occurrence starts its own trace; any other job joins the caller's.
      const parent = job.type === "CronTickerOccurrence" ? ROOT_CONTEXT : context.active();
      const attributes: Attributes = {
        "messaging.system": "tickerq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": job.functionName,
        "messaging.message.id": job.id,
        "tickerq.node_id": job.nodeId,
      };
      if (job.parentId) attributes["tickerq.parent_id"] = job.parentId;
      if (job.cronTickerId) attributes["tickerq.cron_ticker_id"] = job.cronTickerId;
      const span = tracer.startSpan(fn.send, { kind: SpanKind.PRODUCER, attributes }, parent);
      const active = trace.setSpan(parent, span);
      const carried: Record<string, string> = {};
      propagation.inject(active, carried, metadataCarrier);
      carry(job.metadata, carried);
      // The W3C propagator is the default, but with no SDK there is none: carry the span anyway.
      if (job.metadata.traceparent === undefined && span.spanContext().traceId !== INVALID_TRACE_ID) {
        const { traceId, spanId, traceFlags } = span.spanContext();
        carry(job.metadata, { traceparent: `00-${traceId}-${spanId}-0${traceFlags.toString(16)}` });
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
      fn.enqueued++;
      span.end();
    },

    // Not async: one promise per attempt (the handler's, through context.with) and its then.
    run(ctx, next) {
      const fn = of(ctx.functionName);
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
      };
      if (ctx.cronTickerId) attributes["tickerq.cron_ticker_id"] = ctx.cronTickerId;
      if (ctx.parentId) attributes["tickerq.parent_id"] = ctx.parentId;
      const span = tracer.startSpan(fn.process, { kind: SpanKind.CONSUMER, attributes }, parent);
      lateness.record(latenessMs, fn.attributes);
      const began = performance.now();
      let running: Promise<void>;
      try {
        // The handler runs with `process` active, so its own spans nest under it.
        running = context.with(trace.setSpan(parent, span), next);
      } catch (error) {
        ended(ctx, fn, span, began, error);
        return Promise.reject(error);
      }
      return running.then(
        () => ended(ctx, fn, span, began, null),
        (error: unknown) => {
          ended(ctx, fn, span, began, error);
          throw error;
        },
      );
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

/**
 * Copies what the propagators wrote (traceparent, tracestate, baggage…) into the job's
 * metadata, leaving out a field that would take it over its limits (a baggage of several KB):
 * tracing never makes an add fail.
 */
function carry(metadata: Record<string, string>, fields: Record<string, string>): void {
  for (const key in fields) {
    const previous = metadata[key];
    metadata[key] = fields[key]!;
    const keys = Object.keys(metadata).length;
    if (keys <= MAX_METADATA_KEYS && Buffer.byteLength(JSON.stringify(metadata)) <= MAX_METADATA_BYTES) continue;
    if (previous === undefined) delete metadata[key];
    else metadata[key] = previous;
  }
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
