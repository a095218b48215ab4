import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  createTickerQ,
  defineFunction,
  memoryStore,
  nextOccurrences,
  TickerQError,
  type TickerContext,
} from "../src/index.js";
import { show } from "../src/errors.js";
import { sqliteStore } from "../src/sqlite.js";
import { retryAt } from "../src/retry.js";

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

/** [1, <hole>, 3]: index 1 reads as undefined. */
function holey(): number[] {
  const array = [1];
  array[2] = 3;
  return array;
}

/** `depth` arrays (or objects under key "a") nested in one another. */
function nested(depth: number, kind: "array" | "object"): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = kind === "array" ? [value] : { a: value };
  return value;
}

describe("hostile requests: deep, non-plain, toJSON, getters", () => {
  it("refuses a 10k-deep array or object with INVALID_REQUEST naming the field, never a RangeError", async () => {
    const { tq, count } = setup();
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: nested(10_000, "array") }),
      "INVALID_REQUEST",
      "request[0][0][0]",
      "nested more than 64 levels deep",
    );
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: { deep: nested(10_000, "object") } }),
      "INVALID_REQUEST",
      "request.deep.a.a",
      "64 levels",
    );
    expect(await count()).toBe(0);
  });

  it("accepts 64 levels of nesting and refuses 65", async () => {
    const { tq, count } = setup();
    const job = await tq.timeTickers.add({ function: "Anything", request: nested(64, "array") });
    expect(job.request).toEqual(nested(64, "array"));
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: nested(65, "array") }),
      "INVALID_REQUEST",
      "64 levels",
    );
    expect(await count()).toBe(1);
  });

  it("names an unknown function whatever it is, without overflowing or a TypeError", async () => {
    const { tq, count } = setup();
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const hostile = {
      get boom() {
        throw new Error("getter");
      },
    };
    for (const name of [nested(10_000, "array"), 10n, Symbol("s"), revoked.proxy, hostile, { toJSON: () => 1n }]) {
      await refuses(
        () => tq.timeTickers.add({ function: name } as never),
        "UNKNOWN_FUNCTION",
        "function ",
        '(registered: "SendWelcomeEmail", "Anything")',
      );
      await refuses(() => tq.cronTickers.add({ function: name, expression: "* * * * *" } as never), "UNKNOWN_FUNCTION");
    }
    expect(await count()).toBe(0);
  });

  it("show() renders any value briefly and never throws", () => {
    const revoked = Proxy.revocable([], {});
    revoked.revoke();
    const trap = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("trap");
        },
      },
    );
    const values: unknown[] = [
      nested(10_000, "array"),
      nested(10_000, "object"),
      2n ** 300n,
      Symbol("x".repeat(500)),
      revoked.proxy,
      trap,
      { toJSON: () => 1n },
      {
        get a() {
          throw new Error("getter");
        },
      },
      new Map([[1, 2]]),
      new Date(Number.NaN),
      "x".repeat(10_000),
      Array.from({ length: 100_000 }, (_, i) => i),
    ];
    for (const value of values) {
      const text = show(value);
      expect(typeof text).toBe("string");
      expect(text.length).toBeLessThanOrEqual(80);
    }
    expect(show(new Map())).toBe("a Map");
    expect(show(new Date(Number.NaN))).toBe("Invalid Date");
    expect(show({ email: "a@b", n: [1, 2] })).toBe('{"email":"a@b","n":[1, 2]}');
  });

  const toJSONCases: [string, () => unknown, string][] = [
    ["a BigInt", () => 10n, "returned a bigint"],
    ["undefined", () => undefined, "returned undefined"],
    ["a function", () => () => 1, "returned a function"],
    [
      "a throw",
      () => {
        throw new Error("no JSON for you");
      },
      "threw (no JSON for you)",
    ],
  ];
  for (const [what, toJSON, fragment] of toJSONCases) {
    it(`refuses a toJSON giving ${what}, naming the field`, async () => {
      const { tq, count } = setup();
      await refuses(
        () => tq.timeTickers.add({ function: "Anything", request: { amount: { toJSON } } }),
        "INVALID_REQUEST",
        "request.amount",
        fragment,
      );
      await refuses(
        () => tq.cronTickers.add({ function: "Anything", expression: "* * * * *", request: [{ toJSON }] }),
        "INVALID_REQUEST",
        "request[0]",
        fragment,
      );
      expect(await count()).toBe(0);
    });
  }

  it("uses a toJSON's result, checked like any value, and calls it once", async () => {
    const { tq } = setup();
    let calls = 0;
    const money = {
      toJSON: () => {
        calls++;
        return { cents: 150, currency: "EUR" };
      },
    };
    const job = await tq.timeTickers.add({ function: "Anything", request: { money } });
    expect(job.request).toEqual({ money: { cents: 150, currency: "EUR" } });
    expect(calls).toBe(1);
    expect((await tq.timeTickers.get(job.id))!.request).toEqual(job.request);
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: { x: { toJSON: () => new Set([1]) } } }),
      "INVALID_REQUEST",
      "request.x",
      "Set",
    );
  });

  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const nonPlain: [string, unknown, string][] = [
    ["a Map", new Map([["a", 1]]), "Map"],
    ["a Set", new Set([1]), "Set"],
    ["a WeakMap", new WeakMap(), "WeakMap"],
    ["a RegExp", /x/g, "RegExp"],
    ["an Error", new Error("boom"), "Error"],
    ["a TypeError", new TypeError("boom"), "TypeError"],
    ["a Promise", Promise.resolve(1), "Promise"],
    ["a Uint8Array", new Uint8Array([1, 2]), "Uint8Array"],
    ["a Buffer", Buffer.from("hi"), "Uint8Array"],
    ["an ArrayBuffer", new ArrayBuffer(4), "ArrayBuffer"],
    ["a class instance", new Point(1, 2), "Point instance"],
    ["a boxed number", Object(5) as unknown, "Number"],
    ["an Invalid Date", new Date(Number.NaN), "Invalid Date"],
  ];
  for (const [what, value, kind] of nonPlain) {
    it(`refuses ${what} in a request instead of storing {}`, async () => {
      const { tq, count } = setup();
      await refuses(
        () => tq.timeTickers.add({ function: "Anything", request: { payload: { inner: value } } }),
        "INVALID_REQUEST",
        "request.payload.inner",
        kind,
      );
      await refuses(() => tq.timeTickers.add({ function: "Anything", request: value }), "INVALID_REQUEST", kind);
      expect(await count()).toBe(0);
    });
  }

  it("keeps a Date in a request as its ISO string, null-prototype objects, and a key named __proto__", async () => {
    const { tq } = setup();
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: [true, null] });
    const withProtoKey = JSON.parse('{"__proto__":{"x":1},"b":2}') as Record<string, unknown>;
    const job = await tq.timeTickers.add({
      function: "Anything",
      request: { at: new Date("2030-01-31T09:00:00.000Z"), bare, withProtoKey },
    });
    const request = job.request as Record<string, Record<string, unknown>>;
    expect(request.at).toBe("2030-01-31T09:00:00.000Z");
    expect(request.bare).toEqual({ b: [true, null] });
    expect(Object.keys(request.withProtoKey!)).toEqual(["__proto__", "b"]);
    expect(JSON.stringify((await tq.timeTickers.get(job.id))!.request)).toBe(JSON.stringify(job.request));
  });

  it("refuses undefined in an array (JSON would store null) and leaves out undefined properties, as JSON does", async () => {
    const { tq } = setup();
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: holey() }),
      "INVALID_REQUEST",
      "request[1]",
    );
    const job = await tq.timeTickers.add({ function: "Anything", request: { a: 1, b: undefined } });
    expect(job.request).toEqual({ a: 1 });
  });

  it("names a getter or Proxy trap that throws, in the request or in the input itself", async () => {
    const { tq, count } = setup();
    const request = {
      get secret(): string {
        throw new Error("no access");
      },
    };
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request }),
      "INVALID_REQUEST",
      "request.secret",
      "could not be read (no access)",
    );
    const trap = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error("trap");
        },
      },
    );
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: trap }),
      "INVALID_REQUEST",
      "request",
      "trap",
    );
    const input = {
      function: "Anything" as const,
      get description(): string {
        throw new Error("later");
      },
    };
    await refuses(() => tq.timeTickers.add(input), "INVALID_ARGUMENT", "description", "could not be read (later)");
    await refuses(
      () => tq.timeTickers.addMany([{ function: "Anything" }, input]),
      "INVALID_ARGUMENT",
      "tickers[1].description",
    );
    await refuses(
      () =>
        tq.cronTickers.add({
          ...{ function: "Anything", expression: "* * * * *" },
          get retries(): number {
            throw new Error("x");
          },
        }),
      "INVALID_ARGUMENT",
      "retries",
    );
    expect(await count()).toBe(0);
  });

  it("reads each input field once, so what is checked is what is stored", async () => {
    const { tq } = setup();
    let reads = 0;
    const input = {
      function: "Anything",
      get priority(): "High" | "Urgent" {
        return reads++ === 0 ? "High" : "Urgent";
      },
    };
    const job = await tq.timeTickers.add(input as never);
    expect(job.priority).toBe("High");
    expect(reads).toBe(1);
  });

  it("refuses with REQUEST_TOO_LARGE before walking a huge sparse array", async () => {
    const { tq } = setup();
    const huge: unknown[] = [];
    huge.length = 2 ** 32 - 1;
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", request: huge }),
      "REQUEST_TOO_LARGE",
      "request",
      "1024",
    );
  });

  it("refuses with INVALID_REQUEST when a schema throws", async () => {
    const throwing = defineFunction(
      "Throwing",
      {
        schema: {
          "~standard": {
            version: 1,
            vendor: "test",
            validate: () => {
              throw new RangeError("Maximum call stack size exceeded");
            },
          },
        },
      },
      async () => {},
    );
    const tq = createTickerQ({ functions: [throwing] });
    await refuses(
      () => tq.timeTickers.add({ function: "Throwing", request: 1 as never }),
      "INVALID_REQUEST",
      "request could not be checked",
      "Maximum call stack",
    );
  });
});

