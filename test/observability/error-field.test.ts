import { describe, expect, it } from "vitest";
import { createTickerQ, defineFunction, TickerQError } from "../../src/index.js";
import { memoryStore } from "../../src/store/memory.js";

const fn = defineFunction<{ n: number }>("Job", async () => {});

async function refusal(run: () => Promise<unknown>): Promise<TickerQError> {
  const error = await run().then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TickerQError);
  return error as TickerQError;
}

describe("TickerQError.field", () => {
  const tq = createTickerQ({ functions: [fn], store: memoryStore(), logger: null });

  it("names the input field at fault, as a path", async () => {
    const date = await refusal(() => tq.timeTickers.add({ function: "Job", request: { n: 1 }, executionTime: "soon" }));
    expect(date).toMatchObject({ code: "INVALID_ARGUMENT", field: "executionTime" });
    const child = await refusal(() =>
      tq.timeTickers.add({
        function: "Job",
        request: { n: 1 },
        children: [{ function: "Nope" as "Job", request: { n: 2 }, runCondition: "OnSuccess" }],
      }),
    );
    expect(child).toMatchObject({ code: "UNKNOWN_FUNCTION", field: "children[0].function" });
    const many = await refusal(() => tq.timeTickers.addMany([{ function: "Job", request: { n: 1 }, retries: -1 }]));
    expect(many.field).toBe("tickers[0].retries");
    const cron = await refusal(() => tq.cronTickers.add({ function: "Job", request: { n: 1 }, expression: "* *" }));
    expect(cron).toMatchObject({ code: "INVALID_CRON", field: "expression" });
    const zone = await refusal(() =>
      tq.cronTickers.add({ function: "Job", request: { n: 1 }, expression: "* * * * *", timeZone: "Mars/Base" }),
    );
    expect(zone).toMatchObject({ code: "INVALID_TIME_ZONE", field: "timeZone" });
  });

  it("is undefined when the error is about no field", async () => {
    const missing = await refusal(() => tq.timeTickers.update("no-such-id", { description: "x" }));
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.field).toBeUndefined();
  });
});
