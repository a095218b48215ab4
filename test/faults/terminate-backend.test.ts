/**
 * A node process whose database connections are killed under it, one after another, while
 * it runs jobs: PostgreSQL's pg_terminate_backend (each pooled connection, connections caught
 * inside a transaction, and the LISTEN connection), MariaDB's KILL. The process must never
 * exit, every job must still end, and on PostgreSQL NOTIFY must wake the node again once its
 * LISTEN connection was replaced.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import mysql from "mysql2/promise";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { createTickerQ, defineFunction, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";
import {
  MYSQL_URL,
  PG_URL,
  checkMysql,
  checkPostgres,
  mysqlScratch,
  postgresScratch,
  uniqueName,
} from "../helpers/databases.js";

const script = fileURLToPath(new URL("./store-errors-node.ts", import.meta.url));
const pgServer = await checkPostgres();
const mysqlServer = await checkMysql();

const FINAL = ["Done", "DueDone", "Failed", "Cancelled", "Skipped"] as const;

interface NodeProcess {
  child: ChildProcess;
  /** Set if the process ended before the test stopped it. */
  exit: { code: number | null; signal: string | null } | null;
  /** What it printed on stderr (its reported errors), for a failure's message. */
  stderr: string[];
  stop(): Promise<void>;
}

function startNode(url: string, schema: string, nodeId: string, pollIntervalMs: number): Promise<NodeProcess> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", script, url, schema, nodeId, "20", String(pollIntervalMs)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const node: NodeProcess = {
    child,
    exit: null,
    stderr: [],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
  child.stderr!.on("data", (chunk: Buffer) => node.stderr.push(chunk.toString()));
  watched = node;
  return new Promise((resolve, reject) => {
    child.once("exit", (code, signal) => {
      node.exit = { code, signal };
      reject(new Error(`${nodeId} exited before it was ready (${code ?? signal}):\n${node.stderr.join("")}`));
    });
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve(node);
    });
  });
}

/** The node process under test, whose death ends any wait at once. */
let watched: NodeProcess | null = null;

/** Polls another process's progress (it raises no event here), bounded in time. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (watched?.exit) {
      const { code, signal } = watched.exit;
      throw new Error(`the node process exited (${code ?? signal}) while waiting until ${what}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function finalCount(store: Store): Promise<number> {
  const counts = await store.jobCountByStatus({ function: "Work" });
  return FINAL.reduce((sum, status) => sum + counts[status], 0);
}

/** A producer on its own connections: another node, as far as the node process can tell. */
function producerOn(store: Store) {
  const noop = async () => {};
  return createTickerQ({ functions: [defineFunction("Work", noop)], store, closeStoreOnStop: false });
}

/**
 * The node's connections are killed in turn, each once, waiting after each kill until the
 * node has finished more work (or all of it): one at a time, so every kind of connection is
 * hit in whatever state it happens to be. `kinds`: how many the node has at least (a starting
 * node opens one pooled connection, and on PostgreSQL its LISTEN connection beside it).
 */
async function killEachInTurn(
  store: Store,
  total: number,
  kinds: number,
  connections: () => Promise<number[]>,
  kill: (id: number) => Promise<void>,
): Promise<number> {
  let ids: number[] = [];
  await until(`the node has ${kinds} connection(s) open`, async () => (ids = await connections()).length >= kinds);
  for (const id of ids) {
    const before = await finalCount(store);
    await kill(id);
    await until(`the node goes on after connection ${id} was killed`, async () => {
      const now = await finalCount(store);
      return now > before || now === total;
    });
  }
  return ids.length;
}

