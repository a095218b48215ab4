/**
 * Database servers that the fault tests own and may stop, kill and restart: a PostgreSQL 15
 * cluster made with pg_createcluster and a mariadbd on its own data dir, each on a free
 * loopback port. The shared servers (5432, 3306, 6379) are never touched. Each is removed by
 * `remove()`, by a process exit handler if the test dies first, or by the next run's sweep.
 */

import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { uniqueName } from "../helpers/databases.js";

const run = promisify(execFile);
const PG_VERSION = "15";
const PREFIX = "tqfault";

export interface DedicatedServer {
  readonly kind: "postgres" | "mysql";
  /** Connection URL of the test database on this server. */
  readonly url: string;
  readonly port: number;
  /** Stops the server: "fast"/"immediate" are pg_ctl's modes; "kill" is SIGKILL (-9). */
  stop(mode: "fast" | "immediate" | "kill"): Promise<void>;
  /** Starts it again and resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops and deletes it with its data. Safe to call twice. */
  remove(): Promise<void>;
}

/** A port nobody listens on right now (the kernel's choice). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Until `check` passes or the time is up (bounded), polling every 100 ms. */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Cleanups still owed if this process exits before remove(). */
const owed = new Map<string, () => void>();
process.once("exit", () => {
  for (const cleanup of owed.values()) {
    try {
      cleanup();
    } catch {
      // Exiting anyway; the next run's sweep gets what is left.
    }
  }
});

