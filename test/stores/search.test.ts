/**
 * The list's search index (migrations 6 and 7): built over the jobs a database already holds,
 * kept in step by inserts, edits, deletes and VACUUM, the same matches as the memory store's
 * scan, and on PostgreSQL a clean fallback to the scan when pg_trgm cannot be created.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { postgresStore } from "../../src/postgres.js";
import type { SqlContext } from "../../src/store/sql/context.js";
import { COPY_THRESHOLD } from "../../src/store/sql/postgres-job-insert.js";
import { postgresSearchCatchUp } from "../../src/store/sql/postgres-search.js";
import { sqliteStore } from "../../src/sqlite.js";
import type { NewJob, Store } from "../../src/store/contract.js";
import { memoryStore } from "../../src/store/memory.js";
import { at, newJob } from "../contract/fixtures.js";
import { PG_URL, checkPostgres, postgresScratch, uniqueName } from "../helpers/databases.js";

const dir = mkdtempSync(join(tmpdir(), "tickerq-search-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function jobs(): NewJob[] {
  return [
    newJob({ id: "inv-1", function: "GenerateInvoice", description: "Monthly invoice for ACME", executionTime: at(1) }),
    newJob({
      id: "mail-2",
      function: "SendEmail",
      description: "Welcome mail",
      request: JSON.stringify({ to: "Ann@Example.com", note: 'says "hi" 100%_off' }),
      executionTime: at(2),
    }),
    newJob({ id: "sync/3?x", function: "SyncInventory", description: null, executionTime: at(3) }),
    newJob({ id: "d-123456", function: "NightlyReport", description: "bench job 123456", executionTime: at(4) }),
    newJob({ id: "d-12345", function: "NightlyReport", description: "bench job 12345", executionTime: at(5) }),
  ];
}

/** Substrings of 3 to 6 characters of every searched text, in varied case, plus some that match nothing. */
function needles(list: readonly NewJob[]): string[] {
  const found = new Set<string>(["zzz", "invoice acme", "123456 ", "\u0001x\u0001", 'e"hi', "%_o", "!%_"]);
  for (const job of list) {
    for (const text of [job.id, job.function, job.description ?? "", job.request ?? ""]) {
      for (let i = 0; i + 3 <= text.length; i += 2) {
        const piece = text.slice(i, i + 3 + (i % 4));
        found.add(i % 3 === 0 ? piece.toUpperCase() : piece);
      }
    }
  }
  return [...found];
}

async function matches(store: Store, search: string, searchRequest: boolean): Promise<string[]> {
  return (await store.jobList({ search, searchRequest, order: "asc" })).items.map((job) => job.id);
}

/**
 * An edit moves a job's text, a delete removes it, an insert adds it (over jobs()). Returns the
 * job inserted again.
 */
async function editDeleteInsert(store: Store): Promise<NewJob> {
  const edited = await store.jobUpdateIdle({
    id: "inv-1",
    patch: { description: "Quarterly statement" },
    now: at(0),
  });
  expect(edited.ok).toBe(true);
  expect(await matches(store, "monthly", false)).toEqual([]);
  expect(await matches(store, "QUARTERLY", false)).toEqual(["inv-1"]);
  expect(await store.jobDeleteMany({ ids: ["mail-2", "d-12345"] })).toBe(2);
  expect(await matches(store, "welcome", false)).toEqual([]);
  expect(await matches(store, "bench job", false)).toEqual(["d-123456"]);
  const again = newJob({ id: "mail-2", function: "SendEmail", description: "Welcome back", executionTime: at(6) });
  await store.jobInsertMany({ jobs: [again] });
  expect(await matches(store, "welcome", false)).toEqual(["mail-2"]);
  return again;
}

/** Every needle finds what the memory store's plain scan finds. */
async function expectSameAsScan(store: Store, list: readonly NewJob[]): Promise<void> {
  const reference = memoryStore();
  await reference.jobInsertMany({ jobs: list });
  for (const needle of needles(list)) {
    for (const searchRequest of [false, true]) {
      expect({ needle, searchRequest, ids: await matches(store, needle, searchRequest) }).toEqual({
        needle,
        searchRequest,
        ids: await matches(reference, needle, searchRequest),
      });
    }
  }
}

