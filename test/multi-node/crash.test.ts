/**
 * The crash test of the durable stores: three node processes share one database, 5,000 time
 * tickers and a per-second cron ticker; one node is SIGKILLed mid-run. Every ticker ends once
 * in a final state, every cron second has exactly one occurrence, and the killed node's
 * leased jobs run again elsewhere. MariaDB and PostgreSQL run it again with a Redis
 * coordinator on each node (the producer has none: its writes are found by claims and polls).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createTickerQ, defineFunction, type Store } from "../../src/index.js";
import { storeForUrl } from "../../src/cli.js";
import {
  PG_URL,
  REDIS_URL,
  checkMysql,
  checkPostgres,
  checkRedis,
  mysqlScratch,
  postgresScratch,
  redisScratch,
} from "../helpers/databases.js";

const script = fileURLToPath(new URL("./node-process.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "tickerq-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TICKERS = 5000;
const FINAL = ["Done", "DueDone", "Failed", "Cancelled", "Skipped"] as const;

/** A Redis coordinator for every node: its URL and key prefix. */
type RedisSpec = { url: string; prefix: string } | null;

function startNode(url: string, schema: string, nodeId: string, redis: RedisSpec): Promise<ChildProcess> {
  // better-sqlite3 waits for the file lock synchronously, so under three-process contention a
  // SQLite node's heartbeat can be late by a second or more: give it a longer lease.
  const leaseTimeoutMs = url.startsWith("sqlite:") ? "4000" : "1500";
  // The victim's jobs are slow, so it certainly holds running work when it is killed.
  const workMs = nodeId === "victim" ? "300" : "20";
  const args = [url, schema, nodeId, leaseTimeoutMs, workMs, ...(redis ? [JSON.stringify(redis)] : [])];
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${nodeId} exited early (${code})`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve(child);
    });
  });
}

/** Polls the shared database (another process's writes raise no event here), bounded in time. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Resolves once the victim's last transaction has ended on the server. A process that is gone
 * can still commit: MySQL runs a completion whose COMMIT travelled in one packet with its
 * writes, PostgreSQL a statement it had received. A locking read of the victim's rows waits
 * behind such a transaction, so a snapshot taken after it sees its outcome. (A dead SQLite
 * process commits nothing more.)
 */
async function afterVictimsLastTransaction(url: string, schema: string): Promise<void> {
  const locking = "select id from tickerq_jobs where lock_holder = 'victim' for update";
  if (url.startsWith("mysql")) {
    const mysql = (await import("mysql2/promise")).default;
    const conn = await mysql.createConnection({ uri: url });
    try {
      await conn.query("start transaction");
      await conn.query(locking);
      await conn.query("rollback");
    } finally {
      await conn.end();
    }
  } else if (url.startsWith("postgres")) {
    const pg = (await import("pg")).default;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`set search_path to "${schema}"`);
      await client.query("begin");
      await client.query(locking);
      await client.query("rollback");
    } finally {
      await client.end();
    }
  }
}

const finalCount = async (store: Store) => {
  const counts = await store.jobCountByStatus({ function: "Work" });
  return FINAL.reduce((sum, status) => sum + counts[status], 0);
};

async function crashRun(url: string, schema: string, redis: RedisSpec = null): Promise<void> {
  const store = await storeForUrl(url, schema ? { schema } : {});
  const noop = async () => {};
  const producer = createTickerQ({
    functions: [defineFunction("Work", noop), defineFunction("Tick", noop)],
    store,
    closeStoreOnStop: false,
  });
  const cron = await producer.cronTickers.add({ function: "Tick", expression: "* * * * * *" });
  await producer.timeTickers.addMany(Array.from({ length: TICKERS }, () => ({ function: "Work" as const })));

  const nodes = await Promise.all(["n0", "victim", "n2"].map((id) => startNode(url, schema, id, redis)));
  const heldByVictim: string[] = [];
  const startedAt = Date.now();
  try {
    await until("a fifth of the work is done", async () => (await finalCount(store)) >= TICKERS / 5, 60_000);
    await until(
      "the victim is running work",
      async () =>
        // Work, not a cron occurrence: only Work is checked for recovery below.
        (await store.jobList({ status: "InProgress", function: "Work", limit: 100 })).items.some(
          (j) => j.lockHolder === "victim",
        ),
      30_000,
    );
    nodes[1]!.removeAllListeners("exit");
    const died = new Promise((resolve) => nodes[1]!.once("exit", resolve));
    nodes[1]!.kill("SIGKILL");
    const killedAt = Date.now();
    // kill() only sends the signal: a write the victim sent just before may still commit.
    await died;
    await afterVictimsLastTransaction(url, schema);
    // What it held as it died: nothing moves these until the lease times out.
    const running = await store.jobList({ status: "InProgress", limit: 1000 });
    heldByVictim.push(...running.items.filter((j) => j.lockHolder === "victim").map((j) => j.id));
    await until("every ticker is final", async () => (await finalCount(store)) === TICKERS, 90_000);
    // Let the cron run on past the lease timeout, so seconds around the crash are covered.
    await until("5 s after the kill", async () => Date.now() - killedAt > 5000, 10_000);
  } finally {
    for (const [i, child] of nodes.entries()) {
      if (i === 1) continue;
      child.removeAllListeners("exit");
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }

  const work = await store.jobList({ function: "Work", limit: TICKERS });
  expect(work.total).toBe(TICKERS);
  expect(work.items.every((job) => job.status === "DueDone" || job.status === "Done")).toBe(true);

  // The victim's leased work ran again on a live node, as a new attempt.
  // (A node whose heartbeat is late past the lease timeout counts as dead too: at least once.)
  const recovered = work.items.filter((job) => job.retryCount > 0);
  const lostBy = new Set<string>();
  for (const job of recovered) {
    const attempts = await store.attemptList({ jobId: job.id });
    expect(attempts[0]).toMatchObject({
      status: "Failed",
      exceptionMessage: expect.stringContaining("stopped heartbeating"),
    });
    expect(attempts.at(-1)!.nodeId).not.toBe(attempts[0]!.nodeId);
    expect(attempts.filter((a) => a.status === "Done" || a.status === "DueDone")).toHaveLength(1);
    lostBy.add(attempts[0]!.nodeId);
  }
  expect(lostBy).toContain("victim");
  expect(heldByVictim.length).toBeGreaterThan(0);
  for (const id of heldByVictim) {
    const attempts = await store.attemptList({ jobId: id });
    expect(attempts[0]).toMatchObject({ nodeId: "victim", status: "Failed" });
    expect(attempts.at(-1)).toMatchObject({ status: expect.stringMatching(/^(Due)?Done$/) });
  }
  // Work that was not recovered finished once: one attempt.
  for (const job of work.items.filter((j) => j.retryCount === 0).slice(0, 50)) {
    expect(await store.attemptList({ jobId: job.id })).toHaveLength(1);
  }

  // Every second from the first occurrence to the last has exactly one occurrence.
  const occurrences = await store.jobList({
    cronTickerId: cron.id,
    orderBy: "executionTime",
    order: "asc",
    limit: 1000,
  });
  const seconds = occurrences.items.map((o) => o.scheduledFor!.getTime() / 1000);
  expect(seconds.length).toBeGreaterThan((Date.now() - startedAt) / 1000 - 3);
  expect(new Set(seconds).size).toBe(seconds.length);
  expect(seconds.at(-1)! - seconds[0]!).toBe(seconds.length - 1);
  const past = occurrences.items.filter((o) => o.scheduledFor!.getTime() < Date.now() - 3000);
  expect(past.every((o) => o.status === "DueDone" || o.status === "Done")).toBe(true);
  await store.close();
}

const pgAvailable = (await checkPostgres()).available;
const mysqlAvailable = (await checkMysql()).available;
const redisAvailable = (await checkRedis()).available;

describe("three node processes, one SIGKILLed mid-run", () => {
  it("sqlite", () => crashRun(`sqlite:${join(dir, "crash.db")}`, ""), 180_000);

  it.runIf(pgAvailable)(
    "postgres",
    async () => {
      const scratch = await postgresScratch();
      try {
        await crashRun(PG_URL, scratch.schema);
      } finally {
        await scratch.drop();
      }
    },
    180_000,
  );

  it.runIf(mysqlAvailable)(
    "mysql",
    async () => {
      const scratch = await mysqlScratch();
      try {
        await crashRun(scratch.url, "");
      } finally {
        await scratch.drop();
      }
    },
    180_000,
  );

  it.runIf(mysqlAvailable && redisAvailable)(
    "mysql + redis",
    async () => {
      const scratch = await mysqlScratch();
      const redis = await redisScratch();
      try {
        await crashRun(scratch.url, "", { url: REDIS_URL, prefix: redis.prefix });
      } finally {
        await redis.drop();
        await scratch.drop();
      }
    },
    180_000,
  );

  it.runIf(pgAvailable && redisAvailable)(
    "postgres + redis",
    async () => {
      const scratch = await postgresScratch();
      const redis = await redisScratch();
      try {
        await crashRun(PG_URL, scratch.schema, { url: REDIS_URL, prefix: redis.prefix });
      } finally {
        await redis.drop();
        await scratch.drop();
      }
    },
    180_000,
  );
});
