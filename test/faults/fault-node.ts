/**
 * One tickerq node in its own process for the fault tests. Its handlers record their side
 * effects outside tickerq: one JSON line per handler start, end and abort, appended
 * synchronously to this process's own file, so a line written survives a SIGKILL.
 * argv[2] is a JSON FaultNodeConfig. Prints "ready" once started; SIGTERM stops it gracefully.
 * Commands on stdin, one a line, each answered on stdout: "pause" ("paused"), "resume"
 * ("resumed"), "probe" (adds a Probe job due now: "probe <id> <executionTime ms>").
 */

import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createTickerQ, defineFunction, type Logger, type TickerContext } from "../../src/index.js";
import { storeForUrl } from "../../src/cli.js";
import { postgresStore } from "../../src/postgres.js";
import { redisCoordinator, type Coordinator } from "../../src/redis.js";

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
  /** A Redis coordinator beside the store; `pollIntervalMs` is its safety poll while healthy. */
  redis?: { url: string; prefix: string; pollIntervalMs?: number };
  /** PostgreSQL only: false opens no LISTEN connection (as behind PgBouncer). */
  listen?: boolean;
  /**
   * Where the node's log lines go as JSON (`LogEntry`), besides stderr; with a coordinator,
   * the signals it hands the engine go there too. Not `.jsonl`: that is for side effects.
   */
  logFile?: string;
}

/** One line of a log file: a log line, or a signal the coordinator handed its engine. */
export type LogEntry =
  | { kind: "log"; level: string; fields: Record<string, unknown>; message: string; at: number }
  | { kind: "heard"; signal: { type: string; at?: number }; at: number };

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
const probe = defineFunction("Probe", (ctx, signal) => effect(ctx, signal, 1));

function logEntry(entry: LogEntry): void {
  if (config.logFile) appendFileSync(config.logFile, `${JSON.stringify(entry)}\n`);
}

/** Every line to stderr as before, and as JSON to the log file. */
const line =
  (level: string) =>
  (fields: Record<string, unknown>, message: string): void => {
    logEntry({ kind: "log", level, fields, message, at: Date.now() });
    console.error(message);
  };
const logger: Logger | undefined = config.logFile
  ? { error: line("error"), warn: line("warn"), info: line("info") }
  : undefined;

/** The coordinator, with each signal it hands the engine written to the log file. */
function recorded(coordinator: Coordinator): Coordinator {
  const start = coordinator.start.bind(coordinator);
  coordinator.start = (node) =>
    start({
      ...node,
      onSignal(signal) {
        const at = "at" in signal && signal.at instanceof Date ? { at: signal.at.getTime() } : {};
        logEntry({ kind: "heard", signal: { type: signal.type, ...at }, at: Date.now() });
        node.onSignal(signal);
      },
    });
  return coordinator;
}

const schema = config.schema ? { schema: config.schema } : {};
const tq = createTickerQ({
  functions: [work, tick, probe],
  store:
    config.listen === undefined
      ? await storeForUrl(config.url, schema)
      : postgresStore({ connectionString: config.url, ...schema, listen: config.listen }),
  nodeId: config.nodeId,
  maxConcurrency: config.maxConcurrency,
  heartbeatIntervalMs: config.heartbeatIntervalMs,
  leaseTimeoutMs: config.leaseTimeoutMs,
  pollIntervalMs: 200,
  shutdownTimeoutMs: 2000,
  coordinator: config.redis ? recorded(redisCoordinator(config.redis)) : null,
  ...(logger ? { logger } : {}),
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
void (async () => {
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === "pause") tq.pause();
    else if (line === "resume") tq.resume();
    else if (line === "probe") {
      const at = new Date();
      const job = await tq.timeTickers.add({ function: "Probe", executionTime: at });
      process.stdout.write(`probe ${job.id} ${at.getTime()}\n`);
      continue;
    } else continue;
    process.stdout.write(`${line}d\n`);
  }
})();
process.on("SIGTERM", () => {
  const exit = setTimeout(() => process.exit(3), 10_000);
  void tq.stop({ timeoutMs: 2000 }).then(
    () => (clearTimeout(exit), process.exit(0)),
    () => process.exit(4),
  );
});
