/**
 * Fuzz tests of the public API's error contract (issue 10, item 8), on the memory store and on
 * SQLite. Each generated call perturbs one field of an otherwise valid input with a hostile
 * value (deep nesting, BigInt, Symbols, Proxies, throwing getters and toJSON, non-plain
 * objects, lone surrogates, loose dates, never-firing crons, huge numbers...) and checks:
 * either the call succeeds and the store reads back exactly what it returned, or it throws a
 * TickerQError with a known code whose message names the perturbed field, and nothing was
 * stored (a batch is all or nothing; a refused update leaves the row as it was).
 * Seeded and bounded: the same few thousand calls on every run.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { z } from "zod";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createTickerQ,
  defineFunction,
  memoryStore,
  nextOccurrences,
  TickerQError,
  type Store,
  type TickerContext,
} from "../../src/index.js";
import type { TickerQErrorCode } from "../../src/errors.js";
import { sqliteStore } from "../../src/sqlite.js";
import { TestClock } from "../../src/testing/index.js";

const SEED = 20_261_010;

const CODES = [
  "INVALID_ARGUMENT",
  "INVALID_CRON",
  "INVALID_TIME_ZONE",
  "UNKNOWN_FUNCTION",
  "INVALID_REQUEST",
  "REQUEST_TOO_LARGE",
  "NOT_FOUND",
  "INVALID_STATE",
] as const satisfies readonly TickerQErrorCode[];

// ---------------------------------------------------------------------------------------------
// Hostile values

function nested(depth: number, kind: "array" | "object"): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = kind === "array" ? [value] : { a: value };
  return value;
}

class Point {
  constructor(readonly x = 1) {}
}

const thrower = (what: string) => () => {
  throw new Error(what);
};

/** Makers whose value JSON carries faithfully: as a request, accepted; every other one is refused. */
const acceptable = new WeakSet<() => unknown>();
const accept = (maker: () => unknown) => (acceptable.add(maker), maker);

/** Values built afresh for each use, so a caller's mutation cannot leak between runs. */
const hostileObjects: (() => unknown)[] = [
  () => nested(10_000, "array"),
  () => nested(10_000, "object"),
  () => nested(65, "array"),
  accept(() => nested(64, "object")),
  () => new Map([["a", 1]]),
  () => new Set([1]),
  () => new WeakMap(),
  () => /re/g,
  () => new Error("boom"),
  () => Promise.resolve(1),
  () => new Uint8Array([1, 2]),
  () => Buffer.from("hi"),
  () => new ArrayBuffer(2),
  () => new Point(),
  () => Object(1) as unknown,
  () => new Date(Number.NaN),
  accept(() => new Date(8.64e15)),
  () => ({ toJSON: () => 10n }),
  () => ({ toJSON: () => undefined }),
  () => ({ toJSON: () => () => 1 }),
  () => ({ toJSON: thrower("toJSON") }),
  accept(() => ({ toJSON: () => ({ ok: [1, "two"] }) })),
  () => Object.defineProperty({}, "a", { get: thrower("getter"), enumerable: true }),
  () => new Proxy({}, { ownKeys: thrower("ownKeys") }),
  () => new Proxy({}, { get: thrower("get"), has: thrower("has") }),
  () => new Proxy({}, { getPrototypeOf: thrower("getPrototypeOf") }),
  accept(() => new Proxy([1, 2], {})),
  () => {
    const revocable = Proxy.revocable({}, {});
    revocable.revoke();
    return revocable.proxy;
  },
  () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    return cycle;
  },
  () => {
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    return sparse;
  },
  () => [1, undefined, 3],
  accept(() => Object.assign(Object.create(null) as object, { a: 1 })),
  accept(() => JSON.parse('{"__proto__":{"x":1}}') as unknown),
  () => "x".repeat(5000),
  () => () => 1,
];

/** UTF-16 code units, lone surrogates included. */
const utf16 = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  maxLength: 12,
});

/**
 * How to make a hostile value. The objects are made outside fast-check (see `make`): it
 * probes generated values for a clone method, and a Proxy would throw at it, not at tickerq.
 */
type Recipe = { build: number } | { value: unknown };

/** For each object made from hostileObjects: whether it is acceptable as a request. */
const verdicts = new WeakMap<object, boolean>();

function make(recipe: Recipe): unknown {
  if (!("build" in recipe)) return recipe.value;
  const maker = hostileObjects[recipe.build]!;
  const value = maker();
  if ((typeof value === "object" && value !== null) || typeof value === "function") {
    verdicts.set(value, acceptable.has(maker));
  }
  return value;
}

