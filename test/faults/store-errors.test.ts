/**
 * The error contract of a store that cannot do its work: every call that cannot reach the
 * database, at any time after start, rejects with STORE_UNAVAILABLE naming host and port and
 * carrying the driver's error as `cause`; an ordinary SQL error stays what it is; after
 * close() every call rejects with STORE_CLOSED, on every store.
 */

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { TickerQError, memoryStore, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";
import { sqliteStore } from "../../src/sqlite.js";
import { at, newCronTicker, newJob, nextSignal, nodeInfo, occurrence } from "../contract/fixtures.js";
import {
  MYSQL_URL,
  PG_URL,
  checkMysql,
  checkPostgres,
  mysqlScratch,
  postgresScratch,
  uniqueName,
} from "../helpers/databases.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const pgServer = await checkPostgres();
const mysqlServer = await checkMysql();
const dir = mkdtempSync(join(tmpdir(), "tickerq-store-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Names of the functions an object has, own or inherited (read by descriptor: no getter runs). */
function functionNames(object: object): Set<string> {
  const names = new Set<string>();
  for (let o: object | null = object; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== "constructor" && typeof Object.getOwnPropertyDescriptor(o, name)?.value === "function") {
        names.add(name);
      }
    }
  }
  return names;
}

/** The contract's methods: those both the memory store and the SQL store have (so none is missed). */
function contractMethods(store: Store): string[] {
  const memory = functionNames(memoryStore());
  return [...functionNames(store)].filter((name) => memory.has(name)).sort();
}

/**
 * One params object carrying every field any method reads, each non-empty so that no method
 * returns early without asking the database (both the `ids` and the `leases` shapes, so a
 * method whose params change still gets what it reads).
 */
function everyParam(): Record<string, unknown> {
  const id = randomUUID();
  const cronTicker = newCronTicker();
  const attempt = {
    jobId: id,
    attempt: 0,
    status: "Done",
    nodeId: "faulty",
    startedAt: at(0),
    finishedAt: at(1),
    elapsedMs: 1000,
    exceptionMessage: null,
    exceptionDetails: null,
    superseded: false,
  };
  return {
    id,
    ids: [id],
    jobIds: [id],
    parentIds: [id],
    leases: [{ id, leaseToken: 1 }],
    span: "minute",
    from: at(0),
    to: at(1),
    jobId: id,
    nodeId: "faulty",
    now: at(0),
    at: at(0),
    until: at(1),
    before: at(0),
    limit: 10,
    staleBefore: at(0),
    deadNodeIds: ["gone"],
    deadNodes: [{ nodeId: "gone", heartbeatAt: null }],
    orphanedBefore: at(0),
    jobs: [newJob()],
    occurrences: [occurrence(cronTicker.id, at(0))],
    cronTicker,
    cronTickers: [newCronTicker()],
    cronTickerId: cronTicker.id,
    cronTickerIds: [cronTicker.id],
    function: "SendEmail",
    excludeId: id,
    completions: [
      {
        id,
        nodeId: "faulty",
        leaseToken: 1,
        status: "Done",
        retryAt: null,
        finishedAt: at(1),
        elapsedMs: 1000,
        exceptionMessage: null,
        exceptionDetails: null,
        attempt,
      },
    ],
    patch: { description: "changed" },
    info: nodeInfo(),
    paused: true,
  };
}

function call(store: Store, method: string): Promise<unknown> {
  const fn = (store as unknown as Record<string, (params: unknown) => Promise<unknown>>)[method]!;
  return fn.call(store, everyParam());
}

/** What a call settled as: its error, or a note that it resolved. */
async function outcome(pending: Promise<unknown>): Promise<unknown> {
  try {
    await pending;
    return "resolved";
  } catch (error) {
    return error;
  }
}

/**
 * Methods that stay out of the unreachable check: init() of a started store resolves with
 * the start that already happened, and signals are best effort (a lost broadcast only
 * delays other nodes to their poll), so publishing one does not wait on the database.
 * searchCatchUp has nothing to do, and asks nothing, where the insert indexes the search
 * itself (all but PostgreSQL).
 */
const NOT_A_ROUND_TRIP = new Set(["init", "signalPublish", "signalSubscribe", "close"]);
const roundTrip = (store: Store, name: string) =>
  !NOT_A_ROUND_TRIP.has(name) && (name !== "searchCatchUp" || store.name === "postgres");

async function expectUnavailable(store: Store, where: string, reason: string): Promise<void> {
  const methods = contractMethods(store).filter((name) => roundTrip(store, name));
  expect(methods.includes("searchCatchUp")).toBe(store.name === "postgres");
  expect(methods).toContain("jobClaimDue");
  const results = await Promise.all(methods.map(async (name) => [name, await outcome(call(store, name))] as const));
  for (const [name, error] of results) {
    expect([name, reason, error]).toMatchObject([
      name,
      reason,
      { name: "TickerQError", code: "STORE_UNAVAILABLE", message: expect.stringContaining(where) },
    ]);
    const cause = (error as Error).cause;
    expect([name, cause]).toMatchObject([name, expect.any(Error)]);
    expect(cause).not.toBeInstanceOf(TickerQError);
  }
}

async function expectClosed(store: Store): Promise<void> {
  await store.close();
  const methods = contractMethods(store).filter((name) => name !== "close" && name !== "signalSubscribe");
  expect(methods).toEqual(expect.arrayContaining(["init", "jobInsertMany", "jobClaimDue", "signalPublish"]));
  const results = await Promise.all(methods.map(async (name) => [name, await outcome(call(store, name))] as const));
  for (const [name, error] of results) {
    expect([name, error]).toMatchObject([name, { name: "TickerQError", code: "STORE_CLOSED" }]);
  }
  expect(() => store.signalSubscribe(() => {})).toThrow(expect.objectContaining({ code: "STORE_CLOSED" }));
  // Closing again is not an error: stop() paths may close twice.
  await expect(store.close()).resolves.toBeUndefined();
}

/**
 * A started store behind a proxy, then: the proxy accepts and drops every connection, lets
 * them through again, and finally stops listening. `dropTable` removes the jobs table behind
 * the store's back, for the ordinary-SQL-error case.
 */
async function unreachableMidLife(
  serverUrl: string,
  makeStore: (proxy: TcpProxy) => Store,
  dropTable: () => Promise<void>,
  missingTable: Record<string, unknown>,
): Promise<void> {
  const proxy = await startTcpProxy({ port: Number(new URL(serverUrl).port) });
  const s = makeStore(proxy);
  const where = `127.0.0.1:${proxy.port}`;
  try {
    await s.init();
    await s.jobInsertMany({ jobs: [newJob()] });

    proxy.refuse(true);
    proxy.cut();
    await expectUnavailable(s, where, "the server accepts and drops every connection");

    // Back: the same store works again, with no restart.
    proxy.refuse(false);
    expect(await s.jobList({ limit: 10 })).toMatchObject({ total: 1 });

    // An ordinary SQL error reaches the caller as the driver's own error.
    await dropTable();
    const error = await outcome(s.jobGet({ id: "nope" }));
    expect(error).not.toBeInstanceOf(TickerQError);
    expect(error).toMatchObject(missingTable);

    await proxy.close();
    await expectUnavailable(s, where, "nothing listens on the port");
  } finally {
    await proxy.close();
    await s.close();
  }
}

/** close() while the server has gone silent (a black hole, not a reset) still ends, in bounded time. */
async function closesWhileSilent(serverUrl: string, makeStore: (proxy: TcpProxy) => Store): Promise<void> {
  const proxy = await startTcpProxy({ port: Number(new URL(serverUrl).port) });
  const store = makeStore(proxy);
  try {
    await store.init();
    await store.jobList({ limit: 1 }); // a pooled connection, now idle
    proxy.blackhole(true);
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise((resolve) => (timer = setTimeout(resolve, 20_000, "hung")));
    expect(await Promise.race([store.close().then(() => "closed"), hung])).toBe("closed");
    clearTimeout(timer);
  } finally {
    await proxy.close();
  }
}

const pgStore = (proxy: TcpProxy, schema: string): Store =>
  postgresStore({
    connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/${new URL(PG_URL).pathname.slice(1)}`,
    schema,
    connectTimeoutMs: 2000,
    poolSize: 3,
  });

describe.runIf(pgServer.available)("postgres", () => {
  it("rejects every call with STORE_UNAVAILABLE while the server cannot be reached", async () => {
    const scratch = await postgresScratch();
    try {
      await unreachableMidLife(
        PG_URL,
        (proxy) => pgStore(proxy, scratch.schema),
        async () => {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          await client.query(`drop table "${scratch.schema}".tickerq_jobs cascade`);
          await client.end();
        },
        { code: "42P01" },
      );
    } finally {
      await scratch.drop();
    }
  });

  it("closes while the server is silent", async () => {
    const scratch = await postgresScratch();
    try {
      await closesWhileSilent(PG_URL, (proxy) => pgStore(proxy, scratch.schema));
    } finally {
      await scratch.drop();
    }
  }, 30_000);

  it("replaces a LISTEN connection that stops answering, and hears NOTIFY again", async () => {
    const scratch = await postgresScratch();
    const proxy = await startTcpProxy({ port: Number(new URL(PG_URL).port) });
    const name = uniqueName("tq");
    const listening = postgresStore({
      connectionString: `postgres://postgres@127.0.0.1:${proxy.port}/${new URL(PG_URL).pathname.slice(1)}`,
      schema: scratch.schema,
      applicationName: name,
      connectTimeoutMs: 1000,
      poolSize: 1,
    });
    const other = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize: 1 });
    const admin = new pg.Client({ connectionString: PG_URL });
    const listenPids = async () =>
      (
        await admin.query<{ pid: number; query: string }>(
          "select pid, query from pg_stat_activity where application_name = $1",
          [`${name}:listen`],
        )
      ).rows;
    try {
      await admin.connect();
      await listening.init();
      await other.init();
      const [first] = await listenPids();
      expect(first).toBeDefined();
      // Silence, not a reset: nothing tells the client its connection is gone but an unanswered
      // select 1. Its replacement is a new connection to the proxy (which holds it while silent).
      const acceptedBefore = proxy.accepted;
      proxy.blackhole(true);
      for (const deadline = Date.now() + 30_000; proxy.accepted === acceptedBefore;) {
        if (Date.now() > deadline) throw new Error("the silent LISTEN connection was never replaced");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      proxy.blackhole(false);
      for (let deadline = Date.now() + 30_000; ;) {
        const backends = await listenPids();
        if (backends.every((b) => b.pid !== first!.pid) && backends.some((b) => /^listen/i.test(b.query))) break;
        if (Date.now() > deadline) throw new Error(`no new LISTEN connection: ${JSON.stringify(backends)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // A job inserted in a caller's transaction elsewhere: its NOTIFY is the only way this store hears of it.
      const job = newJob({ executionTime: at(42) });
      const heard = nextSignal(listening, (signal) =>
        signal.type === "due" && signal.at.getTime() === job.executionTime!.getTime() ? true : undefined,
      );
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query("begin");
      await other.jobInsertMany({ jobs: [job], tx: client });
      await client.query("commit");
      await client.end();
      await expect(heard).resolves.toBe(true);
    } finally {
      await listening.close();
      await other.close();
      await proxy.close();
      await admin.end();
      await scratch.drop();
    }
  }, 60_000);

  it("rejects every call with STORE_CLOSED after close()", async () => {
    const scratch = await postgresScratch();
    try {
      const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize: 2 });
      await store.init();
      await expectClosed(store);
    } finally {
      await scratch.drop();
    }
  });
});

describe.runIf(mysqlServer.available)("mysql", () => {
  it("rejects every call with STORE_UNAVAILABLE while the server cannot be reached", async () => {
    const scratch = await mysqlScratch();
    try {
      await unreachableMidLife(
        MYSQL_URL,
        (p) => mysqlStore({ uri: `mysql://root@127.0.0.1:${p.port}/${scratch.database}`, connectTimeoutMs: 2000 }),
        async () => {
          const admin = await mysql.createConnection({ uri: scratch.url });
          await admin.query("drop table tickerq_jobs");
          await admin.end();
        },
        { errno: 1146 },
      );
    } finally {
      await scratch.drop();
    }
  });

  it("closes while the server is silent", async () => {
    const scratch = await mysqlScratch();
    try {
      await closesWhileSilent(MYSQL_URL, (p) =>
        mysqlStore({ uri: `mysql://root@127.0.0.1:${p.port}/${scratch.database}`, connectTimeoutMs: 2000 }),
      );
    } finally {
      await scratch.drop();
    }
  }, 30_000);

  it("rejects every call with STORE_CLOSED after close()", async () => {
    const scratch = await mysqlScratch();
    try {
      const store = mysqlStore({ uri: scratch.url, poolSize: 2 });
      await store.init();
      await expectClosed(store);
    } finally {
      await scratch.drop();
    }
  });
});

describe("sqlite", () => {
  it("rejects every call with STORE_CLOSED after close()", async () => {
    const store = sqliteStore({ filename: join(dir, "closed.db") });
    await store.init();
    await expectClosed(store);
  });
});

describe("memory", () => {
  it("rejects every call with STORE_CLOSED after close()", async () => {
    const store = memoryStore();
    await store.init();
    await expectClosed(store);
  });
});
