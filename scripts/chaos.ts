/**
 * The chaos run: three tickerq nodes on a dedicated PostgreSQL cluster or mariadbd behind the
 * fault proxy, a continuous load of time tickers and a per-second cron, and random faults
 * from the fault suite's list for N minutes. Prints a line per fault (its recovery time) and
 * at the end lost / doubled (outside the killed-or-stopped exemption) / stuck counts and the
 * recovery time p50 and max. Exits 1 when anything broke. Not part of `npm test`.
 *
 *   npm run chaos -- --minutes 10 [--store pg|mysql] [--seed 42] [--rate 50]
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { formatReport, summary } from "../test/faults/checker.js";
import { FaultCluster, sleep, viaProxy } from "../test/faults/cluster.js";
import { createMariaDb, createPostgresCluster, type DedicatedServer } from "../test/faults/servers.js";
import { startTcpProxy, type TcpProxy } from "../test/faults/tcp-proxy.js";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    store: { type: "string", default: "pg" },
    seed: { type: "string" },
    rate: { type: "string", default: "50" },
    lease: { type: "string", default: "2000" },
  },
});
const minutes = Number(values.minutes);
const store = values.store === "mysql" || values.store === "mariadb" ? "mysql" : "pg";
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const ratePerSecond = Number(values.rate);
const leaseMs = Number(values.lease);
if (!(minutes > 0) || !(ratePerSecond > 0) || !(leaseMs >= 500)) {
  console.error("usage: npm run chaos -- --minutes 10 [--store pg|mysql] [--seed N] [--rate 50] [--lease 2000]");
  process.exit(2);
}

/** mulberry32: a seeded generator, so a run can be repeated with --seed. */
function random(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const between = (min: number, max: number) => Math.round(min + rand() * (max - min));

interface Fault {
  name: string;
  run(): Promise<void>;
}

function faults(cluster: FaultCluster, proxy: TcpProxy, server: DedicatedServer): Fault[] {
  const node = () => between(0, cluster.nodes.length - 1);
  const list: Fault[] = [
    { name: "cut all connections", run: async () => proxy.cut() },
    {
      name: "black hole past the lease",
      run: async () => {
        proxy.blackhole(true);
        await sleep(between(leaseMs * 1.2, leaseMs * 2.5));
        if (rand() < 0.5) proxy.cut();
        proxy.blackhole(false);
      },
    },
    {
      name: "delay",
      run: async () => {
        proxy.delay(between(50, 400));
        await sleep(between(2000, 5000));
        proxy.delay(0);
      },
    },
    {
      name: "refuse new connections",
      run: async () => {
        proxy.refuse(true);
        proxy.cut();
        await sleep(between(500, leaseMs * 2));
        proxy.refuse(false);
      },
    },
    {
      name: "lost replies",
      run: async () => {
        // PostgreSQL: a claim's reply carries its rows (Queued/InProgress); MariaDB: any reply in a short window.
        const drop =
          server.kind === "postgres"
            ? proxy.dropNextReplies({ count: between(1, 3), reply: /Queued|InProgress/ })
            : proxy.dropNextReplies({ ms: between(50, 300) });
        await Promise.race([drop, sleep(5000)]);
      },
    },
    {
      name: "kill -9 a node and restart it",
      run: async () => {
        const i = node();
        await cluster.kill(i);
        await sleep(between(0, leaseMs));
        await cluster.restart(i);
      },
    },
    {
      name: "SIGSTOP a node past its lease",
      run: async () => {
        const i = node();
        cluster.stop(i);
        await sleep(between(leaseMs * 1.2, leaseMs * 2.5));
        cluster.cont(i);
      },
    },
    {
      name: server.kind === "postgres" ? "restart PostgreSQL -m fast" : "kill -9 mariadbd and restart it",
      run: async () => {
        await server.stop(server.kind === "postgres" ? "fast" : "kill");
        await server.start();
      },
    },
  ];
  if (server.kind === "postgres") {
    list.push({
      name: "restart PostgreSQL -m immediate",
      run: async () => {
        await server.stop("immediate");
        await server.start();
      },
    });
  }
  return list;
}

const started = Date.now();
const clock = () => {
  const s = Math.floor((Date.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
const log = (line: string) => console.log(`[${clock()}] ${line}`);

let interrupted = false;
process.on("SIGINT", () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log("interrupted: finishing and checking (Ctrl-C again to quit at once)");
});

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;

async function main(): Promise<number> {
  log(`chaos: ${minutes} min on ${store}, seed ${seed}, ${ratePerSecond} tickers/s, lease ${leaseMs} ms`);
  const dir = mkdtempSync(join(tmpdir(), "tickerq-chaos-"));
  const server = store === "pg" ? await createPostgresCluster() : await createMariaDb();
  const proxy = await startTcpProxy({ port: server.port });
  let cluster: FaultCluster | null = null;
  try {
    cluster = await FaultCluster.start({
      url: viaProxy(server.url, proxy.port),
      observeUrl: server.url,
      dir,
      leaseTimeoutMs: leaseMs,
      heartbeatIntervalMs: Math.max(100, Math.round(leaseMs / 6)),
      log: (line) => (line.startsWith("fault ") ? undefined : log(line)),
    });
    const running = cluster;
    log(`3 nodes ready; side effects in ${dir}`);
    const endAt = started + minutes * 60_000;

    // The load: every second, the next second's tickers (a batch lost to an outage is simply not counted).
    let loading = true;
    const load = (async () => {
      await running.seed({ tickers: ratePerSecond, spreadMs: 1000, startInMs: 500 });
      while (loading) {
        await sleep(1000);
        await running.seed({ tickers: ratePerSecond, spreadMs: 1000, startInMs: 500, cron: false }).catch(() => {});
      }
    })();

    const list = faults(running, proxy, server);
    let n = 0;
    while (!interrupted && Date.now() < endAt - 15_000) {
      await sleep(between(2000, 6000));
      if (interrupted) break;
      const fault = pick(list);
      const window = await running.fault(fault.name, fault.run);
      n++;
      log(
        `#${n} ${fault.name}: ${window.to - window.from} ms, recovery ${window.recoveryMs === null ? "NOT within 20 s" : `${window.recoveryMs} ms`}, stuck 2× lease after ${window.stuckAfterLease?.length ?? 0}; ${running.workIds.length} tickers so far`,
      );
    }
    loading = false;
    await load;
    log("load stopped; waiting for the last tickers, then checking");
    const report = await running.finish();
    const counts = summary(report);
    const recoveries = report.faults
      .map((w) => w.recoveryMs)
      .filter((ms): ms is number => typeof ms === "number")
      .sort((a, b) => a - b);
    console.log(
      `\n${formatReport(report)
        .split("\n")
        .filter((l) => !l.startsWith("  fault "))
        .join("\n")}`,
    );
    console.log(
      `\nchaos result (${store}, ${minutes} min, seed ${seed}): ${report.faults.length} faults, ${report.tickers} tickers\n` +
        `  lost ${counts.lost} · doubled ${counts.doubled} (outside the killed/stopped exemption) · stuck ${counts.stuck + counts.stuckAfterLease} · node exits ${counts.nodeExits} · history mismatches ${counts.historyMismatch} · cron missing ${counts.cronMissing} duplicate ${counts.cronDuplicate}\n` +
        `  recovery after a fault: p50 ${percentile(recoveries, 0.5)} ms, max ${recoveries.at(-1) ?? NaN} ms` +
        `${counts.unrecoveredFaults ? `, ${counts.unrecoveredFaults} not recovered within 20 s` : ""}`,
    );
    return report.ok ? 0 : 1;
  } finally {
    await cluster?.close();
    await proxy.close();
    await server.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
