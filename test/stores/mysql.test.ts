/** MySQL/MariaDB specifics: caller transactions on mysql2 connections, pools, migrations under a named lock. */

import mysql from "mysql2/promise";
import { afterEach, describe, expect, it } from "vitest";
import { mysqlStore } from "../../src/mysql.js";
import { MIGRATIONS } from "../../src/store/sql/migrations/index.js";
import type { SqlStoreHandle } from "../../src/sqlite.js";
import { newJob } from "../contract/fixtures.js";
import { checkMysql, mysqlScratch } from "../helpers/databases.js";

const server = await checkMysql();

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
