/**
 * tickerq/otel with the SDK's in-memory exporter and a pull metric reader, on the memory store
 * and a test clock: send/process parenting, the handler's spans nested, retries as separate
 * spans, children and cron occurrences, metric values after a known workload, and nothing
 * breaking with no SDK.
 */

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { context, propagation, SpanKind, SpanStatusCode, ValueType } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";
import { DataPointType, MeterProvider, MetricReader, type DataPoint, type Histogram } from "@opentelemetry/sdk-metrics";
import { defineFunction, memoryStore, type Middleware, type Store } from "../../src/index.js";
import { otelMiddleware } from "../../src/otel.js";
import { runDue, TestClock } from "../../src/testing/index.js";
import { node, T0 } from "../helpers/engine.js";

class PullReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = tracerProvider.getTracer("test");
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => void context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  context.disable();
});
beforeEach(() => exporter.reset());

const spans = (name: string): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;

function setup(fns: Parameters<typeof node>[2], meterProvider?: MeterProvider) {
  const clock = new TestClock(T0);
  const tq = node(memoryStore(), clock, fns, {
    middleware: [otelMiddleware({ tracerProvider, meterProvider })],
  });
  return { tq, clock };
}

describe("otelMiddleware", () => {
  it("parents each attempt's process span on the enqueuing send span, the handler's spans under it", async () => {
    const work = defineFunction("Work", async () => {
      tracer.startSpan("inside handler").end();
    });
    const { tq } = setup([work]);
    await tq.start();
    const job = await tracer.startActiveSpan("http request", async (request) => {
      const added = await tq.timeTickers.add({ function: "Work" });
      request.end();
      return added;
    });
    await runDue(tq);
    await tq.stop();
    const [request] = spans("http request");
    const [send] = spans("send Work");
    const [process] = spans("process Work");
    const [inside] = spans("inside handler");
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(process!.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(send!)).toBe(request!.spanContext().spanId);
    expect(parentOf(process!)).toBe(send!.spanContext().spanId);
    expect(parentOf(inside!)).toBe(process!.spanContext().spanId);
    expect(new Set([send, process, inside].map((s) => s!.spanContext().traceId))).toEqual(
      new Set([request!.spanContext().traceId]),
    );
    expect(send!.attributes).toMatchObject({
      "messaging.system": "tickerq",
      "messaging.operation.type": "send",
      "messaging.destination.name": "Work",
      "messaging.message.id": job.id,
    });
    expect(process!.attributes).toMatchObject({
      "messaging.system": "tickerq",
      "messaging.operation.type": "process",
      "messaging.destination.name": "Work",
      "messaging.message.id": job.id,
      "tickerq.attempt": 0,
      "tickerq.node_id": tq.nodeId,
      "tickerq.status": "DueDone",
      "tickerq.lateness_ms": 0,
    });
    expect(job.metadata?.traceparent).toBe(`00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01`);
  });

  it("makes each retry its own process span, failures marked ERROR with the exception", async () => {
    const flaky = defineFunction("Flaky", { retries: 1, retryIntervals: [1] }, async (ctx) => {
      if (ctx.retryCount === 0) throw new Error("first attempt fails");
    });
    const { tq, clock } = setup([flaky]);
    await tq.start();
    await tq.timeTickers.add({ function: "Flaky" });
    await runDue(tq);
    await clock.advance(1000);
    await runDue(tq);
    await tq.stop();
    const [send] = spans("send Flaky");
    const attempts = spans("process Flaky");
    expect(attempts.map((s) => s.attributes["tickerq.attempt"])).toEqual([0, 1]);
    expect(attempts.map((s) => parentOf(s))).toEqual([send!.spanContext().spanId, send!.spanContext().spanId]);
    expect(attempts.map((s) => s.attributes["tickerq.status"])).toEqual(["Idle", "Done"]);
    expect(attempts[0]!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: "first attempt fails" });
    expect(attempts[0]!.events.map((e) => e.name)).toEqual(["exception"]);
    expect(attempts[1]!.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(attempts[1]!.attributes["tickerq.lateness_ms"]).toBe(1000); // from the scheduled time, as the engine counts it
  });

  it("links children into the enqueuing trace and starts a new trace per cron occurrence", async () => {
    const parent = defineFunction("Parent", async () => {});
    const child = defineFunction("Child", async () => {});
    const tick = defineFunction("Tick", async () => {});
    const { tq, clock } = setup([parent, child, tick]);
    await tq.start();
    const job = await tracer.startActiveSpan("request", async (span) => {
      const added = await tq.timeTickers.add({
        function: "Parent",
        children: [{ function: "Child", runCondition: "OnSuccess" }],
      });
      span.end();
      return added;
    });
    await runDue(tq);
    const ticker = await tq.cronTickers.add({ function: "Tick", expression: "*/1 * * * * *" });
    await clock.advance(1000);
    await runDue(tq);
    await tq.stop();
    const traceId = spans("request")[0]!.spanContext().traceId;
    const [childProcess] = spans("process Child");
    expect(childProcess!.spanContext().traceId).toBe(traceId);
    expect(childProcess!.attributes["tickerq.parent_id"]).toBe(job.id);
    expect(parentOf(childProcess!)).toBe(spans("send Child")[0]!.spanContext().spanId);
    const tickProcess = spans("process Tick")[0]!;
    const tickSend = spans("send Tick").find((s) => s.spanContext().spanId === parentOf(tickProcess))!;
    expect(tickSend.parentSpanContext).toBeUndefined(); // a root: its own trace
    expect(tickSend.spanContext().traceId).not.toBe(traceId);
    expect(tickProcess.attributes["tickerq.cron_ticker_id"]).toBe(ticker.id);
  });

  it("exports no send span for a cron occurrence another node stored first", async () => {
    const tick = defineFunction("Tick", async () => {});
    const store = memoryStore();
    const clock = new TestClock(T0);
    let duplicates = 0;
    const counting: Middleware = {
      async enqueue(job, next) {
        await next();
        if (job.duplicate) duplicates++;
      },
    };
    const nodes = [1, 2].map(() =>
      node(store, clock, [tick], { middleware: [otelMiddleware({ tracerProvider }), counting] }),
    );
    for (const tq of nodes) await tq.start();
    await nodes[0]!.cronTickers.add({ function: "Tick", expression: "* * * * * *" });
    for (let second = 0; second < 3; second++) {
      await clock.advance(1000);
      for (const tq of nodes) await runDue(tq);
    }
    for (const tq of nodes) await tq.stop();
    expect(duplicates).toBeGreaterThan(0); // both nodes planned the same instants
    const stored = await store.jobList({ type: "CronTickerOccurrence", limit: 100 });
    const sends = spans("send Tick");
    expect(sends.map((s) => s.attributes["messaging.message.id"]).sort()).toEqual(
      stored.items.map((job) => job.id).sort(),
    );
    // Every attempt follows an exported send span.
    const sendIds = new Set(sends.map((s) => s.spanContext().spanId));
    const processes = spans("process Tick");
    expect(processes.length).toBeGreaterThan(0);
    expect(processes.every((p) => sendIds.has(parentOf(p)!))).toBe(true);
  });

  it("counts enqueued and completed jobs, records durations and lateness, and gauges due work", async () => {
    const reader = new PullReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const ok = defineFunction("Ok", async () => {});
    const boom = defineFunction("Boom", async () => {
      throw new Error("boom");
    });
    const later = defineFunction("Later", async () => {});
    const { tq, clock } = setup([ok, boom, later], meterProvider);
    await tq.start();
    await tq.timeTickers.addMany([{ function: "Ok" }, { function: "Ok" }, { function: "Ok" }, { function: "Boom" }]);
    await runDue(tq);
    tq.pause();
    await tq.timeTickers.addMany([{ function: "Later" }, { function: "Later" }]);
    await clock.advance(250);
    await tq.timeTickers.add({ function: "Ok", executionTime: new Date(T0.getTime() + 200) });
    const { resourceMetrics } = await reader.collect();
    await tq.stop();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const points = (name: string) => all.find((m) => m.descriptor.name === name)?.dataPoints ?? [];
    const byAttrs = (name: string) =>
      Object.fromEntries(
        (points(name) as DataPoint<number | Histogram>[]).map((p) => [
          Object.values(p.attributes)
            .filter((v) => v !== tq.nodeId)
            .join("/"),
          p.value,
        ]),
      );
    expect(byAttrs("tickerq.jobs.enqueued")).toEqual({ Ok: 4, Boom: 1, Later: 2 });
    expect(byAttrs("tickerq.jobs.completed")).toEqual({ "Ok/DueDone": 3, "Boom/Failed": 1 });
    const durations = byAttrs("tickerq.job.duration") as Record<string, Histogram>;
    expect(durations.Ok!.count).toBe(3);
    expect(durations.Boom!.count).toBe(1);
    const late = byAttrs("tickerq.job.lateness") as Record<string, Histogram>;
    expect(late.Ok).toMatchObject({ count: 3, sum: 0 });
    expect(byAttrs("tickerq.jobs.due")).toEqual({ Later: 2, Ok: 1 });
    // What each instrument is, as exported: histograms in ms, monotonic counters, a gauge.
    const kind = (name: string) => {
      const metric = all.find((m) => m.descriptor.name === name)!;
      const monotonic = metric.dataPointType === DataPointType.SUM ? metric.isMonotonic : undefined;
      return [metric.dataPointType, metric.descriptor.unit, metric.descriptor.valueType, monotonic];
    };
    expect(kind("tickerq.job.duration")).toEqual([DataPointType.HISTOGRAM, "ms", ValueType.DOUBLE, undefined]);
    expect(kind("tickerq.job.lateness")).toEqual([DataPointType.HISTOGRAM, "ms", ValueType.DOUBLE, undefined]);
    expect(kind("tickerq.jobs.enqueued")).toEqual([DataPointType.SUM, "", ValueType.DOUBLE, true]);
    expect(kind("tickerq.jobs.completed")).toEqual([DataPointType.SUM, "", ValueType.DOUBLE, true]);
    expect(kind("tickerq.jobs.due")).toEqual([DataPointType.GAUGE, "", ValueType.DOUBLE, undefined]);
  });

  it("adds up the counts of two nodes whose otelMiddleware share one meter", async () => {
    const reader = new PullReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const ok = defineFunction("Ok", async () => {});
    const a = setup([ok], meterProvider);
    const b = setup([ok], meterProvider);
    await a.tq.start();
    await b.tq.start();
    await a.tq.timeTickers.addMany([{ function: "Ok" }, { function: "Ok" }]);
    await b.tq.timeTickers.add({ function: "Ok" });
    await runDue(a.tq);
    await runDue(b.tq);
    const { resourceMetrics } = await reader.collect();
    await a.tq.stop();
    await b.tq.stop();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const values = (name: string) =>
      all.find((m) => m.descriptor.name === name)!.dataPoints.map((p) => [p.attributes, p.value]);
    expect(values("tickerq.jobs.enqueued")).toEqual([[{ "messaging.destination.name": "Ok" }, 3]]);
    expect(values("tickerq.jobs.completed")).toEqual([
      [{ "messaging.destination.name": "Ok", "tickerq.status": "DueDone" }, 3],
    ]);
  });

  it("gauges due work once per store and collection, however many nodes share the store", async () => {
    const reader = new PullReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const queries = new Map<Store, number>();
    const counted = (): Store => {
      const inner = memoryStore();
      const store: Store = Object.create(inner);
      store.jobDueCountByFunction = (params) => {
        queries.set(store, (queries.get(store) ?? 0) + 1);
        return inner.jobDueCountByFunction(params);
      };
      return store;
    };
    const [shared, other] = [counted(), counted()];
    const ok = defineFunction("Ok", async () => {});
    const clock = new TestClock(T0);
    const nodes = [shared, shared, shared, other].map((store) =>
      node(store, clock, [ok], { middleware: [otelMiddleware({ tracerProvider, meterProvider })] }),
    );
    for (const tq of nodes) {
      await tq.start();
      tq.pause(); // the jobs stay due
    }
    await nodes[0]!.timeTickers.addMany([{ function: "Ok" }, { function: "Ok" }]);
    await nodes[3]!.timeTickers.add({ function: "Ok" });
    const due = async () => {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics
        .flatMap((s) => s.metrics)
        .find((m) => m.descriptor.name === "tickerq.jobs.due");
      return metric!.dataPoints.map((p) => [p.attributes, p.value]);
    };
    // The shared store's 2 and the other store's 1, without a copy per node.
    expect(await due()).toEqual([[{ "messaging.destination.name": "Ok" }, 3]]);
    expect([queries.get(shared), queries.get(other)]).toEqual([1, 1]);
    await nodes[0]!.stop(); // its store is still asked, of the nodes left on it
    expect(await due()).toEqual([[{ "messaging.destination.name": "Ok" }, 3]]);
    expect([queries.get(shared), queries.get(other)]).toEqual([2, 2]);
    for (const tq of nodes.slice(1)) await tq.stop();
  });

  it("wraps the engine's claim, start and completion calls in CLIENT spans with storeSpans", async () => {
    const work = defineFunction("Work", async () => {});
    const clock = new TestClock(T0);
    const store = memoryStore();
    const tq = node(store, clock, [work], { middleware: [otelMiddleware({ tracerProvider, storeSpans: true })] });
    await tq.start();
    await tq.timeTickers.add({ function: "Work" });
    await runDue(tq);
    await tq.stop();
    const claims = spans("tickerq claim");
    const completes = spans("tickerq complete");
    expect(claims.length).toBeGreaterThan(0);
    expect(completes.length).toBeGreaterThan(0);
    expect(completes[0]!.kind).toBe(SpanKind.CLIENT);
    expect(completes[0]!.attributes).toMatchObject({
      "db.system.name": "memory",
      "db.operation.name": "complete",
      "tickerq.node_id": tq.nodeId,
      "tickerq.batch_size": 1,
    });
    // Off by default: the other tests' nodes make none.
    exporter.reset();
    const plain = node(store, clock, [work], { middleware: [otelMiddleware({ tracerProvider })] });
    await plain.start();
    await plain.timeTickers.add({ function: "Work" });
    await runDue(plain);
    await plain.stop();
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith("tickerq "))).toEqual([]);
  });

  it("never fails an add over the context it carries: a baggage too large for metadata is left out", async () => {
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
    try {
      const seen: Record<string, string>[] = [];
      const work = defineFunction("Work", async (ctx) => void seen.push({ ...ctx.metadata }));
      const { tq } = setup([work]);
      await tq.start();
      // About 6 KB as a baggage header: within W3C's 8 KB, over a job's 4 KB of metadata.
      const entries = Array.from({ length: 40 }, (_, i) => [`key${i}`, { value: "v".repeat(150) }] as const);
      const large = propagation.createBaggage(Object.fromEntries(entries));
      const small = propagation.createBaggage({ tenant: { value: "acme" } });
      const addWith = (baggage: typeof large) =>
        context.with(propagation.setBaggage(context.active(), baggage), () =>
          tracer.startActiveSpan("request", (span) =>
            tq.timeTickers.add({ function: "Work" }).finally(() => span.end()),
          ),
        );
      const withLarge = await addWith(large);
      const withSmall = await addWith(small);
      expect(Object.keys(withLarge.metadata ?? {})).toEqual(["traceparent"]);
      expect(withSmall.metadata).toMatchObject({ traceparent: expect.stringMatching(/^00-/), baggage: "tenant=acme" });
      await runDue(tq);
      expect(seen).toHaveLength(2);
      await tq.stop();
    } finally {
      propagation.disable();
    }
  });

  it("changes nothing when no SDK is installed", async () => {
    const ran: Record<string, string>[] = [];
    const work = defineFunction("Work", async (ctx) => void ran.push({ ...ctx.metadata }));
    const clock = new TestClock(T0);
    const tq = node(memoryStore(), clock, [work], { middleware: [otelMiddleware()] });
    await tq.start();
    const job = await tq.timeTickers.add({ function: "Work" });
    await runDue(tq);
    expect((await tq.timeTickers.get(job.id))!.status).toBe("DueDone");
    expect(ran).toEqual([{}]);
    await tq.stop();
  });
});
