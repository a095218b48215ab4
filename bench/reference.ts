/**
 * The physical-limit reference figures of the same run: pgbench simple-update TPS,
 * redis-benchmark SET/GET, and the RSS of a Node process holding only the PostgreSQL driver
 * (and Kysely), connected: the floor under any worker built on them.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PG_DATABASE, PG_URL, REDIS } from "./config.js";
import { ensurePgDatabase } from "./db.js";
import { ROOT_DIR } from "./paths.js";

const run = promisify(execFile);

export interface Reference {
  pgbenchTps: number | null;
  redisSet: number | null;
  redisGet: number | null;
  /** RSS in MB of `node` with pg imported and one connection open, and with Kysely imported too. */
  rssPgMb: number | null;
  rssPgKyselyMb: number | null;
  commands: string[];
  notes: string[];
}

export async function measureReference(pgbenchSeconds: number, redisRequests: number): Promise<Reference> {
  const result: Reference = {
    pgbenchTps: null,
    redisSet: null,
    redisGet: null,
    rssPgMb: null,
    rssPgKyselyMb: null,
    commands: [],
    notes: [],
  };
  const pgArgs = ["-h", "127.0.0.1", "-U", "postgres"];
  try {
    await ensurePgDatabase();
    await run("pgbench", [...pgArgs, "-i", "-q", "-s", "1", PG_DATABASE], { timeout: 60_000 });
    const args = [...pgArgs, "-c", "1", "-j", "1", "-T", String(pgbenchSeconds), "-b", "simple-update", PG_DATABASE];
    result.commands.push(`pgbench ${args.join(" ")}`);
    const { stdout } = await run("pgbench", args, { timeout: (pgbenchSeconds + 30) * 1000 });
    const tps = /tps = ([\d.]+)/.exec(stdout)?.[1];
    result.pgbenchTps = tps === undefined ? null : Number(tps);
  } catch (error) {
    result.notes.push(`pgbench failed: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    const args = ["-h", REDIS.host, "-p", String(REDIS.port), "-t", "set,get", "-n", String(redisRequests), "--csv"];
    result.commands.push(`redis-benchmark ${args.join(" ")}`);
    const { stdout } = await run("redis-benchmark", args, { timeout: 120_000 });
    const rate = (test: string) => {
      const value = new RegExp(`^"${test}","([\\d.]+)"`, "m").exec(stdout)?.[1];
      return value === undefined ? null : Number(value);
    };
    result.redisSet = rate("SET");
    result.redisGet = rate("GET");
  } catch (error) {
    result.notes.push(`redis-benchmark failed: ${(error as Error).message.split("\n")[0]}`);
  }
  try {
    result.rssPgMb = await driverRss(false);
    result.rssPgKyselyMb = await driverRss(true);
  } catch (error) {
    result.notes.push(`RSS floor failed: ${(error as Error).message.split("\n")[0]}`);
  }
  return result;
}

/** The RSS (MB) of a fresh `node` that imports pg (and Kysely) and opens one connection; the lower of three. */
async function driverRss(withKysely: boolean): Promise<number> {
  const script = [
    withKysely ? `await import("kysely");` : "",
    `const { default: pg } = await import("pg");`,
    `const client = new pg.Client({ connectionString: ${JSON.stringify(PG_URL)} });`,
    `await client.connect(); await client.query("select 1");`,
    `console.log(process.memoryUsage().rss); await client.end();`,
  ].join(" ");
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: ROOT_DIR,
      timeout: 30_000,
    });
    runs.push(Number(stdout.trim()) / 2 ** 20);
  }
  return Math.min(...runs);
}