describe.runIf(pgServer.available)("postgres: pg_terminate_backend of a node's connections", () => {
  it("never ends the process; every job ends; NOTIFY wakes the node after its LISTEN connection was killed", async () => {
    const scratch = await postgresScratch();
    const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize: 3 });
    const admin = new pg.Client({ connectionString: PG_URL, application_name: "tickerq-test-admin" });
    const appName = `tickerq:${uniqueName("victim")}`;
    const nodeId = appName.slice("tickerq:".length);
    let node: NodeProcess | null = null;
    try {
      await admin.connect();
      await store.init();
      const producer = producerOn(store);
      // Polling only once a minute: within the test, only NOTIFY brings it work it is not told of otherwise.
      node = await startNode(PG_URL, scratch.schema, nodeId, 60_000);
      const backends = async (where = "true") =>
        (
          await admin.query<{ pid: number }>(
            `select pid from pg_stat_activity
              where application_name in ($1, $1 || ':listen') and (${where}) order by pid`,
            [appName],
          )
        ).rows.map((row) => row.pid);
      const terminate = async (pid: number) => void (await admin.query("select pg_terminate_backend($1)", [pid]));

      // 1. Each connection in turn (the pool's and the LISTEN one) while jobs run.
      await producer.timeTickers.addMany(Array.from({ length: 1000 }, () => ({ function: "Work" as const })));
      let total = 1000;
      await killEachInTurn(store, total, 2, () => backends(), terminate);

      // 2. A connection held inside a transaction, between two of its statements: the case
      // where node-postgres emits `error` on a client Kysely has checked out. The test locks
      // the jobs table, so the node's next transaction (the heartbeat's lease recovery) waits
      // in it; the node is paused, the lock released, and its backend now sits "idle in
      // transaction" until it is terminated and the node resumes.
      await producer.timeTickers.addMany(Array.from({ length: 1000 }, () => ({ function: "Work" as const })));
      total += 1000;
      // The recovery transaction runs at every heartbeat once the node has been in touch with
      // the store for a lease timeout (10 s) since its last failure, which step 1 just caused:
      // rounds go on until one catches it (a loaded machine stretches both).
      let inTransaction = 0;
      for (const deadline = Date.now() + 60_000; inTransaction === 0 && Date.now() < deadline;) {
        await admin.query("begin");
        await admin.query(`lock table "${scratch.schema}".tickerq_jobs in access exclusive mode`);
        await until(
          "two of the node's statements wait for the lock",
          async () => (await backends("wait_event_type = 'Lock'")).length >= 2,
          5_000,
        ).catch(() => {}); // one waiting is enough to try
        node.child.kill("SIGSTOP");
        try {
          await admin.query("commit");
          // The statements that waited now finish; their replies wait in the paused node's socket.
          for (let look = 0; look < 50 && inTransaction === 0; look++) {
            const { rows } = await admin.query(
              `select pg_terminate_backend(pid) from pg_stat_activity
                where application_name = $1 and state = 'idle in transaction'`,
              [appName],
            );
            inTransaction += rows.length;
            if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
          }
        } finally {
          node.child.kill("SIGCONT");
        }
      }
      expect(inTransaction).toBeGreaterThan(0);
      // And connections met active or inside a transaction, in a tight loop while the node works.
      let active = 0;
      for (const deadline = Date.now() + 5_000; active < 5 && Date.now() < deadline;) {
        const { rows } = await admin.query(
          `select pg_terminate_backend(pid) from pg_stat_activity
            where application_name = $1 and state in ('active', 'idle in transaction')`,
          [appName],
        );
        active += rows.length;
      }
      await until("every job is final", async () => (await finalCount(store)) === total);

      // 3. The LISTEN connection: replaced with backoff; then another node's add wakes this one.
      const [listening] = await backends("application_name like '%:listen'");
      expect(listening).toBeDefined();
      await terminate(listening!);
      await until(
        "the node LISTENs on a new connection",
        async () =>
          (await backends("application_name like '%:listen' and query ilike 'listen%'")).some(
            (pid) => pid !== listening,
          ),
        20_000,
      );
      const woken = await producer.timeTickers.add({ function: "Work" });
      total += 1;
      await until("the job added elsewhere ran on the node", async () => (await finalCount(store)) === total, 20_000);
      const attempts = await store.attemptList({ jobId: woken.id });
      expect(attempts).toEqual([expect.objectContaining({ nodeId, status: expect.stringMatching(/^(Due)?Done$/) })]);

      // Through all of it, the process lived, and every job ended Done.
      expect(node.exit).toBeNull();
      const work = await store.jobCountByStatus({ function: "Work" });
      expect(work.Done + work.DueDone).toBe(total);
    } catch (error) {
      if (node) console.error(`node stderr:\n${node.stderr.join("").slice(-4000)}`);
      throw error;
    } finally {
      await node?.stop();
      await store.close();
      await admin.end();
      await scratch.drop();
    }
  }, 180_000);
});

