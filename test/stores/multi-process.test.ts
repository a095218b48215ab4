/** Several processes share one database and claim from it: every job runs exactly once, on every store. */

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { storeForUrl } from "../../src/cli.js";
import { at, newJob } from "../contract/fixtures.js";
import { PG_URL, checkMysql, checkPostgres, mysqlScratch, postgresScratch } from "../helpers/databases.js";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("./claim-worker.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "tickerq-multi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pgAvailable = (await checkPostgres()).available;
const mysqlAvailable = (await checkMysql()).available;
const JOBS = 1500;
const PROCESSES = 3;

async function exercise(url: string, schema: string): Promise<void> {
  const store = await storeForUrl(url, schema ? { schema } : {});
  await store.init();
  try {
    await store.jobInsertMany({
      jobs: Array.from({ length: JOBS }, (_, i) => newJob({ id: `job-${i}`, executionTime: at(-i / 1000) })),
    });
    const outputs = await Promise.all(
      Array.from({ length: PROCESSES }, (_, i) =>
        run(process.execPath, ["--import", "tsx", worker, url, schema, `node-${i}`], { maxBuffer: 16 * 1024 * 1024 }),
      ),
    );
    const ran = outputs.flatMap(({ stdout }) => JSON.parse(stdout.trim().split("\n").pop() ?? "[]") as string[]);
    expect(new Set(ran).size).toBe(ran.length);
    expect(ran.length).toBe(JOBS);
    expect((await store.jobCountByStatus({})).DueDone).toBe(JOBS);
    expect(await store.attemptList({ jobId: "job-7" })).toHaveLength(1);
  } finally {
    await store.close();
  }
}

describe("several processes on one store", () => {
  it("sqlite", async () => {
    await exercise(`sqlite:${join(dir, "shared.db")}`, "");
  }, 120_000);

  it.runIf(pgAvailable)(
    "postgres",
    async () => {
      const scratch = await postgresScratch();
      try {
        await exercise(PG_URL, scratch.schema);
      } finally {
        await scratch.drop();
      }
    },
    120_000,
  );

  it.runIf(mysqlAvailable)(
    "mysql",
    async () => {
      const scratch = await mysqlScratch();
      try {
        await exercise(scratch.url, "");
      } finally {
        await scratch.drop();
      }
    },
    120_000,
  );
});
