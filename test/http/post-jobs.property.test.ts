import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobCount, setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
beforeAll(async () => {
  ctx = await setup();
});
afterAll(async () => ctx?.close());

const FIELDS = [
  "function",
  "type",
  "name",
  "request",
  "payload",
  "executionTime",
  "runAt",
  "run_at",
  "delay",
  "id",
  "description",
  "priority",
  "retries",
  "retryIntervals",
  "children",
  "runCondition",
  "jobs",
  "__proto__",
  "constructor",
];

const value = fc.oneof(
  fc.constantFrom(
    "SendEmail",
    "Explode",
    "Nope",
    "",
    "High",
    "Low",
    "OnSuccess",
    "30s",
    "5m",
    "-1",
    "2030-05-01T00:00:00Z",
  ),
  fc.integer({ min: -5, max: 5 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string(),
  fc.array(fc.integer({ min: -1, max: 10 }), { maxLength: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const job = fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 6 });
const nearlyValid = fc.record(
  {
    function: fc.constantFrom("SendEmail", "Nightly", "Nope"),
    request: fc.jsonValue({ maxDepth: 2 }),
    delay: fc.oneof(fc.constantFrom(1, "30s", "5m", 3600), value),
  },
  { requiredKeys: ["function"] },
);
const body = fc.oneof(
  job,
  nearlyValid,
  nearlyValid,
  fc.array(fc.oneof(job, nearlyValid), { maxLength: 4 }),
  fc.record({ jobs: fc.array(fc.oneof(job, nearlyValid), { maxLength: 4 }) }),
  fc.jsonValue({ maxDepth: 4 }),
);

describe("POST /jobs with generated bodies", () => {
  it("answers 201 with stored jobs, or a 4xx problem and stores nothing; never 5xx", async () => {
    let created = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(body, fc.option(fc.string({ minLength: 1, maxLength: 20 })), async (sent, key) => {
        const before = await jobCount(ctx);
        const headers: Record<string, string> = key && /^[\x21-\x7e]+$/.test(key) ? { "idempotency-key": key } : {};
        const res = await ctx.call("POST", "/jobs", sent, headers);
        expect(res.status, JSON.stringify(sent)).toBeLessThan(500);
        const after = await jobCount(ctx);
        if (res.status === 201) {
          created++;
          const ids: string[] = res.body.jobs ? res.body.jobs.map((j: { id: string }) => j.id) : [res.body.id];
          for (const id of ids) expect(await ctx.tq.job(id)).not.toBeNull();
          expect(after).toBeGreaterThanOrEqual(before + ids.length);
        } else if (res.status === 200) {
          expect(after).toBe(before); // a replay of an earlier key or id
        } else {
          refused++;
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.headers.get("content-type")).toBe("application/problem+json");
          expect(res.body).toMatchObject({ status: res.status, code: expect.any(String), detail: expect.any(String) });
          expect(after).toBe(before);
        }
      }),
      { numRuns: 300 },
    );
    // The generators reach both sides.
    expect(created).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  });
});
