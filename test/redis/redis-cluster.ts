/**
 * A throwaway Redis Cluster of three masters for one test: redis-server processes in cluster
 * mode on free loopback ports, each with its own data dir, joined by `redis-cli --cluster
 * create`. `remove()` kills them and deletes the dirs (so does process exit, if the test dies).
 */

import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort, waitUntil } from "../faults/servers.js";

const run = promisify(execFile);

export interface RedisCluster {
  /** Where the masters listen, for `new Cluster(nodes)`. */
  readonly nodes: { host: string; port: number }[];
  /** A plain connection to one master (CLUSTER KEYSLOT, CLUSTER INFO); closed by remove(). */
  readonly admin: Redis;
  remove(): Promise<void>;
}

/**
 * Whether redis-server and redis-cli are installed: on CI their absence fails the run, elsewhere
 * the test is skipped with a loud warning.
 */
export function clusterToolsInstalled(): boolean {
  const missing = ["redis-server", "redis-cli"].filter((tool) => {
    try {
      execFileSync("which", [tool], { stdio: "ignore" });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  const message = `cannot start a Redis Cluster: ${missing.join(", ")} not installed`;
  if (process.env.CI) throw new Error(`${message}; CI needs them.`);
  console.warn(`\n*** SKIPPING the Redis Cluster test: ${message}.\n*** With CI=1 this test fails instead.\n`);
  return false;
}

export async function createRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), `tq-redis-cluster-${process.pid}-`));
  const children: ChildProcess[] = [];
  const clients: Redis[] = [];
  const killAll = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  const onExit = () => (killAll(), rmSync(dir, { recursive: true, force: true }));
  process.once("exit", onExit);
  const remove = async () => {
    process.off("exit", onExit);
    for (const client of clients) client.disconnect();
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const nodes: { host: string; port: number }[] = [];
    for (let i = 0; i < 3; i++) {
      // The bus port is set apart: the default, port + 10000, may pass 65535.
      const [port, busPort] = [await freePort(), await freePort()];
      const data = join(dir, String(port));
      mkdirSync(data);
      const args = [
        ["--port", String(port)],
        ["--cluster-port", String(busPort)],
        ["--bind", "127.0.0.1"],
        ["--cluster-enabled", "yes"],
        ["--cluster-config-file", "nodes.conf"],
        ["--dir", data],
        ["--save", ""],
        ["--appendonly", "no"],
      ].flat();
      const child = spawn("redis-server", args, { stdio: "ignore" });
      child.on("error", () => {});
      children.push(child);
      nodes.push({ host: "127.0.0.1", port });
      const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0 });
      client.on("error", () => {});
      clients.push(client);
      await waitUntil(`redis-server on ${port} answers`, async () => (await client.ping()) === "PONG", 10_000);
    }
    const addresses = nodes.map((n) => `${n.host}:${n.port}`);
    await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", "0", "--cluster-yes"]);
    for (const client of clients) {
      await waitUntil(
        "cluster_state:ok",
        async () => /cluster_state:ok/.test(String(await client.cluster("INFO"))),
        20_000,
      );
    }
    return { nodes, admin: clients[0]!, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
