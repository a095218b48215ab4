/**
 * The worker child process: runs one system's worker (or cron node) under the runner's
 * orders over IPC, so that its RSS and CPU are its own.
 */
import type { FromChild, ToChild } from "./protocol.js";
import { loadSystem } from "./systems/load.js";
import type { RunningWorker } from "./systems/types.js";
import { epochNow, produce, type ProduceResult } from "./workloads/produce.js";

const PROGRESS_MS = 500;
const UNFINISHED_POLL_MS = 20;

function send(message: FromChild): void {
  if (process.connected) process.send?.(message);
}

let running: RunningWorker | null = null;
/** Lowered by an `expect` message (or the child's own live producer) when production stops early. */
let expectJobs: ((count: number) => void) | null = null;

async function runJobs(order: Extract<ToChild, { type: "jobs" }>): Promise<void> {
  const loadStartAt = epochNow();
  const system = await loadSystem(order.system);
  await system.load?.(order.variant);
  const loadMs = epochNow() - loadStartAt;
  if (order.seed) await produce(await system.producer(order.variant), order.seed).then(() => undefined);
  let count = 0;
  let firstJobAt = Number.NaN;
  let cpuAtFirstJob: NodeJS.CpuUsage | null = null;
  let expected = order.expected;
  const delays: number[] = [];
  let allStarted!: () => void;
  const started = new Promise<void>((resolve) => (allStarted = resolve));
  expectJobs = (n) => {
    expected = n;
    if (count >= expected) allStarted();
  };
  const workerStartAt = epochNow();
  running = await system.worker({
    concurrency: order.concurrency,
    variant: order.variant,
    onJob(payload, startedAt) {
      if (count === 0) {
        firstJobAt = startedAt;
        cpuAtFirstJob = process.cpuUsage();
      }
      count += 1;
      if (order.collect) delays.push(startedAt - payload.t);
      if (count >= expected) allStarted();
    },
  });
  send({ type: "ready", at: epochNow() });
  const progress = setInterval(() => send({ type: "progress", count }), PROGRESS_MS);
  const deadline = workerStartAt + order.capMs;
  let produced: ProduceResult | null = null;
  const live = order.live
    ? system.producer(order.variant).then(async (p) => {
        produced = await produce(p, order.live!);
        expectJobs?.(produced.added);
      })
    : null;

  let timedOut = false;
  const cap = new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - epochNow())).unref());
  await Promise.race([started, cap.then(() => (timedOut = true))]);
  // All started is not all done: wait until the completions are written too.
  while (!timedOut && (await running.unfinished()) > 0) {
    if (epochNow() > deadline) timedOut = true;
    else await new Promise((resolve) => setTimeout(resolve, UNFINISHED_POLL_MS));
  }
  const finishedAt = epochNow();
  const cpu = cpuAtFirstJob ? process.cpuUsage(cpuAtFirstJob) : null;
  clearInterval(progress);
  if (live) await live;
  send({
    type: "done",
    count,
    workerStartAt,
    loadMs,
    firstJobAt,
    finishedAt,
    timedOut,
    rssBytes: process.memoryUsage().rss,
    cpuMs: cpu ? (cpu.user + cpu.system) / 1000 : Number.NaN,
    delays,
    produced,
  });
}

async function runCron(system: string): Promise<void> {
  running = await (
    await loadSystem(system)
  ).cron!({
    onTick(scheduledFor, startedAt) {
      send({ type: "tick", scheduledFor, startedAt });
    },
  });
  send({ type: "ready", at: epochNow() });
}

let stopping: Promise<void> | null = null;

/** Stops the running worker once, then ends the process (even if a system's stop() hangs). */
function shutdown(onError: (error: unknown) => void): Promise<void> {
  stopping ??= (async () => {
    setTimeout(() => process.exit(0), 10_000).unref();
    try {
      if (running) await running.stop();
    } catch (error) {
      onError(error);
    }
  })();
  return stopping;
}

process.on("message", (message: ToChild) => {
  const fail = (error: unknown) => {
    send({ type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  };
  if (message.type === "jobs") runJobs(message).catch(fail);
  else if (message.type === "expect") expectJobs?.(message.count);
  else if (message.type === "cron") runCron(message.system).catch(fail);
  else if (message.type === "stop") {
    void shutdown(fail).then(() => {
      send({ type: "stopped" });
      process.disconnect?.();
      setTimeout(() => process.exit(0), 200).unref();
    });
  }
});

// A child whose runner is gone (killed, crashed) stops too: a worker left running would take
// the jobs of a later run, or keep serving a BullMQ job scheduler that run has just removed.
process.on("disconnect", () => {
  void shutdown((error) => console.error(error)).then(() => setTimeout(() => process.exit(0), 200).unref());
});