/**
 * Whether JSON carries `value` faithfully, so a request holding it must be accepted (or be
 * too large) and one without must be refused: an oracle written apart from tickerq's own walk.
 */
function faithful(value: unknown, depth = 0): boolean {
  if ((typeof value === "object" && value !== null) || typeof value === "function") {
    const verdict = verdicts.get(value);
    if (verdict !== undefined) return verdict;
  }
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || depth >= 64) return false;
  if (value instanceof Date) return !Number.isNaN(value.getTime());
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (value[i] === undefined || !faithful(value[i], depth + 1)) return false;
    return true;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((item) => item === undefined || faithful(item, depth + 1));
}

const LOOSE_DATES = ["1", "foo 2020", "2024-02-30", "2024-13-01", ""];
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * What an accepted or refused call says about the perturbed field's value, beyond the
 * error contract: accepted values are stored faithfully, never silently changed.
 */
function judge(field: string, value: unknown, outcome: Outcome<Record<string, unknown>>): void {
  // An undefined request means "none" (or, in an update, "clear it").
  if (field === "request" && value !== undefined) {
    if ("ok" in outcome) {
      if (!faithful(value)) throw new Error(`request ${String(value)} was accepted though JSON cannot carry it`);
    } else if (outcome.error.code === "INVALID_REQUEST" && faithful(value)) {
      throw new Error(`a faithful request was refused: ${outcome.error.message}`);
    }
  }
  if (!("ok" in outcome)) return;
  const record = outcome.ok;
  if (field === "executionTime" && value !== undefined) {
    if (typeof value === "string") expect(LOOSE_DATES).not.toContain(value);
    expect(typeof value === "string" || typeof value === "number" || value instanceof Date).toBe(true);
    expect((record.executionTime as Date).getTime()).toBe(new Date(value as string).getTime());
  }
  if ((field === "id" || field === "description") && typeof value === "string") {
    expect(LONE_SURROGATE.test(value)).toBe(false);
    expect(value.includes("\u0000")).toBe(false);
    expect(record[field]).toBe(value);
  }
  if (field === "retryIntervals" && value !== undefined && value !== null) {
    expect(record.retryIntervals).toEqual(value);
    for (const seconds of value as number[]) expect(seconds).toBeLessThanOrEqual(31_536_000);
  }
  if (field === "expression" && record.enabled) expect(record.nextOccurrence).not.toBeNull();
}

const hostileValues: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.anything({
      maxDepth: 3,
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withBoxedValues: true,
      withObjectString: true,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      10n,
      Symbol("s"),
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -1,
      1.5,
      1e13,
      2 ** 53,
      -0,
      "",
      "\uD800",
      "a\uDC00b",
      "1",
      "foo 2020",
      "2024-02-30",
      "2024-13-01",
      "2024-02-29",
      "2024-02-29T10:00:00.5+01:00",
      "+275760-09-13T00:00:00.000Z",
      null,
      undefined,
      true,
      [],
      {},
    ),
  },
  { weight: 2, arbitrary: utf16 },
);

const hostile: fc.Arbitrary<Recipe> = fc.oneof(
  { weight: 1, arbitrary: fc.nat(hostileObjects.length - 1).map((build) => ({ build })) },
  { weight: 1, arbitrary: hostileValues.map((value) => ({ value })) },
);

// ---------------------------------------------------------------------------------------------
// The engine under test

const anything = defineFunction("Anything", async (_ctx: TickerContext<unknown>) => {});
const schemaFn = defineFunction(
  "Schema",
  { schema: z.object({ n: z.number() }).or(z.unknown()) },
  async (_ctx: TickerContext<unknown>) => {},
);

interface Subject {
  name: string;
  store: Store;
  tq: ReturnType<typeof createTickerQ<[typeof anything, typeof schemaFn]>>;
}

const dir = mkdtempSync(join(tmpdir(), "tickerq-fuzz-"));
const subjects: Subject[] = [];
afterAll(async () => {
  for (const subject of subjects) await subject.store.close();
  rmSync(dir, { recursive: true, force: true });
});

function subject(name: "memory" | "sqlite"): Subject {
  const store = name === "memory" ? memoryStore() : sqliteStore({ filename: join(dir, "fuzz.db") });
  const tq = createTickerQ({
    functions: [anything, schemaFn],
    store,
    clock: new TestClock("2026-06-01T00:00:00Z"),
    maxRequestBytes: 4096,
    logger: null,
  });
  const made = { name, store, tq };
  subjects.push(made);
  return made;
}

