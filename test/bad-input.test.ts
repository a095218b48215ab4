import { describe, expect, it } from "vitest";
import { z } from "zod";
import { createTickerQ, defineFunction, memoryStore, TickerQError, type TickerContext } from "../src/index.js";

const welcome = defineFunction(
  "SendWelcomeEmail",
  { schema: z.object({ email: z.email(), name: z.string().min(1) }) },
  async () => {},
);
const anything = defineFunction("Anything", async (_ctx: TickerContext<unknown>) => {});

function setup() {
  const store = memoryStore();
  const tq = createTickerQ({ functions: [welcome, anything], store, maxRequestBytes: 1024 });
  const count = async () => (await store.jobList({})).total + (await store.cronTickerList({})).total;
  return { tq, count };
}

/** Asserts a TickerQError with this code whose message names every fragment. */
async function refuses(action: () => Promise<unknown> | unknown, code: string, ...fragments: string[]) {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TickerQError);
  expect((caught as TickerQError).code).toBe(code);
  for (const fragment of fragments) expect((caught as Error).message).toContain(fragment);
}

describe("bad input is refused at the call, naming the field and value, with nothing stored", () => {
  const cases: [string, (tq: ReturnType<typeof setup>["tq"]) => Promise<unknown>, string, string[]][] = [
    [
      "an unknown function",
      (tq) => tq.timeTickers.add({ function: "Nope" } as never),
      "UNKNOWN_FUNCTION",
      ['function "Nope"', '"Anything"'],
    ],
    [
      "an invalid date",
      (tq) => tq.timeTickers.add({ function: "Anything", executionTime: new Date("nonsense") }),
      "INVALID_ARGUMENT",
      ["executionTime", "Invalid Date"],
    ],
    [
      "a date string that is not a date",
      (tq) => tq.timeTickers.add({ function: "Anything", executionTime: "tomorrow-ish" }),
      "INVALID_ARGUMENT",
      ["executionTime", '"tomorrow-ish"'],
    ],
    [
      "negative retries",
      (tq) => tq.timeTickers.add({ function: "Anything", retries: -1 }),
      "INVALID_ARGUMENT",
      ["retries", "-1"],
    ],
    [
      "fractional retries",
      (tq) => tq.timeTickers.add({ function: "Anything", retries: 1.5 }),
      "INVALID_ARGUMENT",
      ["retries", "1.5"],
    ],
    [
      "a non-numeric interval",
      (tq) => tq.timeTickers.add({ function: "Anything", retries: 2, retryIntervals: [60, "5m" as never] }),
      "INVALID_ARGUMENT",
      ["retryIntervals[1]", '"5m"'],
    ],
    [
      "a negative interval",
      (tq) => tq.timeTickers.add({ function: "Anything", retries: 2, retryIntervals: [-3] }),
      "INVALID_ARGUMENT",
      ["retryIntervals[0]", "-3"],
    ],
    [
      "an unknown priority",
      (tq) => tq.timeTickers.add({ function: "Anything", priority: "Urgent" as never }),
      "INVALID_ARGUMENT",
      ["priority", '"Urgent"'],
    ],
    [
      "a BigInt in the request",
      (tq) => tq.timeTickers.add({ function: "Anything", request: { amount: 10n } }),
      "INVALID_REQUEST",
      ["request.amount", "bigint"],
    ],
    [
      "a function in the request",
      (tq) => tq.timeTickers.add({ function: "Anything", request: { cb: () => 1 } }),
      "INVALID_REQUEST",
      ["request.cb", "function"],
    ],
    [
      "a cycle in the request",
      (tq) => {
        const node: Record<string, unknown> = { name: "a" };
        node.self = node;
        return tq.timeTickers.add({ function: "Anything", request: { node } });
      },
      "INVALID_REQUEST",
      ["request.node.self", "cycle"],
    ],
    [
      "NaN in the request",
      (tq) => tq.timeTickers.add({ function: "Anything", request: [1, Number.NaN] }),
      "INVALID_REQUEST",
      ["request[1]", "NaN"],
    ],
    [
      "an oversized request",
      (tq) => tq.timeTickers.add({ function: "Anything", request: "x".repeat(2000) }),
      "REQUEST_TOO_LARGE",
      ["request", "2002 bytes", "1024", "maxRequestBytes"],
    ],
    [
      "a request failing its schema",
      (tq) => tq.timeTickers.add({ function: "SendWelcomeEmail", request: { email: "not-an-email", name: "Ann" } }),
      "INVALID_REQUEST",
      ["request.email", "not-an-email"],
    ],
    [
      "a child without run condition",
      (tq) => tq.timeTickers.add({ function: "Anything", children: [{ function: "Anything" } as never] }),
      "INVALID_ARGUMENT",
      ["children[0].runCondition", "undefined"],
    ],
    [
      "a child with its own time",
      (tq) =>
        tq.timeTickers.add({
          function: "Anything",
          children: [{ function: "Anything", runCondition: "OnSuccess", executionTime: new Date() } as never],
        }),
      "INVALID_ARGUMENT",
      ["children[0].executionTime"],
    ],
    [
      "an invalid cron",
      (tq) => tq.cronTickers.add({ function: "Anything", expression: "0 61 * * * *" }),
      "INVALID_CRON",
      ["minute field", '"61"'],
    ],
    [
      "an unknown time zone",
      (tq) => tq.cronTickers.add({ function: "Anything", expression: "0 0 9 * * *", timeZone: "Europe/Atlantis" }),
      "INVALID_TIME_ZONE",
      ['"Europe/Atlantis"'],
    ],
    [
      "a cron for an unknown function",
      (tq) => tq.cronTickers.add({ function: "Ghost", expression: "* * * * *" } as never),
      "UNKNOWN_FUNCTION",
      ['"Ghost"'],
    ],
  ];
  for (const [what, action, code, fragments] of cases) {
    it(`refuses ${what}`, async () => {
      const { tq, count } = setup();
      await refuses(() => action(tq), code, ...fragments);
      expect(await count()).toBe(0);
    });
  }

  it("addMany is all or nothing, and names the index at fault", async () => {
    const { tq, count } = setup();
    await refuses(
      () =>
        tq.timeTickers.addMany([
          { function: "Anything" },
          { function: "SendWelcomeEmail", request: { email: "a@b.co", name: "Ann" } },
          { function: "SendWelcomeEmail", request: { email: "a@b.co", name: "" } },
        ]),
      "INVALID_REQUEST",
      "tickers[2].request.name",
    );
    expect(await count()).toBe(0);
    const added = await tq.timeTickers.addMany([{ function: "Anything" }, { function: "Anything" }]);
    expect(added).toHaveLength(2);
    await refuses(
      () =>
        tq.timeTickers.addMany([
          { function: "Anything", id: "dup" },
          { function: "Anything", id: "dup" },
        ]),
      "INVALID_ARGUMENT",
      "dup",
    );
    expect(await count()).toBe(2);
  });

  it("addMany reports the first bad field in input order, schema or not", async () => {
    const { tq, count } = setup();
    const badEmail = { function: "SendWelcomeEmail", request: { email: "nope", name: "Ann" } } as const;
    const badPriority = { function: "Anything", priority: "Urgent" } as never;
    await refuses(() => tq.timeTickers.addMany([badEmail, badPriority]), "INVALID_REQUEST", "tickers[0].request.email");
    await refuses(() => tq.timeTickers.addMany([badPriority, badEmail]), "INVALID_ARGUMENT", "tickers[0].priority");
    await refuses(
      () => tq.timeTickers.addMany([{ ...badEmail, priority: "Urgent" as never }]),
      "INVALID_REQUEST",
      "tickers[0].request.email",
    );
    await refuses(
      () =>
        tq.timeTickers.addMany([
          { function: "Anything", children: [{ ...badEmail, runCondition: "OnSuccess" }] },
          badPriority,
        ]),
      "INVALID_REQUEST",
      "tickers[0].children[0].request.email",
    );
    expect(await count()).toBe(0);
  });

  it("refuses bad definitions and options when they are made", async () => {
    await refuses(() => defineFunction("", async () => {}), "INVALID_ARGUMENT", "name");
    await refuses(() => defineFunction("X", { cron: "* * *" }, async () => {}), "INVALID_CRON", '"* * *"');
    await refuses(() => defineFunction("X", { retries: -2 }, async () => {}), "INVALID_ARGUMENT", "X.retries", "-2");
    await refuses(
      () => createTickerQ({ functions: [anything, anything] }),
      "INVALID_ARGUMENT",
      '"Anything" is defined twice',
    );
    await refuses(
      () => createTickerQ({ functions: [anything], maxConcurrency: 0 }),
      "INVALID_ARGUMENT",
      "maxConcurrency",
      "0",
    );
    await refuses(
      () => createTickerQ({ functions: [anything], retentionDays: -1 }),
      "INVALID_ARGUMENT",
      "retentionDays",
    );
  });

  it("stores the schema's output, so handlers get what the schema promises", async () => {
    const trimmed = defineFunction("Trim", { schema: z.object({ name: z.string().trim() }) }, async () => {});
    const tq = createTickerQ({ functions: [trimmed] });
    const job = await tq.timeTickers.add({ function: "Trim", request: { name: "  Ann  " } });
    expect(job.request).toEqual({ name: "Ann" });
  });
});
