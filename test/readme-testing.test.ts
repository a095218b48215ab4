/**
 * The README's "Testing your jobs" example, statement for statement, with the values its
 * comments claim; and the return values it documents for cancel() and cronTickers.add().
 */

import { expect, it } from "vitest";
import { createTickerQ, defineFunction, type TickerContext } from "../src/index.js";
import { TestClock, runDue, settle } from "../src/testing/index.js";

const ran: string[] = [];
const functions = [
  defineFunction("SendWelcomeEmail", async (ctx: TickerContext<{ email: string; name: string }>) => {
    ran.push(`welcome ${ctx.request.name}`);
  }),
  defineFunction("SendDailyDigest", { cron: "0 0 9 * * *" }, async (ctx) => {
    ran.push(`digest ${ctx.scheduledFor.toISOString()}`);
  }),
  // Runs until its signal aborts.
  defineFunction("Slow", async (_ctx: TickerContext<undefined>, signal) => {
    started();
    await new Promise((resolve) => signal.addEventListener("abort", resolve));
  }),
] as const;
let started: () => void = () => {};

it("runs the README's TestClock example with the results its comments state", async () => {
  // Long polls and heartbeats: the hour's jump then fires a few timers, not thousands.
  const options = { pollIntervalMs: 600_000, heartbeatIntervalMs: 600_000 };
  // --- as in the README ---
  const clock = new TestClock("2026-01-01T08:00:00Z");
  const tq = createTickerQ({ functions, clock, ...options });
  await tq.start();
  await tq.timeTickers.add({ function: "SendWelcomeEmail", request: { email: "ann@example.com", name: "Ann" } });
  const first = await runDue(tq); // 1: the welcome email was due now; it ran and its result is stored
  await clock.advance(60 * 60_000); // 09:00: timers fire on the way, so the digest runs during advance()
  await settle(tq); // and once settled its result is stored
  const second = await runDue(tq); // 0: nothing is left due at 09:00
  // --- end ---
  expect(first).toBe(1);
  expect(second).toBe(0);
  expect(ran).toEqual(["welcome Ann", "digest 2026-01-01T09:00:00.000Z"]);
  const [digest] = (await tq.cronTickers.list()).items;
  const occurrences = await tq.cronTickers.occurrences(digest!.id);
  expect(occurrences.items.map((o) => [o.executionTime?.toISOString(), o.status])).toContainEqual([
    "2026-01-01T09:00:00.000Z",
    "DueDone",
  ]);
  await tq.stop();
});

it("returns what the README says from cronTickers.add (nextOccurrence: Date | null) and cancel()", async () => {
  const clock = new TestClock("2026-01-01T08:00:00Z");
  const tq = createTickerQ({ functions, clock, logger: null });
  await tq.start();
  const cron = await tq.cronTickers.add({ function: "SendDailyDigest", expression: "0 30 9 * * *" });
  expect(cron.nextOccurrence).toEqual(new Date("2026-01-01T09:30:00Z"));
  expect((await tq.cronTickers.update(cron.id, { enabled: false })).nextOccurrence).toBeNull();

  const job = await tq.timeTickers.add({
    function: "SendWelcomeEmail",
    request: { email: "a@b.c", name: "A" },
    executionTime: new Date("2026-01-01T10:00:00Z"),
  });
  expect(await tq.cancel(job.id)).toBe("cancelled");
  expect(await tq.cancel(job.id)).toBe("final");
  expect(await tq.cancel("no-such-job")).toBe("not-found");

  const running = new Promise<void>((resolve) => (started = resolve));
  const slow = await tq.timeTickers.add({ function: "Slow" });
  await running;
  expect(await tq.cancel(slow.id)).toBe("requested");
  await settle(tq);
  expect((await tq.job(slow.id))?.status).toBe("Cancelled");
  await tq.stop();
});
