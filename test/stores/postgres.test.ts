/** PostgreSQL specifics: caller transactions, NOTIFY across connections and its reconnect, pools, migrations. */

import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createTickerQ, defineFunction } from "../../src/index.js";
import { postgresStore } from "../../src/postgres.js";
import type { SqlContext } from "../../src/store/sql/context.js";
import { BIN_COLUMNS, rollupSelect } from "../../src/store/sql/migrations/005-aggregates.js";
import { LATEST_VERSION, MIGRATIONS } from "../../src/store/sql/migrations/index.js";
import { STANDING_CONNECTIONS } from "../../src/store/sql/postgres-dialect.js";
import type { SqlStoreHandle } from "../../src/sqlite.js";
import { settle } from "../../src/testing/index.js";
import { at, newJob, nextSignal } from "../contract/fixtures.js";
import { startTcpProxy } from "../faults/tcp-proxy.js";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";

const server = await checkPostgres();

describe.skipIf(!server.available)("postgres store", () => {
  let pool: pg.Pool;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  });
  afterAll(() => pool.end());
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function fresh(options: { schema?: string } = {}): Promise<{ store: SqlStoreHandle; schema: string }> {
    const scratch = await postgresScratch();
    const schema = options.schema ?? scratch.schema;
    const store = postgresStore({ connectionString: PG_URL, schema, poolSize: 3 });
    cleanups.push(
      () => scratch.drop(),
      () => store.close(),
    );
    await store.init();
    return { store, schema };
  }

  it("runs a job whose stored retry intervals and metadata were edited into text that is not JSON", async () => {
    const { store, schema } = await fresh();
    const ran: string[] = [];
    const work = defineFunction("Work", { retries: 1, retryIntervals: [5] }, async (ctx) => void ran.push(ctx.id));
    const tq = createTickerQ({ functions: [work], store, closeStoreOnStop: false });
    const [broken, fine] = await tq.timeTickers.addMany([{ function: "Work" }, { function: "Work" }]);
    // A hand edit: a row that failed to parse would fail every claim that returned it, on every node.
    await pool.query(
      `update "${schema}".tickerq_jobs set retry_intervals = '[5,', metadata = '{"a": 1}' where id = $1`,
      [broken!.id],
    );
    await tq.start();
    await settle(tq);
    expect(ran.sort()).toEqual([broken!.id, fine!.id].sort());
    expect(await tq.timeTickers.get(broken!.id)).toMatchObject({
      status: "DueDone",
      retryIntervals: null,
      metadata: null,
    });
    await tq.stop();
  });

  it("fails fast with STORE_UNAVAILABLE naming host and port", async () => {
    const store = postgresStore({ connectionString: "postgres://postgres@127.0.0.1:1/test", connectTimeoutMs: 2000 });
    await expect(store.init()).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
      message: expect.stringContaining("127.0.0.1:1"),
    });
    await store.close();
  });

  it("commits or rolls back an insert with the caller's pg transaction, and notifies on commit", async () => {
    const { store, schema } = await fresh();
    const client = await pool.connect();
    try {
      await client.query(`create table "${schema}".orders (id text primary key)`);
      await client.query("begin");
      await client.query(`insert into "${schema}".orders values ('o-1')`);
      await store.jobInsertMany({ jobs: [newJob({ id: "rolled-back" })], tx: client });
      await client.query("rollback");
      expect(await store.jobGet({ id: "rolled-back" })).toBeNull();

      const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
      await client.query("begin");
      await client.query(`insert into "${schema}".orders values ('o-2')`);
      await store.jobInsertMany({ jobs: [newJob({ id: "committed", executionTime: at(7) })], tx: client });
      expect(await store.jobGet({ id: "committed" })).toBeNull();
      await client.query("commit");
      expect(await due).toEqual(at(7));
      expect(await store.jobGet({ id: "committed" })).not.toBeNull();
    } finally {
      client.release();
    }
  });

  it("streams a large batch with COPY inside the caller's pg transaction: rolled back with it, or committed and notified", async () => {
    const { store, schema } = await fresh();
    const batch = (tag: string, from: number) =>
      Array.from({ length: 150 }, (_, i) => newJob({ id: `${tag}-${i}`, executionTime: at(from + i) }));
    const client = await pool.connect();
    try {
      await client.query("begin");
      await store.jobInsertMany({ jobs: batch("rolled-back", 0), tx: client });
      // The rows are the caller's transaction's: visible on its client, not elsewhere.
      expect((await client.query(`select count(*)::int as n from "${schema}".tickerq_jobs`)).rows[0].n).toBe(150);
      expect(await store.jobGet({ id: "rolled-back-0" })).toBeNull();
      await client.query("rollback");
      expect((await store.jobList({ limit: 1 })).total).toBe(0);

      const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
      await client.query("begin");
      await store.jobInsertMany({ jobs: batch("committed", 3), tx: client });
      await client.query("commit");
      expect(await due).toEqual(at(3));
      expect((await store.jobList({ limit: 1 })).total).toBe(150);
      expect(await store.jobGet({ id: "committed-149" })).toMatchObject({ status: "Idle", executionTime: at(152) });
    } finally {
      client.release();
    }
  });

  it("accepts a Kysely transaction as the caller's transaction", async () => {
    const { store } = await fresh();
    const db = new Kysely<any>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: PG_URL, max: 2 }) }),
    });
    cleanups.push(() => db.destroy());
    await expect(
      db.transaction().execute(async (trx) => {
        await store.jobInsertMany({ jobs: [newJob({ id: "k-1" })], tx: trx });
        throw new Error("business rule failed");
      }),
    ).rejects.toThrow("business rule failed");
    expect(await store.jobGet({ id: "k-1" })).toBeNull();
    await db.transaction().execute((trx) => store.jobInsertMany({ jobs: [newJob({ id: "k-2" })], tx: trx }));
    expect(await store.jobGet({ id: "k-2" })).not.toBeNull();
  });

  it("receives signals NOTIFYed by other processes, and resumes after its LISTEN connection drops", async () => {
    const { store, schema } = await fresh();
    const channel = `${schema}.tickerq_signals`;
    const cancel = nextSignal(store, (s) => (s.type === "cancel" ? s.id : undefined));
    await pool.query("select pg_notify($1, $2)", [
      channel,
      JSON.stringify({ o: "another-process", s: { type: "cancel", id: "job-9" } }),
    ]);
    expect(await cancel).toBe("job-9");

    const resumed = nextSignal(store, (s) => (s.type === "due" && s.at.getTime() === 0 ? s : undefined));
    const { rows } = await pool.query("select pid from pg_stat_activity where query = $1", [`LISTEN "${channel}"`]);
    expect(rows).toHaveLength(1);
    await pool.query("select pg_terminate_backend($1)", [rows[0].pid]);
    await resumed;
    const again = nextSignal(store, (s) => (s.type === "node" ? s.nodeId : undefined));
    await pool.query("select pg_notify($1, $2)", [
      channel,
      JSON.stringify({ o: "another-process", s: { type: "node", nodeId: "n-2" } }),
    ]);
    expect(await again).toBe("n-2");
  });

  it("starts a node without waiting for its LISTEN connection, and looks for work again once it hears", async () => {
    const scratch = await postgresScratch();
    const proxy = await startTcpProxy({ port: Number(new URL(PG_URL).port || 5432) });
    const url = new URL(PG_URL);
    url.host = `${proxy.host}:${proxy.port}`;
    const writer = postgresStore({ connectionString: PG_URL, schema: scratch.schema });
    const store = postgresStore({ connectionString: url.href, schema: scratch.schema, poolSize: 1 });
    cleanups.push(
      () => scratch.drop(),
      () => proxy.close(),
      () => writer.close(),
      () => store.close(),
    );
    await writer.init();
    let ran!: () => void;
    const running = new Promise<void>((resolve) => (ran = resolve));
    const late = defineFunction("Late", async () => ran());
    // No poll for an hour: after its start's claim, only a signal makes the node look.
    const tq = createTickerQ({ store, functions: [late], pollIntervalMs: 3_600_000, closeStoreOnStop: false });
    cleanups.push(() => tq.stop());
    // The pool's one connection gets through; the LISTEN connection, opened after it, is refused.
    const refuseAfterFirst = (async () => {
      while (proxy.accepted < 1) await new Promise((resolve) => setImmediate(resolve));
      proxy.refuse(true);
    })();
    await tq.start();
    await refuseAfterFirst;
    await settle(tq); // the start's claim and next-due look are over
    const lookAgain = nextSignal(store, (s) => (s.type === "due" && s.at.getTime() === 0 ? true : undefined));
    const job = await createTickerQ({ store: writer, functions: [late] }).timeTickers.add({ function: "Late" });
    await settle(tq);
    // Its NOTIFY went unheard: the job waits.
    expect(await writer.jobGet({ id: job.id })).toMatchObject({ status: "Idle" });
    proxy.refuse(false);
    // The retried LISTEN connection is up: the store says look again, and the node runs the job.
    expect(await lookAgain).toBe(true);
    await running;
  });

  it("opens its LISTEN connection after its first claim, and misses nothing added in between", async () => {
    const scratch = await postgresScratch();
    const writer = postgresStore({ connectionString: PG_URL, schema: scratch.schema });
    const inner = postgresStore({ connectionString: PG_URL, schema: scratch.schema, applicationName: scratch.schema });
    cleanups.push(
      () => scratch.drop(),
      () => writer.close(),
      () => inner.close(),
    );
    await writer.init();
    const listening = async () =>
      Number(
        (
          await pool.query("select count(*) as n from pg_stat_activity where application_name = $1", [
            `${scratch.schema}:listen`,
          ])
        ).rows[0].n,
      );
    let ran!: () => void;
    const running = new Promise<void>((resolve) => (ran = resolve));
    const work = defineFunction("Work", async () => ran());
    const listenedAtFirstClaim: number[] = [];
    // As the first claim begins, no LISTEN connection yet. A job added as it ends sends its
    // NOTIFY while that connection is still being opened, most likely to nobody.
    const store: SqlStoreHandle = Object.create(inner);
    store.jobClaimDue = async (params) => {
      const first = listenedAtFirstClaim.length === 0;
      if (first) listenedAtFirstClaim.push(await listening());
      const claimed = await inner.jobClaimDue(params);
      if (first) await createTickerQ({ store: writer, functions: [work] }).timeTickers.add({ function: "Work" });
      return claimed;
    };
    // No poll for an hour: only the look-again of the LISTEN connection's first success finds it.
    const tq = createTickerQ({ store, functions: [work], pollIntervalMs: 3_600_000, closeStoreOnStop: false });
    cleanups.push(() => tq.stop());
    await tq.start();
    await running;
    expect(listenedAtFirstClaim).toEqual([0]);
    // The job may also have been found by the claim after the first (it looks at the next due
    // instant), before the LISTEN connection was up: that connection still opens.
    await vi.waitFor(async () => expect(await listening()).toBe(1), { timeout: 5000 });
  });

  it("lets a script that only adds jobs end: the idle connections it keeps do not hold the process", async () => {
    const scratch = await postgresScratch();
    cleanups.push(() => scratch.drop());
    const dir = await mkdtemp(join(tmpdir(), "tickerq-exit-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const script = join(dir, "add.mts");
    const src = (file: string) => JSON.stringify(pathToFileURL(resolve(`src/${file}`)).href);
    await writeFile(
      script,
      `import { createTickerQ, defineFunction } from ${src("index.ts")};
      import { postgresStore } from ${src("postgres.ts")};
      const store = postgresStore({ connectionString: ${JSON.stringify(PG_URL)}, schema: ${JSON.stringify(scratch.schema)}, listen: false });
      const tq = createTickerQ({ functions: [defineFunction("Work", {}, () => {})], store });
      await tq.timeTickers.add({ function: "Work" });
      console.log("added");`,
    );
    // No stop(), no close(): before the pool kept its standing connections it closed them
    // after 10 s idle; kept and holding the process, the script never ended.
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    cleanups.push(async () => void child.kill("SIGKILL")); // should it hang, the test's timeout ends it
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: "added" });
    const { rows } = await pool.query(`select count(*)::int as n from "${scratch.schema}".tickerq_jobs`);
    expect(rows).toEqual([{ n: 1 }]);
  }, 20_000);

  it("survives the server dropping its connections, and carries on", async () => {
    const { store, schema } = await fresh();
    await store.jobInsertMany({ jobs: [newJob({ id: "before" })] });
    const resumed = nextSignal(store, (s) => (s.type === "due" && s.at.getTime() === 0 ? s : undefined));
    const { rows } = await pool.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where query like $1 and pid <> pg_backend_pid()",
      [`%${schema}%`],
    );
    expect(rows.length).toBeGreaterThan(0);
    await resumed;
    await store.jobInsertMany({ jobs: [newJob({ id: "after" })] });
    expect((await store.jobList({})).total).toBe(2);
  });

  it("uses the caller's pool without ending it, and migrates once when nodes start together", async () => {
    const scratch = await postgresScratch();
    cleanups.push(() => scratch.drop());
    const stores = [1, 2, 3].map(() => postgresStore({ pool }, { schema: scratch.schema }));
    await Promise.all(stores.map((s) => s.init()));
    const { rows } = await pool.query(`select version from "${scratch.schema}".tickerq_migrations order by version`);
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    await stores[0]?.jobInsertMany({ jobs: [newJob({ id: "shared" })] });
    expect(await stores[2]?.jobGet({ id: "shared" })).not.toBeNull();
    await Promise.all(stores.map((s) => s.close()));
    expect((await pool.query("select 1 as ok")).rows).toEqual([{ ok: 1 }]);
  });

  it("opens its standing connections with the hot statements planned on each, after its first claim and after they were dropped", async () => {
    // A start write that had to open a connection and plan the claim cold took ~40 ms, and the
    // jobs due behind it started that late (W4's p99 on PostgreSQL was 3-25 ms).
    const scratch = await postgresScratch();
    const own = new pg.Pool({ connectionString: PG_URL, max: 8, application_name: scratch.schema });
    own.on("error", () => {}); // the idle connections this test has the server drop
    const store = postgresStore({ pool: own }, { schema: scratch.schema, listen: false });
    cleanups.push(
      () => own.end(),
      () => scratch.drop(),
      () => store.close(),
    );
    const work = defineFunction("Work", {}, () => {});
    const tq = createTickerQ({ functions: [work], store, closeStoreOnStop: false });
    cleanups.push(() => tq.stop());
    const warm = () =>
      vi.waitFor(
        () => {
          expect(own.totalCount).toBeGreaterThanOrEqual(STANDING_CONNECTIONS);
          expect(own.idleCount).toBe(own.totalCount);
        },
        { timeout: 5000 },
      );
    /** How many connections have all four hot statements (asked of every connection at once). */
    const hot = async () => {
      const clients = await Promise.all(Array.from({ length: own.totalCount }, () => own.connect()));
      const prepared = await Promise.all(
        clients.map(async (client) => {
          const { rows } = await client.query<{ statement: string }>("select statement from pg_prepared_statements");
          return rows.map((row) => row.statement);
        }),
      );
      for (const client of clients) client.release();
      const shapes = [/with slotted as/, /with started as/, /with recursive v as/, /order by execution_time limit 1/];
      return prepared.filter((statements) => shapes.every((shape) => statements.some((s) => shape.test(s)))).length;
    };
    await tq.start();
    // The start used one connection; its first claim (of nothing) opens the rest in the background.
    await warm();
    expect(await hot()).toBeGreaterThanOrEqual(STANDING_CONNECTIONS - 1);
    // The server drops them all (a restart, an idle timeout in between): the next claim opens
    // them again, warm.
    await pool.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [
      scratch.schema,
    ]);
    await vi.waitFor(() => expect(own.totalCount).toBe(0), { timeout: 5000 });
    await tq.timeTickers.add({ function: "Work" });
    await settle(tq);
    await warm();
    await tq.stop();
    expect(await hot()).toBeGreaterThanOrEqual(STANDING_CONNECTIONS - 1);
    // Run with values that match no row: only the job that was added is there, and it ran once.
    const { rows } = await own.query(
      `select (select count(*) from "${scratch.schema}".tickerq_jobs) as jobs,
        (select count(*) from "${scratch.schema}".tickerq_attempts) as attempts`,
    );
    expect(rows).toEqual([{ jobs: "1", attempts: "1" }]);
  });

  it("indexes only what each query can match: Idle jobs to claim, children, cron occurrences", async () => {
    const { store, schema } = await fresh();
    const definitions = async () =>
      Object.fromEntries(
        (
          await pool.query<{ indexname: string; indexdef: string }>(
            "select indexname, indexdef from pg_indexes where schemaname = $1 and tablename = 'tickerq_jobs'",
            [schema],
          )
        ).rows.map((row) => [row.indexname, row.indexdef.replace(/^.* USING btree /, "")]),
      );
    const partial = {
      tickerq_jobs_claim_ix: "(priority_rank, execution_time, id) WHERE (status = 'Idle'::text)",
      tickerq_jobs_parent_ix: "(parent_id) WHERE (parent_id IS NOT NULL)",
      tickerq_jobs_occurrence_uq: "(cron_ticker_id, occurrence_time) WHERE (cron_ticker_id IS NOT NULL)",
    };
    expect(await definitions()).toMatchObject(partial);
    const plan = await pool.query(
      `explain select id from "${schema}".tickerq_jobs
       where status = 'Idle' and priority_rank = 1 and execution_time <= 0 order by execution_time, id limit 10`,
    );
    expect(JSON.stringify(plan.rows)).toContain("tickerq_jobs_claim_ix");

    // A database at version 1 (full indexes, the occurrence key as a table constraint, no lease
    // tokens, no metadata, no aggregates) with a job in it moves to the latest version on the
    // next init, keeping the job.
    const t = `"${schema}".tickerq_jobs`;
    await pool.query(`drop function "${schema}".tickerq_jobs_count_fn() cascade`);
    await pool.query(`drop function "${schema}".tickerq_attempts_rollup_fn() cascade`);
    await pool.query(
      `drop table ${["job_counts", "job_count_deltas", "run_rollup", "run_rollup_deltas"].map((n) => `"${schema}".tickerq_${n}`).join(", ")}`,
    );
    await pool.query(
      `drop index "${schema}".tickerq_jobs_list_ix, "${schema}".tickerq_jobs_list_status_ix, "${schema}".tickerq_jobs_changed_ix`,
    );
    await pool.query(`drop function "${schema}".tickerq_jobs_search_fn() cascade`);
    await pool.query(`drop table "${schema}".tickerq_job_search, "${schema}".tickerq_job_search_backlog`);
    await pool.query(`drop index "${schema}".tickerq_jobs_claim_ix, "${schema}".tickerq_jobs_parent_ix,
      "${schema}".tickerq_jobs_occurrence_uq`);
    await pool.query(`create index tickerq_jobs_claim_ix on ${t} (status, priority_rank, execution_time, id)`);
    await pool.query(`create index tickerq_jobs_parent_ix on ${t} (parent_id)`);
    await pool.query(
      `alter table ${t} add constraint tickerq_jobs_occurrence_uq unique (cron_ticker_id, occurrence_time)`,
    );
    const job = newJob({ function: "Kept" });
    await store.jobInsertMany({ jobs: [job] });
    await pool.query(`alter table ${t} drop column lease_token, drop column metadata`);
    await pool.query(`alter table "${schema}".tickerq_attempts drop column superseded, drop column rolled_up`);
    await pool.query(`delete from "${schema}".tickerq_migrations where version >= 2`);
    const old = postgresStore({ connectionString: PG_URL, schema, migrate: false });
    cleanups.push(() => old.close());
    await expect(old.init()).rejects.toMatchObject({
      code: "INVALID_STATE",
      message: expect.stringContaining(`version 1 is older than ${LATEST_VERSION}`),
    });
    const upgraded = postgresStore({ connectionString: PG_URL, schema });
    cleanups.push(() => upgraded.close());
    await upgraded.init();
    expect(await definitions()).toMatchObject(partial);
    expect(await upgraded.jobGet({ id: job.id })).toMatchObject({ function: "Kept", leaseToken: 0 });
  });

  it("appends the run rollup that migration 5's trigger did, bin for bin, through migration 8's (width_bucket)", async () => {
    const { store, schema } = await fresh();
    const { t, dialect } = (store as unknown as { ctx: SqlContext }).ctx;
    const q = (name: string) => `"${schema}".tickerq_${name}`;
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "a", function: "Alpha", executionTime: new Date(1_000) }),
        newJob({ id: "b", function: "Beta", executionTime: new Date(5_000_000) }),
      ],
    });
    await pool.query(`update ${q("jobs")} set scheduled_for = null where id = 'b'`);
    // Durations and latenesses on both sides of every bin edge, over minutes, hours and days;
    // first attempts and retries, superseded runs, a job that no longer exists; in three batches.
    const edges = [-5, 0, 1, 2, 3, 4, 7, 8, 1023, 1024, 2 ** 22 - 1, 2 ** 22, 2 ** 30];
    const rows: string[] = [];
    let i = 0;
    for (const elapsed of edges) {
      for (const lateness of edges) {
        const job = ["a", "b", "gone"][i % 3]!;
        const started = 1_000 + lateness;
        const finished = 1_000 + (i % 7) * 50_000_000 + (i % 5) * 61_000;
        const status = ["Done", "Failed", "Cancelled"][i % 3]!;
        rows.push(
          `('${job}', ${i % 4 === 0 ? 1 : 0}, '${status}', 'n', ${started}, ${finished}, ${elapsed}, ${i % 11 === 0 ? 1 : 0})`,
        );
        i++;
      }
    }
    const third = Math.ceil(rows.length / 3);
    for (const part of [rows.slice(0, third), rows.slice(third, 2 * third), rows.slice(2 * third)]) {
      await pool.query(`insert into ${q("attempts")} (job_id, attempt, status, node_id, started_at, finished_at,
        elapsed_ms, superseded) values ${part.join(", ")}`);
    }
    const env = { kind: "postgres" as const, t, prefix: "tickerq_", types: dialect.columnTypes };
    const keys = `span_ms, bucket, "function", status`;
    const columns = `span_ms::bigint as span_ms, bucket::bigint as bucket, "function", status`;
    const sums = ["runs", "duration_sum", ...BIN_COLUMNS].map((c) => `sum(${c})::bigint as ${c}`).join(", ");
    const expected = await pool.query(`select ${columns}, ${sums} from (${rollupSelect(
      env,
      q("jobs"),
      (c) => `a.${c}`,
      true,
      `${q("attempts")} a cross join `,
    )}) x (span_ms, bucket, "function", status, runs, duration_sum, ${BIN_COLUMNS.join(", ")})
      group by ${keys} order by ${keys}`);
    const actual = await pool.query(`select ${columns}, ${sums} from (
      select * from ${q("run_rollup")} union all select ${keys}, runs, duration_sum, ${BIN_COLUMNS.join(", ")}
      from ${q("run_rollup_deltas")}) x group by ${keys} order by ${keys}`);
    expect(expected.rows.length).toBeGreaterThan(20);
    expect(actual.rows).toEqual(expected.rows);
  });

  it("refuses a schema newer than the code with SCHEMA_TOO_NEW", async () => {
    const { schema } = await fresh();
    await pool.query(`insert into "${schema}".tickerq_migrations values (42, 'future', 0)`);
    const store = postgresStore({ connectionString: PG_URL, schema });
    cleanups.push(() => store.close());
    await expect(store.init()).rejects.toMatchObject({ code: "SCHEMA_TOO_NEW" });
  });
});
