/**
 * tickerq with OpenTelemetry, exporting to the console: `npm run example:otel`.
 * A request span enqueues a job with a child; each runs as a `process` span parented on its
 * `send` span, a retry is its own span, and the metrics are printed once at the end.
 */

import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { createTickerQ, defineFunction, memoryStore } from "../../src/index.js";
import { otelMiddleware } from "../../src/otel.js";

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())],
});
const meterProvider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 60_000 })],
});
trace.setGlobalTracerProvider(tracerProvider);
const tracer = trace.getTracer("example");

const sendInvoice = defineFunction<{ order: number }>(
  "SendInvoice",
  { retries: 1, retryIntervals: [0.2] },
  async (ctx) => {
    // The handler's own spans nest under `process SendInvoice`.
    await tracer.startActiveSpan("render pdf", async (span) => span.end());
    if (ctx.retryCount === 0) throw new Error("mail server busy"); // the retry is a second span
  },
);
const notify = defineFunction<{ order: number }>("NotifyWarehouse", async () => {});

const tq = createTickerQ({
  functions: [sendInvoice, notify],
  store: memoryStore(),
  middleware: [otelMiddleware({ tracerProvider, meterProvider })],
  logger: null,
});
await tq.start();
await tracer.startActiveSpan("POST /orders", async (span) => {
  await tq.timeTickers.add({
    function: "SendInvoice",
    request: { order: 42 },
    children: [{ function: "NotifyWarehouse", request: { order: 42 }, runCondition: "OnSuccess" }],
  });
  span.end();
});
const done = new Promise<void>((resolve) =>
  tq.events.on("executed", (e) => e.function === "NotifyWarehouse" && resolve()),
);
await done;
await tq.stop();
await meterProvider.forceFlush();
await meterProvider.shutdown();
await tracerProvider.shutdown();