/** Drops clusters and data dirs left by test processes that died without cleaning up. */
function sweepLeftovers(): void {
  const clusters = existsSync(`/etc/postgresql/${PG_VERSION}`) ? readdirSync(`/etc/postgresql/${PG_VERSION}`) : [];
  for (const name of clusters) {
    const owner = Number(/^tqfault_(\d+)_/.exec(name)?.[1]);
    if (owner && !alive(owner)) {
      try {
        execFileSync("pg_dropcluster", ["--stop", PG_VERSION, name], { stdio: "ignore" });
      } catch {
        // Someone else is sweeping it, or it is half gone: not ours to insist.
      }
    }
  }
  for (const entry of readdirSync(tmpdir())) {
    const owner = Number(/^tqfault-mariadb-(\d+)-/.exec(entry)?.[1]);
    if (!owner || alive(owner)) continue;
    const dir = join(tmpdir(), entry);
    const pid = Number(existsSync(join(dir, "server.pid")) ? readFileSync(join(dir, "server.pid"), "utf8") : 0);
    if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

async function pgReady(port: number): Promise<boolean> {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A new PostgreSQL cluster (trust auth, fsync off: the tests crash the server, not the machine). */
export async function createPostgresCluster(): Promise<DedicatedServer> {
  sweepLeftovers();
  const name = uniqueName(`${PREFIX}_${process.pid}`).toLowerCase();
  const port = await freePort();
  const ctl = (...args: string[]) => run("pg_ctlcluster", ["--skip-systemctl-redirect", PG_VERSION, name, ...args]);
  let removed = false;
  owed.set(name, () => execFileSync("pg_dropcluster", ["--stop", PG_VERSION, name], { stdio: "ignore" }));
  const server: DedicatedServer = {
    kind: "postgres",
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop(mode) {
      if (mode === "kill") {
        const pid = Number(
          readFileSync(`/var/lib/postgresql/${PG_VERSION}/${name}/postmaster.pid`, "utf8").split("\n")[0],
        );
        process.kill(pid, "SIGKILL");
        await waitUntil("the postmaster is gone", async () => !alive(pid), 10_000);
        return;
      }
      await ctl("stop", "-m", mode);
    },
    async start() {
      await ctl("start");
      await waitUntil(`PostgreSQL on port ${port} accepts connections`, () => pgReady(port), 30_000);
    },
    async remove() {
      if (removed) return;
      removed = true;
      owed.delete(name);
      await run("pg_dropcluster", ["--stop", PG_VERSION, name]);
    },
  };
  try {
    await run("pg_createcluster", [
      PG_VERSION,
      name,
      "-p",
      String(port),
      "-o",
      "fsync=off",
      "-o",
      "full_page_writes=off",
      "-o",
      "max_connections=200",
      "--",
      "--auth=trust",
    ]);
    await server.start();
  } catch (error) {
    await server.remove().catch(() => {});
    throw error;
  }
  return server;
}

async function mysqlReady(port: number): Promise<boolean> {
  const mysql = (await import("mysql2/promise")).default;
  const connection = await mysql.createConnection({ host: "127.0.0.1", port, user: "root", connectTimeout: 1000 });
  await connection.end();
  return true;
}

/** A new mariadbd on its own data dir and port, without grant tables (root, no password). */
export async function createMariaDb(): Promise<DedicatedServer> {
  sweepLeftovers();
  const dir = mkdtempSync(join(tmpdir(), `tqfault-mariadb-${process.pid}-`));
  const datadir = join(dir, "data");
  const port = await freePort();
  let child: ChildProcess | null = null;
  let removed = false;
  const killNow = () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  };
  owed.set(dir, () => {
    killNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const server: DedicatedServer = {
    kind: "mysql",
    url: `mysql://root@127.0.0.1:${port}/tq`,
    port,
    async stop(mode) {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill(mode === "kill" || mode === "immediate" ? "SIGKILL" : "SIGTERM");
      await exited;
    },
    async start() {
      // --no-defaults first: /etc/mysql's files describe the shared server (port 3306, its socket).
      child = spawn(
        "mariadbd",
        [
          "--no-defaults",
          `--datadir=${datadir}`,
          `--port=${port}`,
          `--socket=${join(dir, "mysqld.sock")}`,
          `--pid-file=${join(dir, "mysqld.pid")}`,
          `--log-error=${join(dir, "error.log")}`,
          "--bind-address=127.0.0.1",
          "--user=root",
          "--skip-grant-tables",
          "--skip-name-resolve",
          "--innodb-flush-log-at-trx-commit=2",
          "--innodb-buffer-pool-size=64M",
          "--performance-schema=OFF",
          "--max-connections=300",
        ],
        { stdio: "ignore" },
      );
      child.on("error", () => {});
      writeFileSync(join(dir, "server.pid"), String(child.pid));
      const started = child;
      await waitUntil(
        `mariadbd on port ${port} accepts connections`,
        async () => started.exitCode !== null || (await mysqlReady(port)),
        30_000,
      );
      if (started.exitCode !== null) throw new Error(`mariadbd exited (${started.exitCode}); see ${dir}/error.log`);
    },
    async remove() {
      if (removed) return;
      removed = true;
      owed.delete(dir);
      await server.stop("kill");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${datadir}`,
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--user=root",
    ]);
    await server.start();
    const mysql = (await import("mysql2/promise")).default;
    const admin = await mysql.createConnection({ host: "127.0.0.1", port, user: "root" });
    await admin.query("create database tq");
    await admin.end();
  } catch (error) {
    await server.remove().catch(() => {});
    throw error;
  }
  return server;
}

/**
 * Whether the programs a dedicated server needs are installed: on CI their absence fails the
 * run; elsewhere the tests are skipped with a loud warning.
 */
export function checkTools(kind: "postgres" | "mysql"): { available: boolean } {
  const tools =
    kind === "postgres" ? ["pg_createcluster", "pg_ctlcluster", "pg_dropcluster"] : ["mariadbd", "mariadb-install-db"];
  const missing = tools.filter((tool) => {
    try {
      execFileSync("which", [tool], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return { available: true };
  const message = `cannot run dedicated ${kind} servers: ${missing.join(", ")} not installed`;
  if (process.env.CI) throw new Error(`${message}; CI needs them.`);
  console.warn(`\n*** SKIPPING dedicated ${kind} fault tests: ${message}.\n*** With CI=1 these tests fail instead.\n`);
  return { available: false };
}

/** A redis-server of the test's own: never the shared one on 6379, so it may be killed and flushed. */
export interface DedicatedRedis {
  readonly url: string;
  readonly port: number;
  /** SIGKILL: the data goes with it (no persistence), as on a restart without AOF/RDB. */
  kill(): Promise<void>;
  /** Starts it again, empty, on the same port. */
  start(): Promise<void>;
  remove(): Promise<void>;
}

export async function createRedisServer(): Promise<DedicatedRedis> {
  const dir = mkdtempSync(join(tmpdir(), `tqfault-redis-${process.pid}-`));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const killNow = () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  };
  owed.set(dir, () => {
    killNow();
    rmSync(dir, { recursive: true, force: true });
  });
  const ping = async () => {
    const { Redis } = await import("ioredis");
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      return (await client.ping()) === "PONG";
    } finally {
      client.disconnect();
    }
  };
  const server: DedicatedRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill() {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once("exit", resolve));
      running.kill("SIGKILL");
      await exited;
    },
    async start() {
      const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
      child = spawn("redis-server", args, { stdio: "ignore" });
      child.on("error", () => {});
      const started = child;
      await waitUntil(
        `redis-server on port ${port} answers`,
        async () => started.exitCode !== null || (await ping()),
        10_000,
      );
      if (started.exitCode !== null) throw new Error(`redis-server exited (${started.exitCode})`);
    },
    async remove() {
      owed.delete(dir);
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