describe.runIf(mysqlServer.available)("mariadb: KILL of a node's connections", () => {
  it("never ends the process; every job ends", async () => {
    const scratch = await mysqlScratch();
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    // A user of its own, so the node's connections are told apart from the test's on the same database.
    const user = uniqueName("tqn").slice(0, 20);
    const hosts = ["localhost", "127.0.0.1", "%"];
    const store = mysqlStore({ uri: scratch.url, poolSize: 3 });
    let node: NodeProcess | null = null;
    try {
      for (const host of hosts) {
        await admin.query(`create user '${user}'@'${host}'`);
        await admin.query(`grant all on \`${scratch.database}\`.* to '${user}'@'${host}'`);
      }
      await store.init();
      const producer = producerOn(store);
      const url = new URL(scratch.url);
      url.username = user;
      url.password = "";
      node = await startNode(url.toString(), "", "victim", 1000);
      const threads = async (where = "true") => {
        const [rows] = await admin.query<mysql.RowDataPacket[]>(
          `select p.id from information_schema.processlist p where p.user = ? and (${where}) order by p.id`,
          [user],
        );
        return rows.map((row) => Number(row.id));
      };
      const kill = async (id: number) => {
        // The thread may have ended meanwhile (ER_NO_SUCH_THREAD): nothing to kill then.
        await admin.query(`kill ${id}`).catch((error: { errno?: number }) => {
          if (error.errno !== 1094) throw error;
        });
      };

      await producer.timeTickers.addMany(Array.from({ length: 1000 }, () => ({ function: "Work" as const })));
      let total = 1000;
      await killEachInTurn(store, total, 1, () => threads(), kill);

      // A connection caught with a transaction open (claims and completions are transactions
      // here): the test locks the jobs table, so the node's next transaction waits in it; the
      // node is paused, the lock released, and the connection, its transaction now holding
      // row locks, is killed before the node resumes.
      await producer.timeTickers.addMany(Array.from({ length: 1000 }, () => ({ function: "Work" as const })));
      total += 1000;
      // The recovery transaction runs at every heartbeat once the node has been in touch with
      // the store for a lease timeout (10 s) since its last failure, which step 1 just caused:
      // rounds go on until one catches it (a loaded machine stretches both).
      let inTransaction = 0;
      for (const deadline = Date.now() + 60_000; inTransaction === 0 && Date.now() < deadline;) {
        if ((await finalCount(store)) === total) {
          await producer.timeTickers.addMany(Array.from({ length: 200 }, () => ({ function: "Work" as const })));
          total += 200;
        }
        await admin.query(`lock tables \`${scratch.database}\`.tickerq_jobs write`);
        await until(
          "a statement of the node waits for the lock",
          async () => (await threads("p.state like '%lock%'")).length > 0,
          5_000,
        ).catch(() => {}); // tried anyway: the node may be between transactions
        node.child.kill("SIGSTOP");
        try {
          await admin.query("unlock tables");
          for (let look = 0; look < 50 && inTransaction === 0; look++) {
            const ids = await threads("p.id in (select trx_mysql_thread_id from information_schema.innodb_trx)");
            for (const id of ids) await kill(id);
            inTransaction += ids.length;
            if (ids.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
          }
        } finally {
          node.child.kill("SIGCONT");
        }
      }
      expect(inTransaction).toBeGreaterThan(0);
      await until("every job is final", async () => (await finalCount(store)) === total);

      expect(node.exit).toBeNull();
      const work = await store.jobCountByStatus({ function: "Work" });
      expect(work.Done + work.DueDone).toBe(total);
    } catch (error) {
      if (node) console.error(`node stderr:\n${node.stderr.join("").slice(-4000)}`);
      throw error;
    } finally {
      await node?.stop();
      await store.close();
      for (const host of hosts) await admin.query(`drop user if exists '${user}'@'${host}'`);
      await admin.end();
      await scratch.drop();
    }
  }, 180_000);
});
