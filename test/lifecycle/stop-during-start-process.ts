/**
 * Child process for exit.test.ts: on the real clock, for each step of start(), a new node on
 * the given store is stopped while start() is in that step. It prints what happened and then
 * does nothing: the process must exit by itself (no timer, socket or handle left behind).
 *
 *   node --import tsx stop-during-start-process.ts <memory|sqlite|postgres|mysql> [where] [schema]
 */

import { createTickerQ, defineFunction, TickerQError, memoryStore, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";
import { sqliteStore } from "../../src/sqlite.js";
import { START_STEPS } from "./steps.js";
import { watch } from "./stores.js";

const [kind, where = "", schema] = process.argv.slice(2);

function open(): Store {
  switch (kind) {
    case "memory":
      return memoryStore();
    case "sqlite":
      return sqliteStore({ filename: where });
    case "postgres":
      return postgresStore({ connectionString: where, schema, poolSize: 2 });
    case "mysql":
      return mysqlStore({ uri: where, poolSize: 2 });
    default:
      throw new Error(`unknown store ${kind}`);
  }
}

let ran = 0;
const functions = [
  defineFunction("Tick", { cron: "* * * * * *" }, () => void ran++),
  defineFunction("Once", () => void ran++),
] as const;

const results: { step: string; start: string; state: string; closes: number }[] = [];
for (const step of START_STEPS) {
  const watched = watch(open(), step);
  const tq = createTickerQ({ functions, store: watched.store, logger: null, nodeId: `exit-${step}` });
  // Work due now, added before start() (which opens the store early, so not for the init step).
  if (step !== "init") await tq.timeTickers.add({ function: "Once" });
  const starting = tq.start().then(
    () => "resolved",
    (error: unknown) => (error instanceof TickerQError ? error.code : String(error)),
  );
  await watched.reached;
  const stopping = tq.stop();
  watched.release();
  const start = await starting;
  await stopping;
  results.push({ step, start, state: tq.state, closes: watched.closes() });
}
process.on("exit", () => {
  console.log(JSON.stringify({ results, ran }));
});