async function counts(store: Store): Promise<{ jobs: number; crons: number }> {
  const jobs = Object.values(await store.jobCountByStatus({})).reduce((a, b) => a + b, 0);
  const crons = (await store.cronTickerList({ limit: 1 })).total;
  return { jobs, crons };
}

/** A refusal must be a TickerQError with a known code whose message names one of `fields`. */
function expectRefusal(error: unknown, fields: string[]): void {
  if (!(error instanceof TickerQError)) {
    throw new Error(`expected a TickerQError naming ${fields.join(" or ")}; got ${String(error)}`, { cause: error });
  }
  expect(CODES).toContain(error.code);
  expect(error.message.length).toBeLessThan(1000);
  if (!fields.some((field) => error.message.includes(field))) {
    throw new Error(`${error.code} "${error.message}" does not name ${fields.join(" or ")}`);
  }
}

type Outcome<T> = { ok: T } | { error: TickerQError };

/** Runs `call`; a refusal must keep the error contract (see expectRefusal). */
async function outcomeOf<T>(call: () => Promise<T> | T, fields: string[]): Promise<Outcome<T>> {
  try {
    return { ok: await call() };
  } catch (error) {
    expectRefusal(error, fields);
    return { error: error as TickerQError };
  }
}

/** Runs `call`; on success returns its result, on a refusal checks it and returns undefined. */
async function attempt<T>(call: () => Promise<T> | T, fields: string[]): Promise<T | undefined> {
  const outcome = await outcomeOf(call, fields);
  return "ok" in outcome ? outcome.ok : undefined;
}

// ---------------------------------------------------------------------------------------------
// Inputs: a valid base with one field perturbed

const TIME_FIELDS = [
  "function",
  "id",
  "executionTime",
  "description",
  "request",
  "priority",
  "retries",
  "retryIntervals",
  "runCondition",
  "children",
] as const;
const CRON_FIELDS = [
  "function",
  "expression",
  "timeZone",
  "request",
  "retries",
  "retryIntervals",
  "description",
  "priority",
  "enabled",
] as const;

/** Values that are sometimes valid for a field, so the fuzz also covers the accepted side. */
const plausible: Record<string, fc.Arbitrary<unknown>> = {
  function: fc.constantFrom("Anything", "Schema", "Nope", "anything"),
  id: fc.oneof(fc.uuid(), utf16, fc.string({ maxLength: 120 })),
  executionTime: fc.oneof(
    fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    fc.integer({ min: -1e16, max: 1e16 }),
  ),
  description: fc.oneof(fc.string({ maxLength: 50 }), utf16, fc.constant("😀 ok")),
  request: fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.record({ n: fc.integer() })),
  priority: fc.constantFrom("High", "Normal", "Low", "LongRunning", "Urgent"),
  retries: fc.oneof(fc.integer({ min: -2, max: 1002 }), fc.double()),
  retryIntervals: fc.array(fc.oneof(fc.nat(31_536_000), fc.double({ min: -1, max: 1e14 })), { maxLength: 4 }),
  runCondition: fc.constantFrom("OnSuccess", "OnFailure", "OnAnyCompletedStatus", "Sometimes"),
  children: fc.array(
    fc.record({ function: fc.constant("Anything"), runCondition: fc.constantFrom("OnSuccess", "Maybe") }),
    { maxLength: 2 },
  ),
  expression: fc.constantFrom(
    "* * * * *",
    "0 0 9 * * *",
    "0 0 29 2 *",
    "0 0 30 2 *",
    "0 0 31 4 *",
    "0 61 * * *",
    "* * *",
    "",
    "0 0 31 2,4 *",
    "*/5 * * * * *",
  ),
  timeZone: fc.constantFrom("Europe/Paris", "America/New_York", "UTC", "Europe/Atlantis", null, "x".repeat(300)),
  enabled: fc.constantFrom(true, false, "yes"),
};

const perturbed = (fields: readonly string[]) =>
  fc.record({
    field: fc.constantFrom(...fields),
    hostileValue: fc.boolean(),
    seed: fc.integer(),
  });

function valueFor(field: string, hostileValue: boolean, seed: number): unknown {
  if (hostileValue) return make(fc.sample(hostile, { seed, numRuns: 1 })[0]!);
  return fc.sample(plausible[field]!, { seed, numRuns: 1 })[0];
}

const baseTime = () => ({ function: "Anything", executionTime: new Date("2026-07-01T00:00:00Z") });
const baseCron = () => ({ function: "Anything", expression: "0 0 9 * * *" });

