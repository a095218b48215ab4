/**
 * SQLite checkpoints off the event loop. In WAL mode a commit only appends to the -wal file;
 * now and then the WAL must be copied back into the database file (a checkpoint, with an
 * fsync), which takes milliseconds. better-sqlite3 is synchronous, so a checkpoint run by the
 * engine's own connection (SQLite's automatic one, at commit) stalls every timer of the node,
 * and jobs due meanwhile start late. The engine's connection therefore turns the automatic
 * checkpoint off, and a worker thread, on a connection of its own, checkpoints in PASSIVE mode
 * (never blocking readers or writers) a moment after commits, at most four times a second.
 */

import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** How often the thread looks for new commits, and so at most how often it checkpoints. */
const CHECK_EVERY_MS = 250;

/**
 * The thread's program, plain CommonJS so it runs the same from src (tsx, vitest) and dist.
 * It loads the driver the main thread resolved, so both use one copy.
 */
const THREAD = `
const { statSync } = require("node:fs");
const { parentPort, workerData } = require("node:worker_threads");
const Driver = require(workerData.driver);
const db = new Driver(workerData.filename);
db.pragma("busy_timeout = 0");
const wal = workerData.filename + "-wal";
let checkpointedAt = 0;
// Closed cleanly on stop, so the last connection to go can fold the WAL away.
parentPort.on("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
const timer = setInterval(() => {
  try {
    const modified = statSync(wal, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (modified <= checkpointedAt) return; // no commit since the last checkpoint
    checkpointedAt = modified;
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy or gone for a moment: the next tick tries again.
  }
}, workerData.everyMs);
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

/** Starts checkpointing `filename` from a worker thread that never keeps the process alive. */
export function startCheckpointer(filename: string): Checkpointer {
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(THREAD, { eval: true, workerData: { filename, driver, everyMs: CHECK_EVERY_MS } });
  worker.unref();
  // Should the thread fail (it cannot open the file), the WAL grows until the next start.
  worker.on("error", () => {});
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  return {
    async stop() {
      worker.ref(); // awaited here: the process must not end before the thread does
      worker.postMessage("stop");
      await exited;
    },
  };
}
