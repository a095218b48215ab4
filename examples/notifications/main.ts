/**
 * `npm start`: the notifications example on the embedded SQLite store (./tickerq.db), so a
 * restart keeps scheduled jobs. Try:
 *   curl -X POST http://127.0.0.1:5000/api/users/register \
 *     -H 'content-type: application/json' -d '{"email":"user@example.com","name":"John Doe"}'
 * and open http://127.0.0.1:5000/admin/tickerq (admin / secure-password).
 */

import { sqliteStore } from "../../src/sqlite.js";
import { startApp } from "./app.js";

const port = Number(process.env.PORT ?? 5000);
const filename = process.env.TICKERQ_DB ?? "tickerq.db";
const app = await startApp({ store: sqliteStore({ filename }), port });

console.log(
  `notifications example on http://127.0.0.1:${app.port} (what to try; store: SQLite ${filename}, node ${app.tq.nodeId})`,
);
console.log(
  `  register:  curl -X POST http://127.0.0.1:${app.port}/api/users/register -H 'content-type: application/json' -d '{"email":"user@example.com","name":"John Doe"}'`,
);
console.log(`  dashboard: http://127.0.0.1:${app.port}/admin/tickerq  (admin / secure-password)`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`\n${signal}: stopping gracefully (jobs in flight get 30 s)…`);
    void app.stop().then(() => process.exit(0));
  });
}
