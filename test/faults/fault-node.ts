/**
 * One tickerq node in its own process for the fault tests. Its handlers record their side
 * effects outside tickerq: one JSON line per handler start, end and abort, appended
 * synchronously to this process's own file, so a line written survives a SIGKILL.
 * argv[2] is a JSON FaultNodeConfig. Prints "ready" once started; SIGTERM stops it gracefully.
 */

import { appendFileSync } from "node:fs";
import { createTickerQ, defineFunction, type TickerContext } from "../../src/index.js";
import { storeForUrl } from "../../src/cli.js";
import { redisCoordinator } from "../../src/redis.js";

export interface FaultNodeConfig {
  url: string;
  schema?: string;
  nodeId: string;
  effectsFile: string;
  heartbeatIntervalMs: number;
  leaseTimeoutMs: number;
  /** How long a Work handler works (aborted early by its signal). */
  workMs: number;
  maxConcurrency: number;
  /** A Redis coordinator beside the store. */
  redis?: { url: string; prefix: string };
}

/** One line of a side-effect file. */
export interface EffectLine {
  /** start: the handler began (its side effect may have happened); end: it finished; abort: its signal aborted. */
  event: "start" | "end" | "abort";
  jobId: string;
  function: string;
  scheduledFor: number;
  retryCount: number;
  nodeId: string;
  pid: number;
  at: number;
  reason?: string;
}

const config = JSON.parse(process.argv[2] ?? "{}") as FaultNodeConfig;

function record(event: EffectLine["event"], ctx: TickerContext<unknown>, reason?: string): void {
  const line: EffectLine = {
    event,
    jobId: ctx.id,
    function: ctx.functionName,
    scheduledFor: ctx.scheduledFor.getTime(),
    retryCount: ctx.retryCount,
    nodeId: config.nodeId,
    pid: process.pid,
    at: Date.now(),
    ...(reason === undefined ? {} : { reason }),
  };
  appendFileSync(config.effectsFile, `${JSON.stringify(line)}\n`);
}

async function effect(ctx: TickerContext<unknown>, signal: AbortSignal, ms: number): Promise<void> {
  record("start", ctx);
  const aborted = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve(true)), { once: true });
  });
  if (!aborted) {
    record("end", ctx);
    return;
  }
  // As a real handler would (fetch, a driver call): an aborted signal ends the work with its reason.
  record("abort", ctx, String(signal.reason instanceof Error ? signal.reason.message : signal.reason));
  throw signal.reason instanceof Error ? signal.reason : new Error(`aborted: ${String(signal.reason)}`);
}

const work = defineFunction("Work", (ctx, signal) => effect(ctx, signal, config.workMs));
const tick = defineFunction("Tick", (ctx, signal) => effect(ctx, signal, 10));

const tq = createTickerQ({
  functions: [work, tick],
  store: await storeForUrl(config.url, config.schema ? { schema: config.schema } : {}),
  nodeId: config.nodeId,
  maxConcurrency: config.maxConcurrency,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  leaseTimeoutMs: config.leaseTimeoutMs,
  pollIntervalMs: 200,
  shutdownTimeoutMs: 2000,
  coordinator: config.redis ? redisCoordinator(config.redis) : null,
});
tq.events.on("error", ({ error, during }) =>
  console.error(`[${config.nodeId}] ${during}: ${error instanceof Error ? error.message : String(error)}`),
);
// Starting may meet the fault too (a restart during an outage): try again, bounded.
for (let attempt = 1; ; attempt++) {
  try {
    await tq.start();
    break;
  } catch (error) {
    if (attempt >= 60) throw error;
    console.error(`[${config.nodeId}] start failed (${String(error)}); retrying`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  const exit = setTimeout(() => process.exit(3), 10_000);
  void tq.stop({ timeoutMs: 2000 }).then(
    () => (clearTimeout(exit), process.exit(0)),
    () => process.exit(4),
  );
});
