/**
 * Where the test databases are, and what to do when one is not there: fail on CI, skip
 * loudly elsewhere. Each caller gets its own schema, database or file, dropped in cleanup.
 */

import { randomUUID } from "node:crypto";

export const PG_URL = process.env.TICKERQ_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const MYSQL_URL = process.env.TICKERQ_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";
/** The shared Redis: tests use a prefix of their own on it and never flush or stop it. */
export const REDIS_URL = process.env.TICKERQ_REDIS_URL ?? "redis://127.0.0.1:6379";

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

export async function checkRedis(): Promise<ServerCheck> {
  const { Redis } = await import("ioredis");
  return probe("Redis", "TICKERQ_REDIS_URL", REDIS_URL, async () => {
    const client = new Redis(REDIS_URL, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
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

/** A key prefix of its own on the shared Redis; `drop` deletes its keys (never a flush). */
export async function redisScratch(): Promise<{ prefix: string; drop(): Promise<void> }> {
  const prefix = uniqueName("tq");
  return {
    prefix,
    async drop() {
      const { Redis } = await import("ioredis");
      const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      try {
        // The braces of the hash tag are glob-escaped: the pattern names exactly this prefix's keys.
        let cursor = "0";
        do {
          const [next, keys] = await client.scan(cursor, "MATCH", `\\{${prefix}\\}:*`, "COUNT", 1000);
          cursor = next;
          if (keys.length > 0) await client.del(...keys);
        } while (cursor !== "0");
      } finally {
        client.disconnect();
      }
    },
  };
}
