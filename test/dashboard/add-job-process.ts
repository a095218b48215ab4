/** Run as a separate process by the browser tests: adds one job to a shared SQLite file, as another app would. */

import { createTickerQ } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite.js";
import { demoFunctions } from "./browser-fixture.js";

const [filename, id] = process.argv.slice(2);
const tq = createTickerQ({ functions: demoFunctions, store: sqliteStore({ filename: filename! }), nodeId: "worker-2" });
await tq.timeTickers.add({
  id: id!,
  function: "GenerateInvoice",
  request: { invoiceId: 9001 },
  description: "added by another process",
  executionTime: new Date(Date.now() + 3_600_000),
});
await tq.stop();
