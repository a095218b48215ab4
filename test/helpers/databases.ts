/**
 * Where the test databases are, and what to do when one is not there: fail on CI, skip
 * loudly elsewhere. Each caller gets its own schema, database or file, dropped in cleanup.
 */

import { randomUUID } from "node:crypto";

export const PG_URL = process.env.TICKERQ_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const MYSQL_URL = process.env.TICKERQ_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

export interface ServerCheck {
  /** True when the tests should run. */
  available: boolean;
}

async function probe(
  name: string,
  variable: string,
  url: string,
  tryConnect: () => Promise<void>,
): Promise<ServerCheck> {
  try {
    await tryConnect();
    return { available: true };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI) {
      throw new Error(
        `${name} is unreachable at ${url} (${reason}); CI needs it. Set ${variable} to a reachable server.`,
      );
    }
    console.warn(
      `\n*** SKIPPING ${name} TESTS: cannot reach ${url} (${reason}).\n*** Start the server or set ${variable}; with CI=1 these tests fail instead.\n`,
    );
    return { available: false };
  }
}

export async function checkPostgres(): Promise<ServerCheck> {
  const pg = (await import("pg")).default;
  return probe("PostgreSQL", "TICKERQ_PG_URL", PG_URL, async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query("select 1");
    } finally {
      await client.end().catch(() => {});
    }
  });
}

export async function checkMysql(): Promise<ServerCheck> {
  const mysql = (await import("mysql2/promise")).default;
  return probe("MySQL/MariaDB", "TICKERQ_MYSQL_URL", MYSQL_URL, async () => {
    const connection = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await connection.end();
  });
}

/** A name unique to this test run, usable as a schema, database or prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, "").slice(0, 16)}`;
}

/** A fresh PostgreSQL schema name; `drop` removes it with everything in it. */
export async function postgresScratch(): Promise<{ schema: string; drop(): Promise<void> }> {
  const pg = (await import("pg")).default;
  const schema = uniqueName("tq");
  return {
    schema,
    async drop() {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists "${schema}" cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A fresh MySQL database; returns its URL and how to drop it. */
export async function mysqlScratch(): Promise<{ url: string; database: string; drop(): Promise<void> }> {
  const mysql = (await import("mysql2/promise")).default;
  const database = uniqueName("tq");
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    await admin.query(`create database \`${database}\``);
  } finally {
    await admin.end();
  }
  const url = new URL(MYSQL_URL);
  url.pathname = `/${database}`;
  return {
    url: url.toString(),
    database,
    async drop() {
      const conn = await mysql.createConnection({ uri: MYSQL_URL });
      try {
        await conn.query(`drop database if exists \`${database}\``);
      } finally {
        await conn.end();
      }
    },
  };
}
