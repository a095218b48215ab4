import { Console } from "node:console";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { defineFunction, memoryStore, TickerQError, type Logger, type Store } from "../../src/index.js";
import { Log } from "../../src/log.js";
import { Reporter } from "../../src/reporter.js";
import { TickerQEvents } from "../../src/events.js";
import { heartbeat, runDue, settle, TestClock } from "../../src/testing/index.js";
import { addRunning, gate, node, recoverLeasesOf, T0 } from "../helpers/engine.js";

type Line = { level: string; fields: Record<string, unknown>; message: string };

/** A logger of pino's shape that keeps its lines. */
function capture(level: "debug" | "warn" = "debug"): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (name: string) => (fields: Record<string, unknown>, message: string) =>
    void lines.push({ level: name, fields, message });
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    isLevelEnabled: (name) => level === "debug" || name === "warn" || name === "error",
  };
}

describe("structured logging", () => {
  it("logs each lifecycle step at debug with its fields, and a failure at error with the error", async () => {
    const logger = capture();
    const ok = defineFunction("Ok", async () => {});
    const boom = defineFunction("Boom", async () => {
      throw new Error("boom");
    });
    const clock = new TestClock(T0);
    const tq = node(memoryStore(), clock, [ok, boom], { logger });
    await tq.start();
    const job = await tq.timeTickers.add({ function: "Ok" });
    const bad = await tq.timeTickers.add({ function: "Boom" });
    await runDue(tq);
    await tq.stop();
    const of = (id: string) => logger.lines.filter((l) => l.fields.jobId === id);
    expect(of(job.id).map((l) => [l.level, l.message])).toEqual([
      ["debug", "job enqueued"],
      ["debug", "job claimed"],
      ["debug", "job started"],
      ["debug", "job completed"],
    ]);
    const completed = of(job.id).at(-1)!.fields;
    expect(completed).toEqual({
      jobId: job.id,
      function: "Ok",
      attempt: 0,
      nodeId: tq.nodeId,
      status: "DueDone",
      latenessMs: 0,
      elapsedMs: 0,
    });
    const failed = of(bad.id).find((l) => l.level === "error")!;
    expect(failed.message).toBe("job failed");
    expect(failed.fields).toMatchObject({ function: "Boom", status: "Failed" });
    expect((failed.fields.err as Error).message).toBe("boom");
  });

  it("logs each cron occurrence a node stores at debug, not the copies another node had stored first", async () => {
    const inner = memoryStore();
    let planned = 0;
    let stored = 0;
    const store: Store = Object.create(inner);
    store.occurrenceInsertMany = async (params) => {
      const inserted = await inner.occurrenceInsertMany(params);
      planned += params.occurrences.length;
      stored += inserted;
      return inserted;
    };
    const tick = defineFunction("Tick", async () => {});
    const clock = new TestClock(T0);
    const loggers = [capture(), capture()];
    const nodes = loggers.map((logger, i) => node(store, clock, [tick], { nodeId: `n${i + 1}`, logger }));
    for (const tq of nodes) await tq.start();
    const ticker = await nodes[0]!.cronTickers.add({ function: "Tick", expression: "* * * * * *" });
    for (let second = 0; second < 3; second++) {
      await clock.advance(1000);
      for (const tq of nodes) await runDue(tq);
    }
    for (const tq of nodes) await tq.stop();
    expect(planned).toBeGreaterThan(stored); // both nodes planned the same instants
    const enqueued = loggers.flatMap((l) => l.lines).filter((l) => l.message === "job enqueued");
    const occurrences = await inner.jobList({ type: "CronTickerOccurrence", limit: 100 });
    expect(enqueued.map((l) => l.fields.jobId).sort()).toEqual(occurrences.items.map((j) => j.id).sort());
    const first = occurrences.items.find((j) => j.id === enqueued[0]!.fields.jobId)!;
    expect(enqueued[0]!.fields).toEqual({
      jobId: first.id,
      function: "Tick",
      nodeId: expect.stringMatching(/^n[12]$/),
      status: "Idle",
      cronTickerId: ticker.id,
      executionTime: first.executionTime,
    });
  });

  it("builds no debug line when the logger's level is off", async () => {
    const logger = capture("warn");
    const ok = defineFunction("Ok", async () => {});
    const clock = new TestClock(T0);
    const tq = node(memoryStore(), clock, [ok], { logger });
    await tq.start();
    await tq.timeTickers.add({ function: "Ok" });
    await tq.cronTickers.add({ function: "Ok", expression: "* * * * * *" });
    await clock.advance(1000);
    await runDue(tq);
    await tq.stop();
    expect(logger.lines).toEqual([]);
  });

  it("reports an outage at warn once, and its end with its length", async () => {
    const logger = capture();
    const clock = new TestClock(T0);
    const reporter = new Reporter("n1", clock, new Log(logger), new TickerQEvents());
    const down = new TickerQError("STORE_UNAVAILABLE", "cannot reach PostgreSQL");
    reporter.error(down, "claim");
    reporter.error(down, "heartbeat");
    await clock.advance(1500);
    reporter.reachable();
    expect(logger.lines.map((l) => [l.level, l.fields.outage])).toEqual([
      ["warn", "start"],
      ["warn", "end"],
    ]);
    expect(logger.lines[0]!.fields).toMatchObject({ nodeId: "n1", during: "claim", err: down });
    expect(logger.lines[1]!.fields).toMatchObject({ outageMs: 1500 });
  });

  it("logs at warn the recovery of a dead node's leases, naming the dead node and how many jobs", async () => {
    const store = memoryStore();
    const clock = new TestClock(T0);
    const hang = gate();
    const onA = defineFunction("Work", async () => {
      await hang.promise; // node a "dies" mid-run: it never finishes nor heartbeats again
    });
    const onB = defineFunction("Work", async () => {});
    const a = node(store, clock, [onA], { nodeId: "a", heartbeatIntervalMs: 3_600_000 });
    await a.start();
    const job = await addRunning(a, "Work", true);
    a.pause();
    const logger = capture("warn");
    const b = node(store, clock, [onB], { nodeId: "b", heartbeatIntervalMs: 1000, leaseTimeoutMs: 5000, logger });
    await b.start();
    await clock.advance(6000);
    await heartbeat(b); // a's last heartbeat is 6 s old, over b's 5 s lease timeout
    const warns = logger.lines.filter((l) => l.level === "warn");
    expect(warns).toHaveLength(1);
    expect(warns[0]!.fields).toEqual({ nodeId: "b", deadNodeIds: ["a"], recovered: 1 });
    expect(warns[0]!.message).toBe(
      `[tickerq b] recovered 1 job(s) leased to dead node(s) a or nodes with no record; ` +
        `they run again as new attempts: ${job.id}`,
    );
    await b.stop();
    hang.open();
    await a.stop({ timeoutMs: 0 });
  });

  it("logs a run stopped by shutdown as released at debug, with the reason", async () => {
    const logger = capture();
    const stuck = defineFunction("Stuck", async (_ctx, signal) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      throw signal.reason;
    });
    const clock = new TestClock(T0);
    const tq = node(memoryStore(), clock, [stuck], { nodeId: "n1", logger });
    await tq.start();
    const job = await addRunning(tq, "Stuck", true);
    const stopping = tq.stop({ timeoutMs: 1000 });
    await clock.advance(1000);
    await stopping;
    const released = logger.lines.filter((l) => l.message === "job released");
    expect(released.map((l) => [l.level, l.fields])).toEqual([
      ["debug", { jobId: job.id, function: "Stuck", attempt: 0, nodeId: "n1", status: "Idle", reason: "shutdown" }],
    ]);
  });

  it("logs fencing at warn with what it aborted and dropped", async () => {
    const logger = capture("warn");
    const inner = memoryStore();
    let down = false;
    const store: Store = Object.create(inner);
    store.nodeHeartbeat = async (params) => {
      if (down) throw new TickerQError("STORE_UNAVAILABLE", "cannot reach the test store");
      return inner.nodeHeartbeat(params);
    };
    const fn = defineFunction("Work", async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    });
    const clock = new TestClock(T0);
    const timing = { heartbeatIntervalMs: 1000, leaseTimeoutMs: 5000, pollIntervalMs: 3_600_000 };
    const tq = node(store, clock, [fn], { ...timing, nodeId: "n1", logger });
    await tq.start();
    await addRunning(tq, "Work");
    down = true;
    await clock.advance(4000); // leaseTimeoutMs - heartbeatIntervalMs since the last good beat
    await settle(tq);
    const fenced = logger.lines.filter((l) => l.level === "warn" && l.fields.fencedMs !== undefined);
    expect(fenced.map((l) => l.fields)).toEqual([{ nodeId: "n1", fencedMs: 4000, aborted: 1, dropped: 0 }]);
    expect(fenced[0]!.message).toMatch(/^\[tickerq n1\] no heartbeat reached the store for 4000 ms: fenced/);
    down = false;
    await tq.stop({ timeoutMs: 0 });
  });

  it("logs at warn a run whose lease was taken over: aborted, then its outcome kept as superseded", async () => {
    const logger = capture("warn");
    const store = memoryStore();
    const clock = new TestClock(T0);
    const finish = gate();
    const onA = defineFunction("Work", async () => {
      await finish.promise; // ignores its signal, as a careless handler would
    });
    const onB = defineFunction("Work", async () => {});
    const timing = { heartbeatIntervalMs: 1000, leaseTimeoutMs: 5000, pollIntervalMs: 3_600_000 };
    const a = node(store, clock, [onA], { ...timing, nodeId: "a", logger });
    await a.start();
    const job = await addRunning(a, "Work");
    a.pause();
    // a was paused past its lease (as by SIGSTOP): its job was recovered and b ran it.
    await recoverLeasesOf(store, clock, "a");
    const b = node(store, clock, [onB], { ...timing, nodeId: "b" });
    await b.start();
    await runDue(b);
    await heartbeat(a); // finds its lease gone
    finish.open();
    await settle(a);
    const warns = logger.lines.filter((l) => l.level === "warn");
    expect(warns.map((l) => l.fields)).toEqual([
      { nodeId: "a", jobId: job.id },
      { nodeId: "a", jobId: job.id, function: "Work", attempt: 0, status: "DueDone" },
    ]);
    expect(warns[0]!.message).toBe(`[tickerq a] job ${job.id}: its lease was taken over; its run here is aborted`);
    expect(warns[1]!.message).toContain("kept in the history as superseded");
    await b.stop();
    await a.stop({ timeoutMs: 0 });
  });

  it("runs, retries and fails jobs as usual under a logger whose every method throws", async () => {
    const broken = () => {
      throw new Error("log sink down");
    };
    const logger: Logger = { debug: broken, info: broken, warn: broken, error: broken, isLevelEnabled: broken };
    const ok = defineFunction("Ok", async () => {});
    const bad = defineFunction("Bad", { retries: 1, retryIntervals: [1] }, async () => {
      throw new Error("handler failed");
    });
    const clock = new TestClock(T0);
    const tq = node(memoryStore(), clock, [ok, bad], { logger });
    await tq.start();
    const done = await tq.timeTickers.add({ function: "Ok" });
    const failed = await tq.timeTickers.add({ function: "Bad" });
    await runDue(tq);
    await clock.advance(1000);
    await runDue(tq);
    expect((await tq.timeTickers.get(done.id))!.status).toBe("DueDone");
    expect(await tq.timeTickers.get(failed.id)).toMatchObject({ status: "Failed", retryCount: 1 });
    await tq.stop();
  });

  it("still takes a console: message first, no debug lines", () => {
    let out = "";
    const sink = new Writable({ write: (chunk, _enc, done) => ((out += String(chunk)), done()) });
    const log = new Log(new Console(sink, sink) as unknown as Logger);
    log.debug({ jobId: "a" }, "job started");
    log.warn({ nodeId: "n1" }, "store reachable again after 5 ms");
    log.error({ err: new Error("boom") }, "job failed");
    expect(out).not.toContain("job started");
    expect(out).toContain("store reachable again after 5 ms\n");
    expect(out).toContain("job failed Error: boom");
  });
});