describe("search index on SQLite", () => {
  it("indexes the jobs already there, follows edits, deletes and VACUUM, and finds what a scan finds", async () => {
    const filename = join(dir, "upgrade.db");
    const first = sqliteStore({ filename });
    await first.init();
    await first.close();
    // Version 5's tables with jobs written without the search triggers, then the version set back to 5.
    const raw = new Database(filename);
    raw.exec(`drop trigger tickerq_jobs_search_ins; drop trigger tickerq_jobs_search_del; drop trigger tickerq_jobs_search_upd;
      drop table tickerq_job_search; drop table tickerq_job_search_keys`);
    const list = jobs();
    const writer = sqliteStore({ filename, migrate: false });
    await writer.init();
    await writer.jobInsertMany({ jobs: list });
    await writer.close();
    // Migration 8's column goes too (its trigger first, which names it).
    raw.exec(`drop trigger tickerq_attempts_rollup; alter table tickerq_attempts drop column rolled_up;
      delete from tickerq_migrations where version >= 6`);

    const store = sqliteStore({ filename });
    await store.init();
    try {
      expect(raw.prepare("select count(*) as n from tickerq_job_search_keys").get()).toEqual({ n: list.length });
      await expectSameAsScan(store, list);
      expect(await matches(store, "ACME", false)).toEqual(["inv-1"]);
      expect(await matches(store, "ann@example", false)).toEqual([]);
      expect(await matches(store, "ann@example", true)).toEqual(["mail-2"]);

      const again = await editDeleteInsert(store);
      expect(raw.prepare("select count(*) as n from tickerq_job_search_keys").get()).toEqual({ n: 4 });

      // VACUUM may renumber the rowids of jobs; the index keys on its own INTEGER PRIMARY KEY.
      raw.exec("vacuum");
      const now = [{ ...list[0]!, description: "Quarterly statement" }, list[2]!, list[3]!, again];
      await expectSameAsScan(store, now);

      // The search is answered from the index: with the index emptied, a long needle finds
      // nothing while a short one (a scan) still does.
      raw.exec("delete from tickerq_job_search_keys");
      expect(await matches(store, "welcome", false)).toEqual([]);
      expect(await matches(store, "d-", false)).toEqual(["d-123456"]);
    } finally {
      await store.close();
      raw.close();
    }
  });
});

const server = await checkPostgres();

