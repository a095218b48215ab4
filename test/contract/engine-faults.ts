/**
 * The engine under store faults, on each store and a test clock: a claim whose reply is lost,
 * a lease taken over while its run goes on, an outage longer than the lease, a node that
 * cannot heartbeat, a cron insert that fails. The faults are made by a store wrapper that
 * fails chosen calls; the real store underneath keeps the truth.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { defineFunction, TickerQError, type Store, type TickerContext, type TickerQ } from "../../src/index.js";
import { heartbeat, runDue, settle, TestClock } from "../../src/testing/index.js";
import { addRunning, gate, node, recoverLeasesOf, T0, waitFor, type StoreFactory } from "../helpers/engine.js";
import { nextSignal } from "./fixtures.js";

type Method = "jobClaimDue" | "nodeHeartbeat" | "occurrenceInsertMany" | "jobCompleteMany" | "jobStartMany";

/**
 * The store, with faults switched on per method: "down" fails the call without touching the
 * store; "lost-reply" lets the call commit, then fails it as a dropped connection would.
 */
function faulty(inner: Store) {
  const faults = new Map<Method, "down" | "lost-reply">();
  const hit = new Map<Method, () => void>();
  /** Resolves when a call of `method` next meets its fault. */
  const faulted = (method: Method) => new Promise<void>((resolve) => hit.set(method, resolve));
  const store: Store = Object.create(inner);
  const unavailable = () => new TickerQError("STORE_UNAVAILABLE", "cannot reach the test store: connection cut");
  for (const method of [
    "jobClaimDue",
    "nodeHeartbeat",
    "occurrenceInsertMany",
    "jobCompleteMany",
    "jobStartMany",
  ] as const) {
    (store as any)[method] = async (params: any) => {
      const fault = faults.get(method);
      if (fault === "down") {
        hit.get(method)?.();
        throw unavailable();
      }
      const result = await (inner as any)[method](params);
      if (fault === "lost-reply") {
        hit.get(method)?.();
        throw unavailable();
      }
      return result;
    };
  }
  return { store, faults, faulted };
}