function withField(base: Record<string, unknown>, field: string, value: unknown): Record<string, unknown> {
  const input = { ...base };
  if (field === "runCondition") {
    // A child is where runCondition belongs; perturb it there.
    input.children = [{ function: "Anything", runCondition: value }];
  } else input[field] = value;
  return input;
}

// ---------------------------------------------------------------------------------------------
// The properties

for (const storeName of ["memory", "sqlite"] as const) {
  describe(`fuzzed public API on the ${storeName} store`, () => {
    const { store, tq } = subject(storeName);
    // The first call migrates the store; counts() reads it directly.
    beforeAll(() => tq.timeTickers.list({ limit: 1 }));

    it("timeTickers.add: stored exactly as returned, or refused naming the field with nothing stored", async () => {
      await fc.assert(
        fc.asyncProperty(perturbed(TIME_FIELDS), async ({ field, hostileValue, seed }) => {
          const value = valueFor(field, hostileValue, seed);
          const input = withField(baseTime(), field, value);
          const before = await counts(store);
          const outcome = await outcomeOf(() => tq.timeTickers.add(input as never), [field]);
          judge(field, value, outcome as Outcome<Record<string, unknown>>);
          const added = "ok" in outcome ? outcome.ok : undefined;
          if (!added) {
            expect(await counts(store)).toEqual(before);
            return;
          }
          expect(await tq.timeTickers.get(added.id)).toEqual(added);
          expect((await counts(store)).jobs).toBeGreaterThan(before.jobs);
        }),
        { seed: SEED, numRuns: 400 },
      );
    });

    it("timeTickers.addMany: all or nothing", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 4 }),
          fc.nat(3),
          perturbed(TIME_FIELDS),
          async (size, at, { field, hostileValue, seed }) => {
            const index = at % size;
            const inputs = Array.from({ length: size }, (_, i) =>
              i === index ? withField(baseTime(), field, valueFor(field, hostileValue, seed)) : baseTime(),
            );
            const before = await counts(store);
            const named =
              field === "runCondition" ? `tickers[${index}].children[0].runCondition` : `tickers[${index}].${field}`;
            const added = await attempt(() => tq.timeTickers.addMany(inputs as never), [named]);
            if (!added) {
              expect(await counts(store)).toEqual(before);
              return;
            }
            expect(added).toHaveLength(size);
            for (const ticker of added) expect(await tq.timeTickers.get(ticker.id)).toEqual(ticker);
          },
        ),
        { seed: SEED + 1, numRuns: 200 },
      );
    });

    it("timeTickers.update: the row changes as returned, or not at all", async () => {
      const job = await tq.timeTickers.add({ function: "Anything", executionTime: "2026-08-01T00:00:00Z" });
      const patchFields = TIME_FIELDS.filter((f) => !["function", "id", "runCondition", "children"].includes(f));
      await fc.assert(
        fc.asyncProperty(perturbed(patchFields), async ({ field, hostileValue, seed }) => {
          const before = await tq.timeTickers.get(job.id);
          const beforeCounts = await counts(store);
          const value = valueFor(field, hostileValue, seed);
          const outcome = await outcomeOf(() => tq.timeTickers.update(job.id, { [field]: value } as never), [field]);
          judge(field, value, outcome as Outcome<Record<string, unknown>>);
          const updated = "ok" in outcome ? outcome.ok : undefined;
          expect(await tq.timeTickers.get(job.id)).toEqual(updated ?? before);
          expect(await counts(store)).toEqual(beforeCounts);
        }),
        { seed: SEED + 2, numRuns: 300 },
      );
    });

    it("cronTickers.add: stored exactly as returned, or refused naming the field", async () => {
      await fc.assert(
        fc.asyncProperty(perturbed(CRON_FIELDS), async ({ field, hostileValue, seed }) => {
          const value = valueFor(field, hostileValue, seed);
          const input = withField(baseCron(), field, value);
          const before = await counts(store);
          const outcome = await outcomeOf(() => tq.cronTickers.add(input as never), [field]);
          judge(field, value, outcome as Outcome<Record<string, unknown>>);
          const added = "ok" in outcome ? outcome.ok : undefined;
          if (!added) {
            expect(await counts(store)).toEqual(before);
            return;
          }
          expect(await tq.cronTickers.get(added.id)).toEqual(added);
          expect((await counts(store)).crons).toBe(before.crons + 1);
        }),
        { seed: SEED + 3, numRuns: 300 },
      );
    });

    it("cronTickers.update: the row changes as returned, or not at all", async () => {
      const cron = await tq.cronTickers.add({ function: "Anything", expression: "0 0 9 * * *" });
      const patchFields = CRON_FIELDS.filter((f) => f !== "function");
      await fc.assert(
        fc.asyncProperty(perturbed(patchFields), async ({ field, hostileValue, seed }) => {
          const before = await tq.cronTickers.get(cron.id);
          const beforeCounts = await counts(store);
          const value = valueFor(field, hostileValue, seed);
          const outcome = await outcomeOf(() => tq.cronTickers.update(cron.id, { [field]: value } as never), [field]);
          judge(field, value, outcome as Outcome<Record<string, unknown>>);
          const updated = "ok" in outcome ? outcome.ok : undefined;
          expect(await tq.cronTickers.get(cron.id)).toEqual(updated ?? before);
          expect((await counts(store)).crons).toBe(beforeCounts.crons);
        }),
        { seed: SEED + 4, numRuns: 200 },
      );
    });

    it("a wholly hostile input or patch is refused with a code, and stores nothing", async () => {
      const job = await tq.timeTickers.add({ function: "Anything" });
      const cron = await tq.cronTickers.add({ function: "Anything", expression: "* * * * *" });
      await fc.assert(
        fc.asyncProperty(hostile, async (recipe) => {
          const value = make(recipe);
          const before = await counts(store);
          const calls: [() => Promise<unknown>, string[]][] = [
            [() => tq.timeTickers.add(value as never), ["input", "function"]],
            [() => tq.timeTickers.addMany(value as never), ["addMany", "tickers", "input"]],
            [() => tq.timeTickers.update(job.id, value as never), ["patch", ""]],
            [() => tq.cronTickers.add(value as never), ["input", "function"]],
            [() => tq.cronTickers.update(cron.id, value as never), ["patch", ""]],
          ];
          for (const [call, fields] of calls) {
            // A value that happens to be a valid input or an empty patch may succeed; it must not throw uncoded.
            await attempt(call, fields);
          }
          const after = await counts(store);
          expect(after.crons).toBe(before.crons);
        }),
        { seed: SEED + 5, numRuns: 150 },
      );
    });
  });
}

