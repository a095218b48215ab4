/**
 * One tickerq node in its own process with OpenTelemetry's SDK and an in-memory exporter, for
 * the cross-process tracing test. `send`: enqueues one "Flaky" job inside an active span and
 * exits without starting. `process`: starts, runs the job (its first attempt fails, the retry
 * succeeds), stops. Each prints its finished spans as one JSON line prefixed "SPANS ". With
 * `w3c`, the W3C propagator is registered (so propagation.inject/extract carry the context) and
 * `send`'s active span continues a remote trace with a tracestate, which only they carry.
 */

import { context, createTraceState, propagation, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { createTickerQ, defineFunction } from "../../src/index.js";
import { otelMiddleware } from "../../src/otel.js";
import { postgresStore } from "../../src/postgres.js";

const [role, url, schema, nodeId, propagator] = process.argv.slice(2) as [
  "send" | "process",
  string,
  string,
  string,
  "w3c" | "none",
];

/** Calls `onEnd` after each span it keeps, so the process can wait for a span instead of polling. */
class WatchedExporter extends InMemorySpanExporter {
  onEnd: () => void = () => {};
  override export(spans: ReadableSpan[], done: Parameters<InMemorySpanExporter["export"]>[1]): void {
    super.export(spans, done);
    this.onEnd();
  }
}

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
if (propagator === "w3c") propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const exporter = new WatchedExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = tracerProvider.getTracer("test");

const flaky = defineFunction("Flaky", { retries: 1, retryIntervals: [0] }, async (ctx) => {
  tracer.startSpan("inside handler").end();
  if (ctx.retryCount === 0) throw new Error("first attempt fails");
});

const tq = createTickerQ({
  functions: [flaky],
  store: postgresStore({ connectionString: url, schema }),
  nodeId,
  middleware: [otelMiddleware({ tracerProvider })],
  logger: null,
  pollIntervalMs: 100,
});

if (role === "send") {
  const caller =
    propagator === "w3c"
      ? trace.setSpanContext(ROOT_CONTEXT, {
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b7ad6b7169203331",
          traceFlags: 1,
          isRemote: true,
          traceState: createTraceState("vendor=value"),
        })
      : ROOT_CONTEXT;
  await tracer.startActiveSpan("http request", {}, caller, async (span) => {
    await tq.timeTickers.add({ function: "Flaky" });
    span.end();
  });
} else {
  const attempts = () => exporter.getFinishedSpans().filter((s) => s.name === "process Flaky").length;
  const ranTwice = new Promise<void>((resolve) => (exporter.onEnd = () => attempts() >= 2 && resolve()));
  await tq.start();
  await ranTwice;
}
await tq.stop();

const spans = exporter.getFinishedSpans().map((s) => ({
  name: s.name,
  kind: s.kind,
  traceId: s.spanContext().traceId,
  spanId: s.spanContext().spanId,
  parentSpanId: s.parentSpanContext?.spanId ?? null,
  traceState: s.spanContext().traceState?.serialize() ?? null,
  status: s.status.code,
  attributes: s.attributes,
}));
process.stdout.write(`SPANS ${JSON.stringify(spans)}\n`);
await tracerProvider.shutdown();
