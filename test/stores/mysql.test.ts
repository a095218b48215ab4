/** MySQL/MariaDB specifics: caller transactions on mysql2 connections, pools, migrations under a named lock. */

import { connect, createServer, type Server } from "node:net";
import mysql from "mysql2/promise";
import { afterEach, describe, expect, it } from "vitest";
import { sql } from "kysely";
import { mysqlStore } from "../../src/mysql.js";
import type { SqlContext } from "../../src/store/sql/context.js";
import { MIGRATIONS } from "../../src/store/sql/migrations/index.js";
import type { SqlStoreHandle } from "../../src/sqlite.js";
import { at, completion, newJob } from "../contract/fixtures.js";
import { checkMysql, mysqlScratch } from "../helpers/databases.js";
import { FOREIGN_ATTEMPT, completeRollupWorkload, rollupComparison } from "../helpers/rollup.js";

const server = await checkMysql();

/**
 * A proxy to MariaDB that counts the COM_QUERY packets clients send: one per round trip of a
 * text query, however many statements it carries (the MySQL protocol frames each packet with
 * a 3-byte length and a sequence byte; a command packet has sequence 0 and its type first).
 */
async function queryCounter(
  target: string,
): Promise<{ port: number; queries: number; texts: string[]; close(): Promise<void> }> {
  const counter = { port: 0, queries: 0, texts: [] as string[], close: async () => {} };
  const proxy: Server = createServer((client) => {
    const upstream = connect(Number(new URL(target).port || 3306), new URL(target).hostname);
    let pending = Buffer.alloc(0);
    client.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5) {
        const length = pending.readUIntLE(0, 3);
        if (pending.length < 4 + length) break;
        if (pending[3] === 0 && pending[4] === 0x03) {
          counter.queries++;
          counter.texts.push(pending.subarray(5, Math.min(4 + length, 205)).toString("latin1"));
        }
        pending = pending.subarray(4 + length);
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => client.write(chunk));
    const end = () => (client.destroy(), upstream.destroy());
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  counter.port = (proxy.address() as { port: number }).port;
  counter.close = () => new Promise((resolve) => proxy.close(() => resolve()));
  return counter;
}

const claimAll = (nodeId: string) => ({
  nodeId,
  now: at(0),
  until: at(0),
  limit: 10,
  longRunningLimit: 0,
  startLimit: 10,
});

describe.skipIf(!server.available)("mysql store", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function fresh(): Promise<{ store: SqlStoreHandle; url: string }> {
    const scratch = await mysqlScratch();
    const store = mysqlStore({ uri: scratch.url, poolSize: 3 });
    cleanups.push(
      () => scratch.drop(),
      () => store.close(),
    );
    await store.init();
    return { store, url: scratch.url };
  }

  /** A fresh database reached through a query counter: its URL through the counter, and the counter. */
  async function counted() {
    const scratch = await mysqlScratch();
    const counter = await queryCounter(scratch.url);
    cleanups.push(
      () => scratch.drop(),
      () => counter.close(),
    );
    const url = new URL(scratch.url);
    url.host = `127.0.0.1:${counter.port}`;
    return { url: url.toString(), counter };
  }

  /** A store on its own one-connection pool, reaching a fresh database through a query counter. */
  async function countedStore() {
    const { url, counter } = await counted();
    const store = mysqlStore({ uri: url, poolSize: 1 });
    cleanups.push(() => store.close());
    await store.init();
    return { store, counter };
  }

  it("fails fast with STORE_UNAVAILABLE naming host and port", async () => {
    const store = mysqlStore({ uri: "mysql://root@127.0.0.1:1/test", connectTimeoutMs: 2000 });
    await expect(store.init()).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
      message: expect.stringContaining("127.0.0.1:1"),
    });
    await store.close();
  });

  it("commits or rolls back an insert with the caller's mysql2 transaction", async () => {
    const { store, url } = await fresh();
    const conn = await mysql.createConnection({ uri: url });
    cleanups.push(() => conn.end());
    await conn.query("create table orders (id varchar(32) primary key)");
    await conn.beginTransaction();
    await conn.query("insert into orders values ('o-1')");
    await store.jobInsertMany({ jobs: [newJob({ id: "rolled-back" })], tx: conn });
    await conn.rollback();
    expect(await store.jobGet({ id: "rolled-back" })).toBeNull();

    await conn.beginTransaction();
    await conn.query("insert into orders values ('o-2')");
    await store.jobInsertMany({ jobs: [newJob({ id: "committed" })], tx: conn });
    await conn.commit();
    expect(await store.jobGet({ id: "committed" })).not.toBeNull();
  });

  it("uses the caller's pool without ending it, and migrates once when nodes start together", async () => {
    const scratch = await mysqlScratch();
    const pool = mysql.createPool({ uri: scratch.url, connectionLimit: 4 });
    cleanups.push(
      () => scratch.drop(),
      () => pool.end(),
    );
    const stores = [1, 2, 3].map(() => mysqlStore({ pool }));
    await Promise.all(stores.map((s) => s.init()));
    const [rows] = await pool.query("select version from tickerq_migrations order by version");
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    await stores[0]?.jobInsertMany({ jobs: [newJob({ id: "Shared" }), newJob({ id: "shared" })] });
    expect((await stores[2]?.jobList({}))?.total).toBe(2);
    await Promise.all(stores.map((s) => s.close()));
    const [ok] = await pool.query("select 1 as ok");
    expect(ok).toEqual([{ ok: 1 }]);
  });

  it("runs its write transactions at READ COMMITTED, on its own pool (session setting) and on a caller's", async () => {
    const { store, url } = await fresh();
    const other = await mysql.createConnection({ uri: url });
    cleanups.push(() => other.end());
    await other.query("create table iso (id int primary key, v int)");
    await other.query("insert into iso values (1, 0)");
    /** What a write transaction reads again after another connection committed a change meanwhile. */
    const rereads = async (handle: SqlStoreHandle, value: number) => {
      const { dialect } = (handle as unknown as { ctx: SqlContext }).ctx;
      return dialect.writeTx(async (tx) => {
        await sql`select v from iso where id = 1`.execute(tx);
        await other.query("update iso set v = ? where id = 1", [value]);
        const { rows } = await sql<{ v: number }>`select v from iso where id = 1`.execute(tx);
        return rows[0]?.v;
      });
    };
    expect(await rereads(store, 1)).toBe(1); // REPEATABLE READ would still read 0
    const [own] = await mysql.createConnection({ uri: url }).then(async (c) => {
      const result = await c.query("select @@tx_isolation as level");
      await c.end();
      return result;
    });
    expect(own).toEqual([{ level: "REPEATABLE-READ" }]); // the server's default, which ours override
    const pool = mysql.createPool({ uri: url, connectionLimit: 2 });
    const theirs = mysqlStore({ pool });
    cleanups.push(
      () => pool.end(),
      () => theirs.close(),
    );
    await theirs.init();
    expect(await rereads(theirs, 2)).toBe(2);
    // The caller's connections keep their own session setting outside tickerq's transactions.
    const [rows] = await pool.query("select @@tx_isolation as level");
    expect(rows).toEqual([{ level: "REPEATABLE-READ" }]);
  });

  it("claims in two round trips on its own pool: BEGIN with the candidates, the UPDATE and its children with COMMIT", async () => {
    const { store, counter } = await countedStore();
    const parent = newJob({ id: "parent" });
    const child = newJob({ id: "child", parentId: "parent", runCondition: "InProgress", executionTime: null });
    await store.jobInsertMany({ jobs: [parent, child, newJob({ id: "other" })] });
    const before = counter.queries;
    const claimed = await store.jobClaimDue(claimAll("n"));
    expect(counter.queries - before).toBe(2);
    expect(claimed.map((job) => [job.id, job.status, job.leaseToken])).toEqual([
      ["other", "InProgress", 1],
      ["parent", "InProgress", 1],
    ]);
    // The child's release travelled with the UPDATE and committed with it.
    expect((await store.jobGet({ id: "child" }))?.executionTime).toEqual(at(0));
    expect((await store.jobClaimDue(claimAll("n"))).map((job) => job.id)).toEqual(["child"]);
    const nothing = counter.queries;
    expect(await store.jobClaimDue(claimAll("n"))).toEqual([]);
    expect(counter.queries - nothing).toBe(2);
  });

  it("pipelines on a caller's pool created with multipleStatements, each transaction at READ COMMITTED, the session left as it was", async () => {
    const { url, counter } = await counted();
    const pool = mysql.createPool({ uri: url, connectionLimit: 1, multipleStatements: true });
    const store = mysqlStore({ pool });
    cleanups.push(
      () => pool.end(),
      () => store.close(),
    );
    await store.init();
    await store.jobInsertMany({ jobs: [newJob({ id: "theirs" })] });
    const before = counter.queries;
    expect((await store.jobClaimDue(claimAll("n"))).map((job) => job.id)).toEqual(["theirs"]);
    expect(counter.queries - before).toBe(2);
    expect(counter.texts[before]).toMatch(/^set transaction isolation level read committed;\s*start transaction;/);
    // SET TRANSACTION applies to the next transaction only: the session keeps the server's default.
    const [rows] = await pool.query("select @@tx_isolation as level");
    expect(rows).toEqual([{ level: "REPEATABLE-READ" }]);
  });

  it("completes a batch in two round trips, children released and a stale run kept; a skipped subtree adds one per level; starts in two", async () => {
    const { store, counter } = await countedStore();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "ok" }),
        newJob({ id: "retry", retries: 1 }),
        newJob({ id: "stale" }),
        newJob({ id: "fails" }),
        newJob({ id: "ok-child", parentId: "ok", runCondition: "OnSuccess", executionTime: null }),
        newJob({ id: "fails-child", parentId: "fails", runCondition: "OnSuccess", executionTime: null }),
        newJob({ id: "fails-grandchild", parentId: "fails-child", runCondition: "OnSuccess", executionTime: null }),
      ],
    });
    expect(await store.jobClaimDue(claimAll("n"))).toHaveLength(4);
    const end = at(1);
    let before = counter.queries;
    const { superseded } = await store.jobCompleteMany({
      completions: [
        completion("ok", "n", "Done", end),
        completion("retry", "n", "Idle", end, { retryAt: at(60), error: "again" }),
        completion("stale", "n", "Done", end, { leaseToken: 7 }),
      ],
    });
    expect(counter.queries - before).toBe(2);
    expect(superseded).toEqual(["stale"]);
    expect((await store.jobGet({ id: "ok-child" }))?.executionTime).toEqual(end);
    expect(await store.jobGet({ id: "retry" })).toMatchObject({ status: "Idle", executionTime: at(60), retryCount: 1 });
    expect((await store.attemptList({ jobId: "stale" })).map((a) => a.superseded)).toEqual([true]);
    before = counter.queries;
    await store.jobCompleteMany({ completions: [completion("fails", "n", "Failed", end, { error: "no" })] });
    // The rows and waiting children; the writes; each level of the skipped subtree; the commit.
    expect(counter.queries - before).toBe(5);
    expect((await store.jobGet({ id: "fails-grandchild" }))?.status).toBe("Skipped");
    // A start of jobs claimed ahead: the held rows; the UPDATE with the children it releases and COMMIT.
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "ahead", executionTime: at(5) }),
        newJob({ id: "ahead-child", parentId: "ahead", runCondition: "InProgress", executionTime: null }),
      ],
    });
    const claimedAhead = await store.jobClaimDue({ ...claimAll("n"), until: at(5), startLimit: 0 });
    const ahead = claimedAhead.find((job) => job.id === "ahead");
    before = counter.queries;
    expect(
      await store.jobStartMany({ leases: [ahead!, { id: "fails", leaseToken: 1 }], nodeId: "n", at: at(4) }),
    ).toEqual(["ahead"]);
    expect(counter.queries - before).toBe(2);
    expect(await store.jobGet({ id: "ahead" })).toMatchObject({ status: "InProgress", executedAt: at(5) });
    expect((await store.jobGet({ id: "ahead-child" }))?.executionTime).toEqual(at(4));
  });

  it("appends the run rollup migration 5's trigger would: a completion batch's with its writes, other writers' by the trigger (migration 8)", async () => {
    const { store, url } = await fresh();
    expect(await completeRollupWorkload(store)).toBe(225);
    const conn = await mysql.createConnection({ uri: url });
    cleanups.push(() => conn.end());
    await conn.query(FOREIGN_ATTEMPT);
    const { expected, actual } = rollupComparison("mysql");
    const [want] = await conn.query(expected);
    const [got] = await conn.query(actual);
    expect((want as unknown[]).length).toBeGreaterThan(20);
    expect(got).toEqual(want);
  });

  it("rolls a failed pipelined claim back: its rows are not left locked, and the connection serves the next claim", async () => {
    const { store, url } = await fresh();
    const other = mysqlStore({ uri: url, poolSize: 1 });
    const conn = await mysql.createConnection({ uri: url });
    cleanups.push(
      () => other.close(),
      () => conn.end(),
    );
    await store.jobInsertMany({ jobs: [newJob({ id: "poison" })] });
    await conn.query(`create trigger refuse_claim before update on tickerq_jobs for each row
      if new.id = 'poison' and new.lock_holder = 'a' then signal sqlstate '45000' set message_text = 'refused'; end if`);
    await expect(store.jobClaimDue(claimAll("a"))).rejects.toThrow(/refused/);
    // Held locks (an open transaction returned to the pool) would make SKIP LOCKED pass it over.
    expect((await other.jobClaimDue(claimAll("b"))).map((job) => job.id)).toEqual(["poison"]);
    await conn.query("drop trigger refuse_claim");
    expect(await store.jobClaimDue(claimAll("a"))).toEqual([]);
    expect(await store.jobGet({ id: "poison" })).toMatchObject({ lockHolder: "b", status: "InProgress" });
  });

  it("refuses a schema newer than the code with SCHEMA_TOO_NEW", async () => {
    const { url } = await fresh();
    const conn = await mysql.createConnection({ uri: url });
    cleanups.push(() => conn.end());
    await conn.query("insert into tickerq_migrations values (42, 'future', 0)");
    const store = mysqlStore({ uri: url });
    cleanups.push(() => store.close());
    await expect(store.init()).rejects.toMatchObject({ code: "SCHEMA_TOO_NEW" });
  });
});
