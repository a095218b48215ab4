/**
 * Three nodes on MariaDB, and on PostgreSQL without LISTEN (as behind PgBouncer), with a Redis coordinator each, Redis on a redis-server of the test's
 * own: killed, restarted empty, FLUSHALL'd, and cut off through the fault proxy while the
 * nodes run thousands of tickers and a per-second cron, added by a process without a
 * coordinator (its writes reach no signal: the nodes find them by claims and cron reloads).
 * Nothing may be lost or doubled and no cron second missed; every node that noticed the loss
 * logs its recovery; the index is rebuilt; and wake-ups are back.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { PG_URL, checkMysql, checkPostgres, checkRedis, mysqlScratch, postgresScratch } from "../helpers/databases.js";
import { CLEAN, formatReport, readEffects, summary } from "./checker.js";
import { runScenario, until, type FaultCluster } from "./cluster.js";
import { createRedisServer, type DedicatedRedis } from "./servers.js";
import { decodeSignal } from "../../src/store/sql/signal-bus.js";
import type { StoreSignal } from "../../src/store/contract.js";
import { encodeSignal } from "../../src/store/sql/signal-bus.js";
import type { LogEntry } from "./fault-node.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const redisUp = (await checkRedis()).available;
const ready = redisUp && (await checkMysql()).available;
const pgReady = redisUp && (await checkPostgres()).available;
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-redis-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PREFIX = "tqfault";

const lines = (node: { stderr: string }, text: string) => node.stderr.split(text).length - 1;
const LOST = "redis coordinator unavailable";
const RECOVERED = "redis coordinator recovered";

/** How many outages and recoveries each node has logged so far. */
const logged = (cluster: FaultCluster) => cluster.nodes.map((n) => [lines(n, LOST), lines(n, RECOVERED)] as const);

/**
 * The coordinators are back: each node that noticed the loss (all of them, when `everyNode`:
 * a kill or a cut closes every connection) logged its recovery; the index is ready again; and
 * wake-ups flow: a node announces due work (its cron planning, every second) on the channel.
 * After a FLUSHALL a node may never notice: another one rebuilt the index before it looked.
 */
async function recovered(
  cluster: FaultCluster,
  redis: DedicatedRedis,
  before: ReturnType<typeof logged>,
  everyNode: boolean,
): Promise<void> {
  const client = new Redis(redis.url);
  const subscriber = new Redis(redis.url);
  try {
    const announced = new Promise<StoreSignal>((resolve) =>
      subscriber.on("message", (_channel: string, payload: string) => {
        const decoded = decodeSignal(payload);
        if (decoded?.signal.type === "due") resolve(decoded.signal);
      }),
    );
    // After a restart without data or a FLUSHALL the index key was gone: "ready" is a rebuild.
    await until(
      "the due index is rebuilt",
      async () => /^ready:/.test((await client.get(`{${PREFIX}}:index`)) ?? ""),
      30_000,
    );
    await subscriber.subscribe(`{${PREFIX}}:signals`);
    // Announced by a node after the fault: its connection (through the proxy) is back.
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000).unref());
    expect((await Promise.race([announced, timeout]))?.type).toBe("due");
    await until(
      "every node that lost the redis coordinator logged its recovery",
      async () =>
        logged(cluster).every(([lost, back], i) => back > before[i]![1] || (!everyNode && lost === before[i]![0])),
      30_000,
    );
  } finally {
    client.disconnect();
    subscriber.disconnect();
  }
}

describe.runIf(ready)("three nodes on MariaDB + Redis while Redis fails", () => {
  async function scenario(
    name: string,
    inject: (redis: DedicatedRedis, proxy: TcpProxy, cluster: FaultCluster) => Promise<void>,
    everyNode = true,
  ): Promise<void> {
    const scratch = await mysqlScratch();
    const redis = await createRedisServer();
    const proxy = await startTcpProxy({ port: redis.port });
    try {
      const report = await runScenario({
        dir: join(root, name.replace(/\W+/g, "-")),
        leaseTimeoutMs: 2000,
        url: scratch.url,
        redis: { url: `redis://127.0.0.1:${proxy.port}`, prefix: PREFIX },
        tickers: 3000,
        inject: async (cluster) => {
          const before = logged(cluster);
          await cluster.fault(name, async () => {
            await inject(redis, proxy, cluster);
            await recovered(cluster, redis, before, everyNode);
          });
        },
      });
      console.log(`[redis] ${name}\n${formatReport(report)}`);
      expect(summary(report)).toEqual(CLEAN);
    } finally {
      await proxy.close();
      await redis.remove();
      await scratch.drop();
    }
  }

  it(
    "redis-server killed -9, then started again empty",
    () =>
      scenario("redis killed and restarted empty", async (redis) => {
        await redis.kill();
        await new Promise((resolve) => setTimeout(resolve, 1500)); // down for a while: nodes run on SQL
        await redis.start();
      }),
    180_000,
  );

  it(
    "FLUSHALL under load",
    () =>
      scenario(
        "FLUSHALL",
        async (redis) => {
          const client = new Redis(redis.url);
          try {
            await client.flushall();
          } finally {
            client.disconnect();
          }
        },
        false,
      ),
    180_000,
  );

  it(
    "network cut between the nodes and Redis",
    () =>
      scenario("network cut", async (_redis, proxy) => {
        proxy.refuse(true);
        proxy.cut();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        proxy.refuse(false);
      }),
    180_000,
  );
});

