/** SQLite specifics: migrations and their refusals, several store instances on one file, the CLI. */

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it, vi } from "vitest";
import { runCli } from "../../src/cli.js";
import { sqliteStore } from "../../src/sqlite.js";
import { at, newJob, nextSignal } from "../contract/fixtures.js";
import { FOREIGN_ATTEMPT, completeRollupWorkload, rollupComparison } from "../helpers/rollup.js";

const dir = mkdtempSync(join(tmpdir(), "tickerq-sqlite-"));
let counter = 0;
const file = () => join(dir, `db-${++counter}.db`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sqlite store", () => {
  it("creates the schema in WAL mode and records the migration", async () => {
    const filename = file();
    const store = sqliteStore({ filename });
    await store.init();
    await store.close();
    const db = new Database(filename, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.prepare("select version, name from tickerq_migrations").all()).toEqual([
      { version: 1, name: "initial schema" },
      { version: 2, name: "partial indexes" },
      { version: 3, name: "lease fencing tokens" },
      { version: 4, name: "job metadata" },
      { version: 5, name: "aggregates: job counts and the run rollup" },
      { version: 6, name: "search index" },
      { version: 7, name: "search table (PostgreSQL)" },
      { version: 8, name: "run rollup: cheaper triggers" },
      { version: 9, name: "search backlog (PostgreSQL)" },
    ]);
    const definition = (name: string) =>
      (db.prepare("select sql from sqlite_master where name = ?").get(name) as { sql: string }).sql;
    expect(definition("tickerq_jobs_claim_ix")).toMatch(
      /\(priority_rank, execution_time, id\)\s+where status = 'Idle'$/,
    );
    expect(definition("tickerq_jobs_parent_ix")).toMatch(/\(parent_id\) where parent_id is not null$/);
    const plan = db
      .prepare(
        `explain query plan select * from tickerq_jobs where "status" = 'Idle' and "priority_rank" = ?
         and "execution_time" <= ? order by "execution_time", "id" limit ?`,
      )
      .all(1, 0, 10);
    expect(JSON.stringify(plan)).toContain("tickerq_jobs_claim_ix");
    const indexes = db
      .prepare("select name from sqlite_master where type = 'index' and tbl_name = 'tickerq_jobs'")
      .all();
    expect(indexes.map((i) => (i as { name: string }).name)).toEqual(
      expect.arrayContaining([
        "tickerq_jobs_due_ix",
        "tickerq_jobs_claim_ix",
        "tickerq_jobs_parent_ix",
        "tickerq_jobs_updated_ix",
      ]),
    );
    db.close();
  });

  it("appends the run rollup migration 5's trigger would: a completion batch's in one statement, other writers' by the trigger (migration 8)", async () => {
    const filename = file();
    const store = sqliteStore({ filename });
    await store.init();
    expect(await completeRollupWorkload(store)).toBe(225);
    await store.close();
    const db = new Database(filename);
    db.exec(FOREIGN_ATTEMPT);
    const { expected, actual } = rollupComparison("sqlite");
    const rows = { expected: db.prepare(expected).all(), actual: db.prepare(actual).all() };
    db.close();
    expect(rows.expected.length).toBeGreaterThan(20);
    expect(rows.actual).toEqual(rows.expected);
  });

  it("refuses a schema newer than the code with SCHEMA_TOO_NEW", async () => {
    const filename = file();
    const first = sqliteStore({ filename });
    await first.init();
    await first.close();
    const db = new Database(filename);
    db.prepare("insert into tickerq_migrations (version, name, applied_at) values (999, 'from the future', 0)").run();
    db.close();
    for (const migrate of [true, false]) {
      const store = sqliteStore({ filename, migrate });
      await expect(store.init()).rejects.toMatchObject({
        code: "SCHEMA_TOO_NEW",
        message: expect.stringContaining("999"),
      });
      await store.close();
    }
  });

  it("with migrate: false, refuses missing tables and runs on migrated ones", async () => {
    const filename = file();
    const bare = sqliteStore({ filename, migrate: false });
    await expect(bare.init()).rejects.toMatchObject({
      code: "INVALID_STATE",
      message: expect.stringContaining("tickerq migrate"),
    });
    await bare.close();
    expect(await runCli(["migrate", "--db", `sqlite:${filename}`], { out: () => {}, err: () => {} })).toBe(0);
    const store = sqliteStore({ filename, migrate: false });
    await store.init();
    await store.jobInsertMany({ jobs: [newJob({ id: "j" })] });
    expect(await store.jobGet({ id: "j" })).not.toBeNull();
    await store.close();
  });

  it("checkpoints the WAL from a thread of its own, not on the node's event loop", async () => {
    const filename = file();
    const store = sqliteStore({ filename });
    await store.init();
    const before = statSync(filename).size;
    await store.jobInsertMany({ jobs: Array.from({ length: 2000 }, (_, i) => newJob({ id: `j${i}` })) });
    // The insert went to the WAL only (the connection's automatic checkpoint is off); the
    // thread copies it into the database file soon after.
    await vi.waitFor(() => expect(statSync(filename).size).toBeGreaterThan(before), { timeout: 5000, interval: 50 });
    await store.close();
  });

  it("rejects a table prefix that is not a plain identifier", () => {
    expect(() => sqliteStore({ filename: file(), tablePrefix: "x; drop table y" })).toThrow(/tablePrefix/);
  });

  it("keeps two prefixes in one file apart", async () => {
    const filename = file();
    const a = sqliteStore({ filename, tablePrefix: "a_" });
    const b = sqliteStore({ filename, tablePrefix: "b_" });
    await Promise.all([a.init(), b.init()]);
    await a.jobInsertMany({ jobs: [newJob({ id: "only-in-a" })] });
    expect(await b.jobGet({ id: "only-in-a" })).toBeNull();
    await Promise.all([a.close(), b.close()]);
  });

  it("lets several store instances share a file: one migrates, all claim without overlap, signals cross", async () => {
    const filename = file();
    const stores = [1, 2, 3].map(() => sqliteStore({ filename }));
    await Promise.all(stores.map((s) => s.init()));
    const [a, b, c] = stores as [
      ReturnType<typeof sqliteStore>,
      ReturnType<typeof sqliteStore>,
      ReturnType<typeof sqliteStore>,
    ];
    const woke = nextSignal(b, (s) => (s.type === "due" ? s.at : undefined));
    await a.jobInsertMany({
      jobs: Array.from({ length: 100 }, (_, i) => newJob({ id: `j${i}`, executionTime: at(i / 100) })),
    });
    expect(await woke).toEqual(at(0));
    const claims = await Promise.all(
      stores.map((s, i) =>
        s.jobClaimDue({ nodeId: `n${i}`, now: at(5), until: at(5), limit: 40, longRunningLimit: 0 }),
      ),
    );
    const ids = claims.flat().map((j) => j.id);
    expect(new Set(ids).size).toBe(100);
    await c.close();
    await Promise.all([a.close(), b.close()]);
  });
});
