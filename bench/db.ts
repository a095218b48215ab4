/** Small admin helpers for the bench database servers: create, probe and query them. */
import pg from "pg";
import { MYSQL_ADMIN_URI, MYSQL_DATABASE, PG_ADMIN_URL, PG_DATABASE, PG_URL } from "./config.js";

/** Runs `fn` with one short-lived client on `url`. */
export async function withPg<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let pgReady: Promise<void> | null = null;

/** Creates the bench database once per process if it is absent. */
export function ensurePgDatabase(): Promise<void> {
  pgReady ??= withPg(PG_ADMIN_URL, async (client) => {
    const found = await client.query("select 1 from pg_database where datname = $1", [PG_DATABASE]);
    if (found.rowCount === 0) await client.query(`create database ${PG_DATABASE}`);
  });
  return pgReady;
}

export async function pgQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  await ensurePgDatabase();
  return withPg(PG_URL, (client) => client.query(sql, params));
}

/** Why PostgreSQL is unusable, or null. */
export async function pgUnavailable(): Promise<string | null> {
  try {
    await ensurePgDatabase();
    return null;
  } catch (error) {
    pgReady = null;
    return `PostgreSQL at 127.0.0.1:5432 unreachable (${(error as Error).message})`;
  }
}

export async function pgServerVersion(): Promise<string> {
  const result = await pgQuery("show server_version");
  return `PostgreSQL ${String(result.rows[0]?.server_version)}`;
}

/** Runs statements on MySQL/MariaDB without a default database (creates and drops the bench one). */
export async function mysqlAdmin(statements: string[]): Promise<unknown[]> {
  const mysql = await import("mysql2/promise");
  const connection = await mysql.createConnection(MYSQL_ADMIN_URI);
  try {
    const results: unknown[] = [];
    for (const sql of statements) results.push((await connection.query(sql))[0]);
    return results;
  } finally {
    await connection.end();
  }
}

export async function mysqlRecreateDatabase(): Promise<void> {
  await mysqlAdmin([`drop database if exists ${MYSQL_DATABASE}`, `create database ${MYSQL_DATABASE}`]);
}

export async function mysqlServerVersion(): Promise<string> {
  const [rows] = (await mysqlAdmin(["select version() as v"])) as [Array<{ v: string }>];
  const version = rows[0]?.v ?? "?";
  return version.toLowerCase().includes("mariadb") ? `MariaDB ${version}` : `MySQL ${version}`;
}

/** The version field of an installed package, read from its package.json. */
export async function packageVersion(name: string): Promise<string> {
  const { createRequire } = await import("node:module");
  const require = createRequire(import.meta.url);
  try {
    const manifest = require(`${name}/package.json`) as { version: string };
    return manifest.version;
  } catch {
    // Packages whose exports hide package.json: find it next to the resolved entry.
    const { readFile } = await import("node:fs/promises");
    const { dirname, join } = await import("node:path");
    let dir = dirname(require.resolve(name));
    for (let i = 0; i < 5; i += 1) {
      try {
        const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8")) as {
          name?: string;
          version: string;
        };
        if (manifest.name === name) return manifest.version;
      } catch {
        // keep walking up
      }
      dir = dirname(dir);
    }
    return "?";
  }
}
