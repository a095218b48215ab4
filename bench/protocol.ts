/** The messages between the bench runner and a worker child process. */
import type { ProducePlan, ProduceResult } from "./workloads/produce.js";

export type ToChild =
  | {
      type: "jobs";
      system: string;
      variant: string;
      concurrency: number;
      /** Jobs to see started before the run counts as done. */
      expected: number;
      capMs: number;
      /** Keep start − payload.t for every job (W3, W4). */
      collect: boolean;
      /** In-process stores only: added by the child, `seed` before the worker starts, `live` after. */
      seed?: ProducePlan;
      live?: ProducePlan;
    }
  /** The live producer stopped early: the run is done once this many jobs have started. */
  | { type: "expect"; count: number }
  | { type: "cron"; system: string }
  | { type: "stop" };

export type FromChild =
  | { type: "ready"; at: number }
  | { type: "progress"; count: number }
  | {
      type: "done";
      count: number;
      /** Before the worker started, and when every expected job was started and finished in the store. */
      workerStartAt: number;
      /** How long the child took to import the system's modules (before workerStartAt). */
      loadMs: number;
      /** When the first job's handler started (NaN if none did). */
      firstJobAt: number;
      finishedAt: number;
      timedOut: boolean;
      rssBytes: number;
      /** CPU time (user + system) the worker process spent from the first job's start to finishedAt; NaN if no job ran. */
      cpuMs: number;
      delays: number[];
      produced: ProduceResult | null;
    }
  | { type: "tick"; scheduledFor: number; startedAt: number }
  | { type: "stopped" }
  | { type: "error"; message: string };