export function describeEngineFaults(name: string, makeStore: StoreFactory): void {
  describe(`engine under store faults on ${name}`, () => {
    let inner: Store;
    let cleanup: () => Promise<void>;
    let clock: TestClock;
    const nodes: { stop(o?: { timeoutMs?: number }): Promise<void> }[] = [];
    const start = async <N extends { start(): Promise<void>; stop(): Promise<void> }>(n: N) => {
      nodes.push(n);
      await n.start();
      return n;
    };

    beforeEach(async () => {
      ({ store: inner, cleanup } = await makeStore());
      clock = new TestClock(T0);
    });
    afterEach(async () => {
      for (const n of nodes.splice(0)) await n.stop({ timeoutMs: 0 });
      await cleanup();
    });

    const timing = { heartbeatIntervalMs: 1000, leaseTimeoutMs: 5000, pollIntervalMs: 3_600_000 };

    it("hands back, within one heartbeat, the jobs of a claim whose reply was lost", async () => {
      const { store, faults, faulted } = faulty(inner);
      const ran: string[] = [];
      const fn = defineFunction("Work", async (ctx) => void ran.push(ctx.id));
      const tq = await start(node(store, clock, [fn], timing));
      tq.pause(); // no claim until the fault is armed
      const job = await tq.timeTickers.add({ function: "Work" });
      await settle(tq);
      faults.set("jobClaimDue", "lost-reply");
      const lost = faulted("jobClaimDue");
      tq.resume();
      await lost;
      await settle(tq);
      // The claim committed: the store has the job leased to this node, which never heard of it.
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ lockHolder: tq.nodeId });
      expect(ran).toEqual([]);
      faults.delete("jobClaimDue");
      const released = nextSignal(inner, (s) => (s.type === "due" ? true : undefined));
      await heartbeat(tq); // finds the stray lease and releases it, which wakes the node
      await released;
      await runDue(tq);
      expect(ran).toEqual([job.id]);
      // Claimed twice (the lost claim, then again): one run, one attempt.
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "DueDone", leaseToken: 2 });
      expect((await tq.attempts(job.id)).map((a) => a.status)).toEqual(["DueDone"]);
    });

    it("aborts a run whose lease was taken over, and keeps its late outcome only as superseded", async () => {
      const finish = gate();
      const signals: AbortSignal[] = [];
      const onA = defineFunction("Work", async (ctx: TickerContext<undefined>) => {
        signals.push(ctx.signal);
        await finish.promise; // ignores its signal, as a careless handler would
      });
      const onB = defineFunction("Work", async () => {});
      const a = await start(node(inner, clock, [onA], { ...timing, nodeId: "a" }));
      const job = await addRunning(a, "Work");
      a.pause();
      // Node a was paused past its lease (as by SIGSTOP): b recovered the job and ran it.
      await recoverLeasesOf(inner, clock, "a");
      const b = await start(node(inner, clock, [onB], { ...timing, nodeId: "b" }));
      await runDue(b);
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "Done", retryCount: 1 });
      // a's next heartbeat finds the lease gone and aborts the run's signal.
      await heartbeat(a);
      expect(signals[0]!.aborted).toBe(true);
      expect(signals[0]!.reason).toMatchObject({ code: "LEASE_LOST" });
      const superseded = waitFor<{ id: string; status: string }>(
        (l) => a.events.on("superseded", l),
        () => true,
      );
      const executed: string[] = [];
      a.events.on("executed", (e) => executed.push(e.status));
      finish.open();
      await settle(a);
      expect(await superseded).toMatchObject({ id: job.id, status: "DueDone" });
      expect(executed).toEqual([]);
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "Done", lockHolder: null });
      const history = await a.attempts(job.id);
      expect(history.map((x) => [x.nodeId, x.status, x.superseded])).toEqual([
        ["a", "Failed", false],
        ["b", "Done", false],
        ["a", "DueDone", true],
      ]);
    });

    /**
     * Node a runs a job, is paused past its lease (as by SIGSTOP) and its lease recovered; on
     * waking it finds the lease gone (its run is aborted, but goes on: the handler ignores its
     * signal, as a careless one would) and claims the job again itself. Resolves once the second
     * run runs; each run ends when its gate opens (`second` may be `first`).
     */
    const reclaimedWhileRunning = async (first: { promise: Promise<void> }, second: { promise: Promise<void> }) => {
      const runs: AbortSignal[] = [];
      const secondStarted = gate();
      const fn = defineFunction("Work", async (ctx: TickerContext<undefined>) => {
        runs.push(ctx.signal);
        if (runs.length === 2) secondStarted.open();
        await (runs.length === 1 ? first : second).promise;
      });
      const a = await start(node(inner, clock, [fn], { ...timing, nodeId: "a" }));
      const job = await addRunning(a, "Work");
      a.pause();
      await recoverLeasesOf(inner, clock, "a");
      await heartbeat(a);
      expect(runs[0]!.aborted).toBe(true);
      a.resume();
      await secondStarted.promise;
      return { a, job };
    };

    /** After both runs ended: the new run's outcome stands, the old one is kept as superseded. */
    const expectNewRunDone = async (a: TickerQ<any>, id: string) => {
      expect(await inner.jobGet({ id })).toMatchObject({ status: "Done", lockHolder: null, retryCount: 1 });
      const history = await a.attempts(id);
      expect(history.map((x) => [x.nodeId, x.status, x.superseded])).toEqual([
        ["a", "Failed", false],
        ["a", "DueDone", true],
        ["a", "Done", false],
      ]);
    };

    it("keeps a superseded run's late outcome apart when the same node claimed the job again meanwhile", async () => {
      const finishFirst = gate();
      const finishSecond = gate();
      const { a, job } = await reclaimedWhileRunning(finishFirst, finishSecond);
      const executed: string[] = [];
      a.events.on("executed", (e) => executed.push(e.status));
      const firstOutcome = Promise.race([
        waitFor<{ status: string }>(
          (l) => a.events.on("superseded", l),
          () => true,
        ).then((e) => ["superseded", e.status]),
        waitFor<{ status: string }>(
          (l) => a.events.on("executed", l),
          () => true,
        ).then((e) => ["executed", e.status]),
      ]);
      // The first run ends while the second still runs: its outcome is written under its own
      // claim's token, not the second claim's, so it changes nothing.
      finishFirst.open();
      expect(await firstOutcome).toEqual(["superseded", "DueDone"]);
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "InProgress", lockHolder: "a" });
      finishSecond.open();
      await settle(a);
      expect(executed).toEqual(["Done"]);
      await expectNewRunDone(a, job.id);
      expect(await inner.jobLeaseList({ nodeId: "a" })).toEqual([]);
    });

    it("gives a superseded run and the current run of one job each their own outcome when both end together", async () => {
      // Both runs end on the same gate, so their outcomes are handed to the store in the same moment.
      const finish = gate();
      const { a, job } = await reclaimedWhileRunning(finish, finish);
      const outcomes: string[] = [];
      a.events.on("executed", (e) => outcomes.push(`executed ${e.status}`));
      a.events.on("superseded", (e) => outcomes.push(`superseded ${e.status}`));
      finish.open();
      await settle(a);
      expect(outcomes.sort()).toEqual(["executed Done", "superseded DueDone"]);
      await expectNewRunDone(a, job.id);
    });

    it("recovers nobody's work after an outage that cut every node off, and claims only after a heartbeat", async () => {
      const { store, faults } = faulty(inner);
      const finish = gate();
      const fn = defineFunction("Work", async () => {
        await finish.promise;
      });
      const a = await start(node(store, clock, [fn], { ...timing, nodeId: "a" }));
      const job = await addRunning(a, "Work");
      const b = await start(node(store, clock, [fn], { ...timing, nodeId: "b" }));
      faults.set("nodeHeartbeat", "down");
      faults.set("jobClaimDue", "down");
      await clock.advance(12_000); // over twice the lease: every heartbeat fails, a fences itself
      await settle(b);
      faults.clear();
      // Both come back; b must not take a's lease, which a's heartbeat shows alive again.
      for (let i = 0; i < 10; i++) {
        await clock.advance(1000);
        await heartbeat(a);
        await heartbeat(b);
      }
      expect(await inner.jobGet({ id: job.id })).toMatchObject({
        status: "InProgress",
        lockHolder: "a",
        retryCount: 0,
      });
      finish.open();
      await settle(a);
      expect((await a.attempts(job.id)).map((x) => [x.nodeId, x.status])).toEqual([["a", "DueDone"]]);
    });

    it("fences a node that cannot heartbeat: its runs are aborted and it claims nothing until the store answers", async () => {
      const { store, faults } = faulty(inner);
      const signals: AbortSignal[] = [];
      const fn = defineFunction("Work", async (ctx: TickerContext<undefined>) => {
        if (signals.push(ctx.signal) > 1) return;
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        throw ctx.signal.reason;
      });
      const tq = await start(node(store, clock, [fn], timing));
      const job = await addRunning(tq, "Work");
      faults.set("nodeHeartbeat", "down");
      await clock.advance(4000); // the deadline: leaseTimeoutMs - heartbeatIntervalMs since the last good beat
      await settle(tq);
      expect(signals[0]!.aborted).toBe(true);
      expect(signals[0]!.reason).toMatchObject({ code: "LEASE_LOST" });
      const later = await tq.timeTickers.add({ function: "Work" });
      await clock.advance(1000);
      await settle(tq);
      expect(await inner.jobGet({ id: later.id })).toMatchObject({ status: "Idle", lockHolder: null });
      // The fenced run counts as a failed attempt (the node lost the store), and runs again.
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "Idle", retryCount: 1 });
      expect((await tq.attempts(job.id)).map((x) => [x.status, x.exceptionMessage])).toEqual([
        ["Failed", expect.stringContaining("could not reach the store")],
      ]);
      faults.clear();
      await heartbeat(tq);
      await clock.advance(1);
      await settle(tq);
      expect(signals).toHaveLength(3); // the retry of the first and the later job both started
    });

    it("stops within the grace period and one lease timeout when the store cannot take its last writes", async () => {
      const { store, faults } = faulty(inner);
      const fn = defineFunction("Work", async () => {});
      const tq = node(store, clock, [fn], timing); // not in `nodes`: this test stops it itself
      await tq.start();
      faults.set("jobCompleteMany", "down");
      const job = await addRunning(tq, "Work");
      let stopped = false;
      const stopping = tq.stop({ timeoutMs: 1000 }).then(() => (stopped = true));
      await clock.advance(1000 + 4999);
      expect(stopped).toBe(false); // the completion is still being retried
      await clock.advance(1);
      await stopping;
      // Nothing was written: the job is still this node's, for other nodes to recover.
      expect(await inner.jobGet({ id: job.id })).toMatchObject({ status: "InProgress", lockHolder: tq.nodeId });
    });

    it("plans a cron instant again when its insert failed", async () => {
      const { store, faults } = faulty(inner);
      const ran: string[] = [];
      const fn = defineFunction("Tick", { cron: "*/5 * * * * *" }, async (ctx) => {
        ran.push(ctx.scheduledFor.toISOString());
      });
      faults.set("occurrenceInsertMany", "down");
      const tq = await start(node(store, clock, [fn], { ...timing, cronHorizonMs: 2000 }));
      await clock.advance(6000); // the +5 s instant is due while its insert keeps failing
      await settle(tq);
      expect(ran).toEqual([]);
      faults.delete("occurrenceInsertMany");
      // The failed insert made the node suspect the store: it claims again only once a
      // heartbeat has got through. Wait for one (a beat's real I/O can outlast any number of
      // test-clock seconds on a loaded machine), then the next cycle plans the instant: it runs late.
      await heartbeat(tq);
      for (let i = 0; i < 90 && ran.length === 0; i++) {
        await clock.advance(1000);
        await runDue(tq);
      }
      expect(ran[0]).toBe(new Date(T0.getTime() + 5000).toISOString());
      expect(new Set(ran).size).toBe(ran.length);
    });
  });
}