describe("dates, text, cron and retry bounds", () => {
  for (const text of [
    "1",
    "foo 2020",
    "2024-02-30",
    "2024-13-01",
    "2023-02-29",
    "2024-06-31",
    "2024-01-01T24:00:00Z",
    "2024-1-1",
  ]) {
    it(`refuses the executionTime string ${JSON.stringify(text)}`, async () => {
      const { tq, count } = setup();
      await refuses(
        () => tq.timeTickers.add({ function: "Anything", executionTime: text }),
        "INVALID_ARGUMENT",
        "executionTime",
        JSON.stringify(text),
        "ISO 8601",
      );
      expect(await count()).toBe(0);
    });
  }

  it("accepts ISO 8601 strings with a real date, epoch milliseconds and Dates, exactly", async () => {
    const { tq } = setup();
    const cases: [string | number | Date, string][] = [
      ["2024-02-29", "2024-02-29T00:00:00.000Z"],
      ["2024-02-29T10:00:00Z", "2024-02-29T10:00:00.000Z"],
      ["2024-02-29T10:00:00.250+01:00", "2024-02-29T09:00:00.250Z"],
      ["+010000-01-01T00:00:00.000Z", "+010000-01-01T00:00:00.000Z"],
      [Date.UTC(2030, 0, 31), "2030-01-31T00:00:00.000Z"],
      [new Date("2030-01-31T09:00:00Z"), "2030-01-31T09:00:00.000Z"],
    ];
    for (const [input, iso] of cases) {
      const job = await tq.timeTickers.add({ function: "Anything", executionTime: input });
      expect(job.executionTime!.toISOString()).toBe(iso);
      expect((await tq.timeTickers.get(job.id))!.executionTime!.toISOString()).toBe(iso);
    }
  });

  it("refuses a loose date string in update() too, and leaves the job as it was", async () => {
    const { tq } = setup();
    const job = await tq.timeTickers.add({ function: "Anything", executionTime: "2030-01-01T00:00:00Z" });
    await refuses(
      () => tq.timeTickers.update(job.id, { executionTime: "2030-02-30" }),
      "INVALID_ARGUMENT",
      "executionTime",
    );
    expect((await tq.timeTickers.get(job.id))!.executionTime!.toISOString()).toBe("2030-01-01T00:00:00.000Z");
  });

  it("refuses text with a lone surrogate in every stored text field, and accepts well-formed pairs", async () => {
    const { tq, count } = setup();
    const lone = "caf\uD83D";
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", id: lone }),
      "INVALID_ARGUMENT",
      "id",
      "lone surrogate U+D83D",
    );
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", description: lone }),
      "INVALID_ARGUMENT",
      "description",
    );
    await refuses(
      () =>
        tq.timeTickers.add({
          function: "Anything",
          children: [{ function: "Anything", runCondition: "OnSuccess", id: "\uDC00x" }],
        }),
      "INVALID_ARGUMENT",
      "children[0].id",
    );
    await refuses(
      () => tq.cronTickers.add({ function: "Anything", expression: "* * * * *", description: lone }),
      "INVALID_ARGUMENT",
      "description",
    );
    await refuses(
      () => tq.cronTickers.add({ function: "Anything", expression: "* * * * *", timeZone: lone }),
      "INVALID_TIME_ZONE",
      "timeZone",
    );
    await refuses(
      () => tq.cronTickers.add({ function: "Anything", expression: `* * * * ${lone}` }),
      "INVALID_CRON",
      "expression",
    );
    expect(await count()).toBe(0);
    const job = await tq.timeTickers.add({ function: "Anything", id: "ok-😀", description: "café 😀" });
    await refuses(() => tq.timeTickers.update(job.id, { description: lone }), "INVALID_ARGUMENT", "description");
    expect((await tq.timeTickers.get("ok-😀"))!.description).toBe("café 😀");
    await refuses(() => defineFunction(`Send${lone}`, async () => {}), "INVALID_ARGUMENT", "name", "lone surrogate");
    await refuses(
      () => defineFunction("Fine", { description: lone }, async () => {}),
      "INVALID_ARGUMENT",
      "Fine.description",
    );
    await refuses(() => createTickerQ({ functions: [anything], nodeId: lone }), "INVALID_ARGUMENT", "nodeId");
  });

  it("refuses a NUL character in stored text, naming the field, before anything is written", async () => {
    const { tq, count } = setup();
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", id: "a\u0000b" }),
      "INVALID_ARGUMENT",
      "id",
      "NUL (U+0000)",
    );
    await refuses(
      () => tq.timeTickers.addMany([{ function: "Anything" }, { function: "Anything", description: "x\u0000" }]),
      "INVALID_ARGUMENT",
      "tickers[1].description",
    );
    await refuses(
      () => tq.cronTickers.add({ function: "Anything", expression: "* * * * *", description: "\u0000" }),
      "INVALID_ARGUMENT",
      "description",
    );
    await refuses(() => tq.timeTickers.get("a\u0000b"), "INVALID_ARGUMENT", "id");
    await refuses(() => defineFunction("Nul\u0000", async () => {}), "INVALID_ARGUMENT", "name");
    await refuses(() => createTickerQ({ functions: [anything], nodeId: "n\u0000" }), "INVALID_ARGUMENT", "nodeId");
    expect(await count()).toBe(0);
    // Inside a request it is JSON's escape, which every store keeps.
    const job = await tq.timeTickers.add({ function: "Anything", request: { text: "a\u0000b" } });
    expect((await tq.timeTickers.get(job.id))!.request).toEqual({ text: "a\u0000b" });
  });

  it("refuses bad list filters at the call, naming each field, on every list", async () => {
    const { tq } = setup();
    const cron = await tq.cronTickers.add({ function: "Anything", expression: "* * * * *" });
    const cases: [Record<string, unknown> | null, string][] = [
      [{ from: "yesterday" }, "from"],
      [{ to: new Date("x") }, "to"],
      [{ status: "Bogus" }, "status"],
      [{ status: ["Done", 5] }, "status[1]"],
      [{ orderBy: "id; drop table" }, "orderBy"],
      [{ order: "sideways" }, "order"],
      [{ offset: -1 }, "offset"],
      [{ offset: 1.5 }, "offset"],
      [{ function: 5 }, "function"],
      [{ search: { a: 1 } }, "search"],
      [{ search: "a\u0000b" }, "search"],
      [{ parentId: 7 }, "parentId"],
      [null, "query"],
    ];
    for (const [query, field] of cases) {
      await refuses(() => tq.timeTickers.list(query as never), "INVALID_ARGUMENT", `${field} must be`);
    }
    await refuses(() => tq.cronTickers.list({ enabled: "yes" } as never), "INVALID_ARGUMENT", "enabled must be");
    await refuses(() => tq.cronTickers.occurrences(cron.id, { from: "soon" } as never), "INVALID_ARGUMENT", "from");
    // What a Date would be is taken as one, as executionTime is: an ISO string or epoch milliseconds.
    await tq.timeTickers.add({ function: "Anything", executionTime: "2030-01-01T00:00:00Z" });
    const window = (from: unknown, to: unknown) => tq.timeTickers.list({ from, to } as never).then((p) => p.total);
    expect(await window("2020-01-01", Date.UTC(2100, 0, 1))).toBe(1);
    expect(await window("2031-01-01", Date.UTC(2100, 0, 1))).toBe(0);
  });

  it("rejects a bad filter given to a SQL store directly, with no query left unhandled beside it", async () => {
    const store = sqliteStore({ filename: ":memory:" });
    await store.init();
    await expect(store.jobList({ from: "yesterday" as never })).rejects.toThrow(TypeError);
    await store.close();
  });

  it("refuses a cron that can never fire, and keeps 29 February", async () => {
    const { tq, count } = setup();
    for (const expression of ["0 0 30 2 *", "0 0 31 4 *", "0 0 0 31 2,4,6 *"]) {
      await refuses(
        () => tq.cronTickers.add({ function: "Anything", expression }),
        "INVALID_CRON",
        JSON.stringify(expression),
        "never fire",
      );
      await refuses(() => nextOccurrences(expression), "INVALID_CRON", "never fire");
      await refuses(() => defineFunction("Never", { cron: expression }, async () => {}), "INVALID_CRON", "never fire");
    }
    expect(await count()).toBe(0);
    const leap = await tq.cronTickers.add({ function: "Anything", expression: "0 0 29 2 *" });
    expect(nextOccurrences("0 0 29 2 *", { from: new Date("2025-01-01T00:00:00Z"), count: 1 })).toEqual([
      new Date("2028-02-29T00:00:00Z"),
    ]);
    await refuses(() => tq.cronTickers.update(leap.id, { expression: "0 0 31 4 *" }), "INVALID_CRON", "never fire");
    expect((await tq.cronTickers.get(leap.id))!.expression).toBe("0 0 29 2 *");
  });

  it("bounds retry intervals to one year, and a stored out-of-range interval still gives a real time", async () => {
    const { tq, count } = setup();
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", retries: 1, retryIntervals: [1e13] }),
      "INVALID_ARGUMENT",
      "retryIntervals[0]",
      "10000000000000",
      "one year",
    );
    await refuses(
      () => tq.cronTickers.add({ function: "Anything", expression: "* * * * *", retryIntervals: [60, 31_536_001] }),
      "INVALID_ARGUMENT",
      "retryIntervals[1]",
    );
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", retryIntervals: new Array(1001).fill(1) }),
      "INVALID_ARGUMENT",
      "retryIntervals",
      "at most 1000",
    );
    await refuses(
      () => tq.timeTickers.add({ function: "Anything", retryIntervals: holey() }),
      "INVALID_ARGUMENT",
      "retryIntervals[1]",
    );
    expect(await count()).toBe(0);
    const job = await tq.timeTickers.add({ function: "Anything", retries: 1, retryIntervals: [31_536_000] });
    expect(job.retryIntervals).toEqual([31_536_000]);
    expect(retryAt(0, [1e13], 0).getTime()).toBe(31_536_000_000);
    expect(retryAt(0, [Number.NaN], 0).getTime()).toBe(30_000);
  });
});

