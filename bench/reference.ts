/** The physical-limit reference figures of the same run: pgbench simple-update TPS and redis-benchmark SET/GET. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PG_DATABASE, REDIS } from "./config.js";
import { ensurePgDatabase } from "./db.js";

const run = promisify(execFile);

export interface Reference {
  pgbenchTps: number | null;
  redisSet: number | null;
  redisGet: number | null;
  commands: string[];
  notes: string[];
}

export async function measureReference(pgbenchSeconds: number, redisRequests: number): Promise<Reference> {
  const result: Reference = { pgbenchTps: null, redisSet: null, redisGet: null, commands: [], notes: [] };
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
  return result;
}
