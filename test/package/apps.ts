/**
 * The apps the package test installs the tarball into, as source text: the same scenario
 * (schedule a job and run it on the memory and SQLite stores) written as a user would in plain
 * ESM, CommonJS, and TypeScript (ESM and CommonJS files) under strict + nodenext.
 */

/** Prints one JSON line: the statuses the job ended in, per store, and the subpaths that loaded. */
const scenario = (dir: string) => `
const clock = new TestClock("2026-03-02T08:00:00Z");
const hello = defineFunction("Hello", async (ctx) => {
  greeted.push(ctx.request.name);
});
const greeted = [];
const statuses = {};
for (const [name, store] of [
  ["memory", memoryStore()],
  ["sqlite", sqliteStore({ filename: ${JSON.stringify(dir)} + "/app-" + process.pid + "-" + Math.random() + ".db" })],
]) {
  const tq = createTickerQ({ functions: [hello], store, clock, logger: null });
  await tq.start();
  const job = await tq.timeTickers.add({ function: "Hello", request: { name } });
  const ran = await runDue(tq);
  statuses[name] = [ran, (await tq.job(job.id)).status];
  await tq.stop();
}
console.log(JSON.stringify({ statuses, greeted, subpaths: [typeof postgresStore, typeof mysqlStore, typeof createDashboard, typeof createApi] }));
`;

export function esmApp(dir: string): string {
  return `import { createTickerQ, defineFunction, memoryStore } from "tickerq";
import { sqliteStore } from "tickerq/sqlite";
import { postgresStore } from "tickerq/postgres";
import { mysqlStore } from "tickerq/mysql";
import { createDashboard } from "tickerq/dashboard";
import { createApi } from "tickerq/http";
import { TestClock, runDue } from "tickerq/testing";
${scenario(dir)}`;
}

export function cjsApp(dir: string): string {
  return `const { createTickerQ, defineFunction, memoryStore } = require("tickerq");
const { sqliteStore } = require("tickerq/sqlite");
const { postgresStore } = require("tickerq/postgres");
const { mysqlStore } = require("tickerq/mysql");
const { createDashboard } = require("tickerq/dashboard");
const { createApi } = require("tickerq/http");
const { TestClock, runDue } = require("tickerq/testing");
(async () => {
${scenario(dir)}
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});`;
}

/** TypeScript: the scenario, typed, plus checks that the types are real (not `any`). */
function typed(body: string): string {
  return body
    .replace("const greeted = [];", "const greeted: string[] = [];")
    .replace("\n]) {", "\n] as [string, Store][]) {")
    .replace("const statuses = {};", "const statuses: Record<string, [number, string | undefined]> = {};")
    .replace("(await tq.job(job.id)).status", "(await tq.job(job.id))?.status")
    .replace(
      "const ran = await runDue(tq);",
      `const ran: number = await runDue(tq);
  // @ts-expect-error "Nope" is not a registered function: the types are tickerq's, not any.
  if (ran < 0) await tq.timeTickers.add({ function: "Nope" });`,
    )
    .replace(
      `defineFunction("Hello", async (ctx) => {`,
      `defineFunction("Hello", async (ctx: TickerContext<{ name: string }>) => {`,
    );
}

export function tsEsmApp(dir: string): string {
  return typed(esmApp(dir)).replace(
    `import { createTickerQ, defineFunction, memoryStore } from "tickerq";`,
    `import { createTickerQ, defineFunction, memoryStore, type Store, type TickerContext } from "tickerq";
import type { PgPool } from "tickerq/postgres";
import type { BetterSqliteDatabase } from "tickerq/sqlite";
export type DriverTypes = [PgPool, BetterSqliteDatabase];`,
  );
}

export function tsCjsApp(dir: string): string {
  const imports = `import { createTickerQ, defineFunction, memoryStore, type Store, type TickerContext } from "tickerq";
import { sqliteStore } from "tickerq/sqlite";
import { postgresStore } from "tickerq/postgres";
import { mysqlStore } from "tickerq/mysql";
import { createDashboard } from "tickerq/dashboard";
import { createApi } from "tickerq/http";
import { TestClock, runDue } from "tickerq/testing";
`;
  return `${imports}
async function main(): Promise<void> {
${typed(scenario(dir))}
}
main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
`;
}

/** strict + nodenext, no skipLibCheck; only @types/node is installed. */
export const TSCONFIG = {
  compilerOptions: {
    strict: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    skipLibCheck: false,
    types: ["node"],
    outDir: "out",
  },
  files: ["app.mts", "app.cts"],
};
