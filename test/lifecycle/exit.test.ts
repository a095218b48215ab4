/**
 * stop() during start() on the real clock, in a child process per store: after the node is
 * stopped at each step of start(), nothing has run and the process exits by itself.
 */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { PG_URL, checkMysql, checkPostgres, mysqlScratch, postgresScratch } from "../helpers/databases.js";
import { START_STEPS } from "./steps.js";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./stop-during-start-process.ts", import.meta.url));
const [postgres, mysql] = await Promise.all([checkPostgres(), checkMysql()]);

/** Runs the child; a child that does not exit by itself is killed at `timeout`, and the test fails. */
async function stopsAndExits(args: string[]): Promise<void> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", script, ...args], { timeout: 60_000 });
  const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
    results: { step: string; start: string; state: string; closes: number }[];
    ran: number;
  };
  expect(report.results).toEqual(START_STEPS.map((step) => ({ step, start: "STOPPED", state: "stopped", closes: 1 })));
  expect(report.ran).toBe(0);
}

it("memory: stopped at each step of start(), the process exits with nothing run", async () => {
  await stopsAndExits(["memory"]);
});

it("sqlite: stopped at each step of start(), the process exits with nothing run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tickerq-exit-"));
  try {
    await stopsAndExits(["sqlite", join(dir, "store.db")]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it.skipIf(!postgres.available)(
  "postgres: stopped at each step of start(), the process exits with nothing run",
  async () => {
    const scratch = await postgresScratch();
    try {
      await stopsAndExits(["postgres", PG_URL, scratch.schema]);
    } finally {
      await scratch.drop();
    }
  },
);

it.skipIf(!mysql.available)("mysql: stopped at each step of start(), the process exits with nothing run", async () => {
  const scratch = await mysqlScratch();
  try {
    await stopsAndExits(["mysql", scratch.url]);
  } finally {
    await scratch.drop();
  }
});