describe.skipIf(!server.available)("search index on PostgreSQL", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function query(url: string, text: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(text);
    } finally {
      await client.end();
    }
  }

  /** A store on a scratch schema of its own, both gone after the test. */
  async function scratchStore(poolSize: number): Promise<{ store: Store; schema: string }> {
    const scratch = await postgresScratch();
    cleanups.push(() => scratch.drop());
    const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize });
    cleanups.push(() => store.close());
    await store.init();
    return { store, schema: scratch.schema };
  }

  /**
   * A catch-up of up to `limit` texts on `store` whose transaction stays open, its row locks
   * held, while `meanwhile` runs; then it commits. Returns how many it moved.
   */
  async function catchUpHeldOpen(store: Store, limit: number, meanwhile: () => Promise<void>): Promise<number> {
    const ctx = (store as unknown as { ctx: SqlContext }).ctx;
    return ctx.dialect.db.transaction().execute(async (tx) => {
      const moved = await postgresSearchCatchUp({ ...ctx, dialect: { ...ctx.dialect, db: tx } }, limit);
      await meanwhile();
      return moved;
    });
  }

  it("builds the search table and its pg_trgm indexes over existing jobs, follows edits and deletes, plans the search on them, and finds what a scan finds", async () => {
    const scratch = await postgresScratch();
    cleanups.push(() => scratch.drop());
    const { schema } = scratch;
    const first = postgresStore({ connectionString: PG_URL, schema, poolSize: 2 });
    cleanups.push(() => first.close());
    await first.init();
    const list = jobs();
    await first.jobInsertMany({ jobs: list });
    // Back to version 5 with the jobs in it: no search table, no trigram index.
    await query(PG_URL, `drop function "${schema}".tickerq_jobs_search_fn() cascade`);
    await query(PG_URL, `drop table "${schema}".tickerq_job_search, "${schema}".tickerq_job_search_backlog`);
    await query(PG_URL, `alter table "${schema}".tickerq_attempts drop column rolled_up`);
    await query(PG_URL, `delete from "${schema}".tickerq_migrations where version >= 6`);
    const store = postgresStore({ connectionString: PG_URL, schema, poolSize: 2 });
    cleanups.push(() => store.close());
    await store.init();
    const indexes = await query(
      PG_URL,
      `select tablename, indexname, indexdef from pg_indexes where schemaname = '${schema}' and indexdef like '%gin%' order by 2`,
    );
    // On the search table, not on jobs, whose claims and completions would write them again.
    expect(indexes.rows.map((r: { tablename: string; indexname: string }) => [r.tablename, r.indexname])).toEqual([
      ["tickerq_job_search", "tickerq_job_search_request_ix"],
      ["tickerq_job_search", "tickerq_job_search_text_ix"],
    ]);
    expect(indexes.rows[0].indexdef).toContain("gin_trgm_ops");
    const count = async (table = "job_search") =>
      Number((await query(PG_URL, `select count(*) as n from "${schema}".tickerq_${table}`)).rows[0].n);
    expect(await count()).toBe(list.length);
    await expectSameAsScan(store, list);

    const again = await editDeleteInsert(store);
    // A batch large enough to stream in with COPY fires the same trigger.
    const bulk = Array.from({ length: COPY_THRESHOLD }, (_, i) =>
      newJob({
        id: `bulk-${i}`,
        function: "Bulk",
        request: JSON.stringify({ code: `zq${i}x` }),
        executionTime: at(20),
      }),
    );
    await store.jobInsertMany({ jobs: bulk });
    expect(await matches(store, "zq77x", true)).toEqual(["bulk-77"]);
    expect(await store.jobDeleteMany({ ids: bulk.map((job) => job.id) })).toBe(COPY_THRESHOLD);
    expect(await matches(store, "zq77x", true)).toEqual([]);
    // A claim leaves it.
    const [claimed] = await store.jobClaimDue({
      nodeId: "n1",
      now: at(10),
      until: at(10),
      limit: 1,
      longRunningLimit: 0,
      startLimit: 1,
    });
    expect(claimed?.id).toBe("inv-1");
    expect(await matches(store, "quarterly", false)).toEqual(["inv-1"]);
    // The job inserted again waits in the backlog (migration 9) until a catch-up moves it.
    expect([await count(), await count("job_search_backlog")]).toEqual([3, 1]);
    const now = [{ ...list[0]!, description: "Quarterly statement" }, list[2]!, list[3]!, again];
    await expectSameAsScan(store, now);
    expect(await store.searchCatchUp({ limit: 100 })).toBe(1);
    expect([await count(), await count("job_search_backlog")]).toEqual([4, 0]);
    await expectSameAsScan(store, now);

    // The list's own condition on the search table is answered from its indexes (plain scans off, as on a large table).
    const plan = await query(
      PG_URL,
      `set enable_seqscan = off; set enable_indexscan = off; explain select s.job_id from "${schema}".tickerq_job_search s
       where s.text like '%invoice%' escape '!' or s.request like '%invoice%' escape '!'`,
    );
    const text = JSON.stringify((plan as unknown as pg.QueryResult[])[2]!.rows);
    expect(text).toContain("tickerq_job_search_text_ix");
    expect(text).toContain("tickerq_job_search_request_ix");

    // The search is answered from that table: emptied, a long needle finds nothing while a short one (a scan of jobs) still does.
    await query(PG_URL, `delete from "${schema}".tickerq_job_search`);
    expect(await matches(store, "welcome", false)).toEqual([]);
    expect(await matches(store, "d-", false)).toEqual(["d-123456"]);
  });

  it("keeps new jobs' texts in a backlog that catch-ups move into the indexed table, finding the same jobs on either side", async () => {
    const { store, schema } = await scratchStore(2);
    const count = async (table: string) =>
      Number((await query(PG_URL, `select count(*) as n from "${schema}".tickerq_${table}`)).rows[0].n);
    const list = jobs();
    await store.jobInsertMany({ jobs: list });
    expect([await count("job_search"), await count("job_search_backlog")]).toEqual([0, list.length]);
    await expectSameAsScan(store, list);
    // Part moved, part waiting: still the same answers.
    expect(await store.searchCatchUp({ limit: 2 })).toBe(2);
    expect([await count("job_search"), await count("job_search_backlog")]).toEqual([2, 3]);
    await expectSameAsScan(store, list);
    // Edits and deletes reach a text wherever it is.
    await editDeleteInsert(store);
    let moved = 0;
    for (let batch = 2; batch === 2; moved += batch) batch = await store.searchCatchUp({ limit: 2 });
    expect(moved).toBe(list.length - 2 + 1 - 2 + 1); // the rest, minus the two deleted, plus the one inserted again
    expect(await count("job_search_backlog")).toBe(0);
    expect(await store.searchCatchUp({ limit: 2 })).toBe(0);
    const after = await store.jobList({ order: "asc", limit: 100 });
    await expectSameAsScan(
      store,
      after.items.map((job) => newJob({ ...job })),
    );

    // A second node's catch-up while a first one's is still open takes the rows the first did
    // not lock (SKIP LOCKED), at once; each row moves once.
    const other = postgresStore({ connectionString: PG_URL, schema, poolSize: 2 });
    cleanups.push(() => other.close());
    await store.jobInsertMany({
      jobs: Array.from({ length: 300 }, (_, i) => newJob({ id: `pair-${i}`, function: "Pair", executionTime: at(9) })),
    });
    let theirs = 0;
    const mine = await catchUpHeldOpen(store, 100, async () => {
      theirs = await other.searchCatchUp({ limit: 1000 });
    });
    expect([mine, theirs]).toEqual([100, 200]);
    expect(await store.searchCatchUp({ limit: 1000 })).toBe(0);
    expect([await count("job_search"), await count("job_search_backlog")]).toEqual([after.items.length + 300, 0]);
    expect((await store.jobList({ search: "pair-29", limit: 100 })).items.map((job) => job.id).sort()).toEqual(
      ["pair-29", ...Array.from({ length: 10 }, (_, i) => `pair-29${i}`)].sort(),
    );
  });

  it("loses no edit or delete that waits on a catch-up: the text ends in the index as the job has it, or goes with the job", async () => {
    const { store, schema } = await scratchStore(4);
    const [edited, deleted] = [newJob({ id: "race-edit", description: "before" }), newJob({ id: "race-delete" })];
    await store.jobInsertMany({ jobs: [edited, deleted] });
    // A catch-up whose transaction stays open (its locks held) while an edit and a delete of the
    // rows it moved arrive and wait; then it commits.
    let writes: Promise<unknown> | null = null;
    const moved = await catchUpHeldOpen(store, 10, async () => {
      writes = Promise.all([
        store.jobUpdateIdle({ id: edited.id, patch: { description: "after" }, now: at(0) }),
        store.jobDeleteMany({ ids: [deleted.id] }),
      ]);
      await vi.waitFor(
        async () => {
          const waiting = await query(
            PG_URL,
            `select count(*) as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%${schema}%'`,
          );
          expect(Number(waiting.rows[0].n)).toBe(2);
        },
        { timeout: 10_000, interval: 20 },
      );
    });
    expect(moved).toBe(2);
    await writes;
    const texts = await query(PG_URL, `select job_id, text from "${schema}".tickerq_job_search order by 1`);
    expect(texts.rows).toEqual([
      { job_id: "race-edit", text: `race-edit\u0001${edited.function.toLowerCase()}\u0001after` },
    ]);
    expect(await matches(store, "after", false)).toEqual(["race-edit"]);
    expect(await matches(store, "before", false)).toEqual([]);
  });

  it("falls back to the scan, with a warning, when pg_trgm cannot be created", async () => {
    const name = uniqueName("tq_trgm");
    await query(PG_URL, `create role ${name} login`);
    cleanups.push(async () => void (await query(PG_URL, `drop role if exists ${name}`)));
    await query(PG_URL, `create database ${name}`);
    cleanups.push(async () => void (await query(PG_URL, `drop database if exists ${name} with (force)`)));
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    // The role owns the schema named after it (its search_path) but has no CREATE on the database: a trusted extension is refused.
    await query(
      url.toString(),
      `create schema ${name} authorization ${name}; revoke create on database ${name} from public`,
    );
    url.username = name;
    const store = postgresStore({ connectionString: url.toString(), poolSize: 2 });
    cleanups.push(() => store.close());
    const warnings: string[] = [];
    store.setLogger!({ warn: (_fields, message) => warnings.push(message), error: () => {} });
    await store.init();
    expect(warnings).toEqual([expect.stringMatching(/^pg_trgm is not available \(permission denied.*scans instead/)]);
    const extensions = await query(PG_URL.replace(/\/[^/]*$/, `/${name}`), "select extname from pg_extension");
    expect(extensions.rows.map((r: { extname: string }) => r.extname)).not.toContain("pg_trgm");
    const list = jobs();
    await store.jobInsertMany({ jobs: list });
    await expectSameAsScan(store, list);
  });
});