/** The coordinator's outage lines in a node's log: "start" when it lost Redis, "end" when it recovered. */
const outages = (entries: LogEntry[], edge: "start" | "end") =>
  entries.filter((e) => e.kind === "log" && e.fields.coordinator === "redis" && e.fields.outage === edge);

/**
 * Wake-ups are back: once the workload is done (no backlog to claim), nodes 0 and 2 pause;
 * right after node 1 starts a cron occurrence (the next is a second away), node 0 adds a
 * Probe job due now, and node 1 starts it, having heard its instant from Redis first. With no
 * LISTEN and an hour-long safety poll, that wake-up is the only news node 1 gets of the job.
 */
async function wakeUpCrossesRedis(cluster: FaultCluster, dir: string): Promise<void> {
  await cluster.untilFinal(1);
  for (const i of [0, 2]) expect(await cluster.command(i, "pause")).toBe("paused");
  try {
    const pausedAt = Date.now();
    const ticked = () =>
      readEffects(dir).some(
        (e) => e.function === "Tick" && e.event === "start" && e.nodeId === "node-1" && e.at > pausedAt,
      );
    await until("node 1 starts a cron occurrence", async () => ticked(), 10_000);
    const [word, id, at] = (await cluster.command(0, "probe")).split(" ");
    expect(word).toBe("probe");
    const started = () => readEffects(dir).find((e) => e.jobId === id && e.event === "start");
    await until("the probe starts", async () => started() !== undefined, 30_000);
    const start = started()!;
    expect(start.nodeId).toBe("node-1");
    const heard = cluster
      .logEntries(1)
      .find((e) => e.kind === "heard" && e.signal.type === "due" && e.signal.at === Number(at));
    expect(heard, "node 1 heard the probe's wake-up from Redis").toBeDefined();
    expect(heard!.at).toBeLessThanOrEqual(start.at);
  } finally {
    for (const i of [0, 2]) await cluster.command(i, "resume");
  }
}

describe.runIf(pgReady)("three nodes on PostgreSQL without LISTEN + Redis while Redis fails", () => {
  it("redis-server killed -9, then started again empty: one warning and one recovery per node, wake-ups back", async () => {
    const { schema, drop } = await postgresScratch();
    const redis = await createRedisServer();
    const dir = join(root, "postgres-redis-killed");
    const counts: { start: number; end: number }[] = [];
    try {
      const report = await runScenario({
        dir,
        leaseTimeoutMs: 2000,
        url: PG_URL,
        schema,
        listen: false,
        logs: true,
        redis: { url: redis.url, prefix: PREFIX, pollIntervalMs: 3_600_000 },
        tickers: 3000,
        // The producer has no coordinator: say what it added, as a writer with one would.
        seeded: async (cluster) => {
          const client = new Redis(redis.url);
          try {
            const at = await cluster.store.jobNextDue();
            await client.publish(`{${PREFIX}}:signals`, encodeSignal({ type: "cron" }, "producer"));
            if (at) await client.publish(`{${PREFIX}}:signals`, encodeSignal({ type: "due", at }, "producer"));
          } finally {
            client.disconnect();
          }
        },
        inject: async (cluster) => {
          const nodes = cluster.nodes.map((_, i) => i);
          const seen = (edge: "start" | "end") => nodes.every((i) => outages(cluster.logEntries(i), edge).length > 0);
          await cluster.fault("redis killed and restarted empty", async () => {
            await redis.kill();
            await until("every node noticed", async () => seen("start"), 30_000);
            await redis.start();
            await until("every node recovered", async () => seen("end"), 30_000);
          });
          for (const i of nodes) {
            const entries = cluster.logEntries(i);
            counts.push({ start: outages(entries, "start").length, end: outages(entries, "end").length });
          }
          await wakeUpCrossesRedis(cluster, dir);
        },
      });
      console.log(`[redis] postgres, killed and restarted empty\n${formatReport(report)}`);
      expect(summary(report)).toEqual(CLEAN);
      expect(counts).toEqual([1, 1, 1].map(() => ({ start: 1, end: 1 })));
    } finally {
      await redis.remove();
      await drop();
    }
  }, 180_000);
});
