/** Runs one worker child through a jobs run (W2, W3, W4), printing progress while it works. */
import { startChild, within, type DoneMessage } from "../child.js";
import type { ToChild } from "../protocol.js";
import type { System } from "../systems/types.js";
import { produce, type ProducePlan, type ProduceResult } from "./produce.js";
import type { RunContext } from "./types.js";

const PROGRESS_EVERY_MS = 2_000;
/** The child enforces the cap itself; this covers a child whose event loop is stuck. */
const READY_LIMIT_MS = 60_000;
const DONE_GRACE_MS = 15_000;

export interface DrainRequest {
  system: System;
  variant: string;
  concurrency: number;
  expected: number;
  capMs: number;
  collect: boolean;
  /** Added before the worker starts. */
  seed?: ProducePlan;
  /** Added once the worker runs. */
  live?: ProducePlan;
  tag: string;
}

export interface DrainResult extends DoneMessage {
  /** The live producer's run, wherever it ran. */
  live: ProduceResult | null;
}

/** Seeds and produces in this process for shared stores, in the child for in-process stores. */
export async function drainRun(request: DrainRequest, ctx: RunContext): Promise<DrainResult> {
  const { system } = request;
  const inChild = system.inProcess;
  if (request.seed && !inChild) {
    const producer = await system.producer(request.variant);
    try {
      await produce(producer, request.seed);
    } finally {
      await producer.close();
    }
  }
  const order: ToChild = {
    type: "jobs",
    system: system.id,
    variant: request.variant,
    concurrency: request.concurrency,
    expected: request.expected,
    capMs: request.capMs,
    collect: request.collect,
    ...(inChild && request.seed ? { seed: request.seed } : {}),
    ...(inChild && request.live ? { live: request.live } : {}),
  };
  const child = startChild(order);
  let lastPrint = Date.now();
  child.onProgress((count) => {
    if (Date.now() - lastPrint >= PROGRESS_EVERY_MS) {
      lastPrint = Date.now();
      ctx.log(`  ${request.tag}: ${count.toLocaleString("en")}/${request.expected.toLocaleString("en")} jobs started`);
    }
  });
  let stuck = false;
  try {
    await within(child.ready, READY_LIMIT_MS, `${request.tag} worker start`).catch((error: unknown) => {
      stuck = true;
      throw error;
    });
    let live: ProduceResult | null = null;
    if (request.live && !inChild) {
      const producer = await system.producer(request.variant);
      try {
        live = await produce(producer, request.live);
        child.send({ type: "expect", count: live.added });
      } finally {
        await producer.close();
      }
    }
    const done = await within(child.done, request.capMs + DONE_GRACE_MS, `${request.tag} worker`).catch(
      (error: unknown) => {
        stuck = true;
        throw error;
      },
    );
    return { ...done, live: live ?? done.produced };
  } finally {
    await (stuck ? child.kill() : child.stop());
  }
}

export function timeoutNote(result: DoneMessage, expected: number, capMs: number): string | undefined {
  return result.timedOut
    ? `stopped at the ${capMs / 1000} s cap before all ${expected.toLocaleString("en")} jobs ran`
    : undefined;
}
