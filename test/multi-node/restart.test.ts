/**
 * Restart on the embedded store: jobs scheduled before a stop run after the next start, and a
 * node restarted under the same nodeId after a crash takes back its own leases at once.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { defineFunction, type TickerContext } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite.js";
import { runDue, TestClock } from "../../src/testing/index.js";
import { gate, node, T0, waitFor } from "../helpers/engine.js";

const dir = mkdtempSync(join(tmpdir(), "tickerq-restart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("runs after a restart what was scheduled before it, late ones as Done", async () => {
  const filename = join(dir, "graceful.db");
  const clock = new TestClock(T0);
  const ran: string[] = [];
  const fn = defineFunction("Remember", async (ctx: TickerContext<string>) => {
    ran.push(`${ctx.request}:${ctx.isDue ? "on time" : "late"}`);
  });

  const before = node(sqliteStore({ filename }), clock, [fn], { closeStoreOnStop: true });
  await before.start();
  await before.timeTickers.add({
    function: "Remember",
    request: "missed",
    executionTime: new Date(T0.getTime() + 60_000),
  });
  await before.timeTickers.add({
    function: "Remember",
    request: "later",
    executionTime: new Date(T0.getTime() + 3_600_000),
  });
  await before.stop();

  await clock.advance(5 * 60_000); // the process is down when "missed" is due
  const after = node(sqliteStore({ filename }), clock, [fn], { closeStoreOnStop: true, pollIntervalMs: 600_000 });
  await after.start();
  await runDue(after);
  expect(ran).toEqual(["missed:late"]);
  await clock.advance(55 * 60_000);
  await runDue(after);
  expect(ran).toEqual(["missed:late", "later:on time"]);
  const statuses = (await after.timeTickers.list({ orderBy: "executionTime", order: "asc" })).items.map(
    (t) => t.status,
  );
  expect(statuses).toEqual(["Done", "DueDone"]);
  await after.stop();
});

it("takes back its own leases at once when restarted under the same nodeId after a crash", async () => {
  const filename = join(dir, "crash.db");
  const clock = new TestClock(T0);
  const hang = gate();
  const crashed = node(sqliteStore({ filename }), clock, [defineFunction("Job", async () => hang.promise)], {
    nodeId: "app",
    closeStoreOnStop: false,
  });
  const running = waitFor<{ status: string }>(
    (l) => crashed.events.on("changed", l),
    (c) => c.status === "InProgress",
  );
  await crashed.start();
  const job = await crashed.timeTickers.add({ function: "Job" });
  void runDue(crashed);
  await running;
  crashed.pause(); // the process "dies": it never writes again

  let reran = 0;
  const restarted = node(sqliteStore({ filename }), clock, [defineFunction("Job", async () => void reran++)], {
    nodeId: "app",
    closeStoreOnStop: true,
  });
  await restarted.start(); // no lease timeout to wait for: the lease was its own
  await runDue(restarted);
  expect(reran).toBe(1);
  expect(await restarted.timeTickers.get(job.id)).toMatchObject({ status: "Done", retryCount: 1 });
  await restarted.stop();
  hang.open();
});