describe("the memory store hands out copies", () => {
  it("a caller changing what add() returned, what it passed in, or what get() returned changes no stored job", async () => {
    const { tq } = setup();
    const executionTime = new Date("2030-01-01T00:00:00Z");
    const retryIntervals = [10, 20];
    const input = { function: "Anything" as const, executionTime, retries: 2, retryIntervals };
    const added = await tq.timeTickers.add(input);
    executionTime.setUTCFullYear(2040);
    retryIntervals.push(30);
    added.executionTime!.setUTCFullYear(2050);
    added.retryIntervals!.push(40);
    const read = (await tq.timeTickers.get(added.id))!;
    read.createdAt.setUTCFullYear(1999);
    read.scheduledFor!.setUTCFullYear(1999);
    read.retryIntervals![0] = 0;
    const listed = (await tq.timeTickers.list()).items[0]!;
    listed.executionTime!.setUTCFullYear(1998);
    const stored = (await tq.timeTickers.get(added.id))!;
    expect(stored.executionTime!.toISOString()).toBe("2030-01-01T00:00:00.000Z");
    expect(stored.scheduledFor!.toISOString()).toBe("2030-01-01T00:00:00.000Z");
    expect(stored.createdAt.getUTCFullYear()).not.toBe(1999);
    expect(stored.retryIntervals).toEqual([10, 20]);
  });

  it("the same for cron tickers and their updates", async () => {
    const { tq } = setup();
    const retryIntervals = [5];
    const cron = await tq.cronTickers.add({ function: "Anything", expression: "0 0 9 * * *", retryIntervals });
    retryIntervals.push(6);
    cron.retryIntervals!.push(7);
    cron.createdAt.setUTCFullYear(1999);
    const patch = { retryIntervals: [8] };
    const updated = await tq.cronTickers.update(cron.id, patch);
    patch.retryIntervals.push(9);
    updated.retryIntervals!.push(10);
    const stored = (await tq.cronTickers.get(cron.id))!;
    expect(stored.retryIntervals).toEqual([8]);
    expect(stored.createdAt.getUTCFullYear()).not.toBe(1999);
  });
});
