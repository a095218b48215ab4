/**
 * Trace context across processes on PostgreSQL: node A (its own process) enqueues inside a
 * span; node B (another process, same schema) runs the job. Each exports its spans with the
 * SDK's in-memory exporter and prints them; B's `process` spans must be children of A's
 * `send` span in A's trace, one per attempt (the retry a separate span). Without a registered
 * propagator the middleware writes and reads `traceparent` itself; with the W3C propagator,
 * propagation.inject/extract do, carrying the tracestate too.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { checkPostgres, PG_URL, postgresScratch } from "../helpers/databases.js";

const script = fileURLToPath(new URL("./otel-node-process.ts", import.meta.url));

interface SpanJson {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  status: SpanStatusCode;
  attributes: Record<string, unknown>;
  traceState: string | null;
}

/** Runs one node process to its end and returns the spans it exported. */
function runNode(
  role: "send" | "process",
  schema: string,
  nodeId: string,
  propagator: "w3c" | "none" = "none",
): Promise<SpanJson[]> {
  const child = spawn(process.execPath, ["--import", "tsx", script, role, PG_URL, schema, nodeId, propagator], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("SPANS "));
      if (code !== 0 || !line) reject(new Error(`${nodeId} exited with ${code}; stdout: ${out}`));
      else resolve(JSON.parse(line.slice("SPANS ".length)) as SpanJson[]);
    });
  });
}

/** Node B's process spans follow node A's send span, one per attempt; returns them. */
function expectLinked(sent: SpanJson[], processed: SpanJson[]): { send: SpanJson; attempts: SpanJson[] } {
  const request = sent.find((s) => s.name === "http request")!;
  const send = sent.find((s) => s.name === "send Flaky")!;
  expect(send).toMatchObject({
    kind: SpanKind.PRODUCER,
    traceId: request.traceId,
    parentSpanId: request.spanId,
    attributes: { "messaging.operation.type": "send", "tickerq.node_id": "node-a" },
  });
  const jobId = send.attributes["messaging.message.id"];

  const attempts = processed.filter((s) => s.name === "process Flaky");
  expect(attempts).toHaveLength(2);
  for (const span of attempts) {
    expect(span).toMatchObject({
      kind: SpanKind.CONSUMER,
      traceId: send.traceId,
      parentSpanId: send.spanId,
      attributes: { "messaging.message.id": jobId, "tickerq.node_id": "node-b" },
    });
  }
  const [first, retry] = [...attempts].sort(
    (a, b) => (a.attributes["tickerq.attempt"] as number) - (b.attributes["tickerq.attempt"] as number),
  );
  expect(first!.spanId).not.toBe(retry!.spanId);
  expect(first).toMatchObject({
    status: SpanStatusCode.ERROR,
    attributes: { "tickerq.attempt": 0, "tickerq.status": "Idle" },
  });
  expect(retry!.status).not.toBe(SpanStatusCode.ERROR);
  expect(retry!.attributes).toMatchObject({
    "tickerq.attempt": 1,
    "tickerq.status": expect.stringMatching(/^(Done|DueDone)$/), // DueDone when it started past its due time
  });
  // The handler's own spans nest under each attempt's span.
  const inside = processed.filter((s) => s.name === "inside handler").map((s) => s.parentSpanId);
  expect(inside.sort()).toEqual([first!.spanId, retry!.spanId].sort());
  return { send, attempts };
}

const server = await checkPostgres();

describe.runIf(server.available)("otelMiddleware across node processes (PostgreSQL)", () => {
  let scratch: Awaited<ReturnType<typeof postgresScratch>>;
  beforeAll(async () => {
    scratch = await postgresScratch();
  });
  afterAll(() => scratch?.drop());

  it("parents node B's process spans on node A's send span, one span per attempt", async () => {
    const sent = await runNode("send", scratch.schema, "node-a");
    const processed = await runNode("process", scratch.schema, "node-b");
    expectLinked(sent, processed);
  }, 60_000);

  it("carries the context through propagation.inject/extract when the W3C propagator is registered", async () => {
    const own = await postgresScratch();
    try {
      const sent = await runNode("send", own.schema, "node-a", "w3c");
      const processed = await runNode("process", own.schema, "node-b", "w3c");
      const { send, attempts } = expectLinked(sent, processed);
      // The caller's tracestate reached node B: the hand-built traceparent does not carry one.
      expect(send.traceState).toBe("vendor=value");
      expect(attempts.map((s) => s.traceState)).toEqual(["vendor=value", "vendor=value"]);
      expect(sent.find((s) => s.name === "http request")!.traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    } finally {
      await own.drop();
    }
  }, 60_000);
});