describe("fuzzed functions without a store", () => {
  it("nextOccurrences: instants in order, or a coded refusal naming the argument", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          plausible.expression!.map((value) => ({ value })),
          hostile,
        ),
        fc.record(
          {
            from: fc.oneof(
              fc.date({ noInvalidDate: true }).map((value) => ({ value })),
              hostile,
            ),
            timeZone: fc.oneof(
              plausible.timeZone!.map((value) => ({ value })),
              hostile,
            ),
            count: fc.oneof(
              fc.integer({ min: -1, max: 20 }).map((value) => ({ value })),
              hostile,
            ),
          },
          { requiredKeys: [] },
        ),
        async (expressionRecipe, recipes) => {
          const expression = make(expressionRecipe);
          const options = Object.fromEntries(Object.entries(recipes).map(([key, recipe]) => [key, make(recipe)]));
          const result = await attempt(
            () => nextOccurrences(expression as string, options as never),
            ["expression", "from", "timeZone", "count", "options"],
          );
          if (!result) return;
          for (let i = 1; i < result.length; i++)
            expect(result[i]!.getTime()).toBeGreaterThan(result[i - 1]!.getTime());
        },
      ),
      { seed: SEED + 6, numRuns: 400 },
    );
  });

  const OPTIONS = [
    "maxConcurrency",
    "prefetch",
    "maxLongRunning",
    "nodeId",
    "shutdownTimeoutMs",
    "lookaheadMs",
    "adaptiveLookahead",
    "pollIntervalMs",
    "heartbeatIntervalMs",
    "leaseTimeoutMs",
    "dueToleranceMs",
    "maxRequestBytes",
    "retentionDays",
    "cronHorizonMs",
  ] as const;

  it("createTickerQ options: built, or refused naming the option", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...OPTIONS),
        fc.oneof(
          fc
            .oneof(fc.integer({ min: -5, max: 100_000 }), fc.double(), fc.string({ maxLength: 5 }))
            .map((value) => ({ value })),
          hostile,
        ),
        async (option, recipe) => {
          const value = make(recipe);
          const tq = await attempt(
            () => createTickerQ({ functions: [anything], [option]: value, logger: null }),
            [option],
          );
          if (tq) expect(tq.state).toBe("created");
        },
      ),
      { seed: SEED + 7, numRuns: 400 },
    );
  });
});
