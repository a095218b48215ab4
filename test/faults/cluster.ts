/**
 * Three (or n) tickerq node processes against one store for the fault tests: a workload of
 * time tickers and a per-second cron, controls that kill, stop, continue and restart a node,
 * fault windows with their recovery time, and the final check (checker.ts).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTickerQ, defineFunction, type TickerStatus } from "../../src/index.js";
import { storeForUrl } from "../../src/cli.js";
import type { SqlStoreHandle } from "../../src/store/sql/sql-store.js";
import { checkRun, type FaultReport, type FaultWindow, type ProcessEvent, type UnexpectedExit } from "./checker.js";
import type { FaultNodeConfig, LogEntry } from "./fault-node.js";

const script = fileURLToPath(new URL("./fault-node.ts", import.meta.url));
const OPEN: TickerStatus[] = ["Idle", "Queued", "InProgress"];

export interface ClusterOptions {
  /** Where the nodes connect (usually through the proxy); a function gives each node its own (one proxy per node). */
  url: string | ((index: number) => string);
  /** Where the test itself reads and seeds (directly). @default url (of node 0) */
  observeUrl?: string;
  schema?: string;
  /** A directory of this run's own: the side-effect files go here. */
  dir: string;
  /** @default 3 */
  nodes?: number;
  /** @default 250 */
  heartbeatIntervalMs?: number;
  /** @default 2000 */
  leaseTimeoutMs?: number;
  /** How long each Work handler works. @default 20 */
  workMs?: number;
  /** @default 8 */
  maxConcurrency?: number;
  /** How long to wait for recovery after a fault. @default 20000 */
  recoveryTimeoutMs?: number;
  /** Print progress lines. */
  log?: (line: string) => void;
  /** Each node gets a Redis coordinator (url per node, e.g. through its own proxy); `pollIntervalMs` its safety poll. */
  redis?: { url: string | ((index: number) => string); prefix: string; pollIntervalMs?: number };
  /** PostgreSQL only: false, the nodes open no LISTEN connection (as behind PgBouncer). */
  listen?: boolean;
  /** Each node writes its log lines and the signals its coordinator hears to a file (see `logEntries`). */
  logs?: boolean;
}

interface NodeHandle {
  nodeId: string;
  child: ChildProcess;
  pid: number;
  stderr: string;
  ready: Promise<void>;
  /** Set when the test itself ends the process (kill -9, final stop). */
  expectedExit: boolean;
  exited: Promise<void>;
  /** Waiting for the answers to commands, in order. */
  answers: ((line: string) => void)[];
}

/** A TickerQ that is never started: the test adds tickers through it. */
const makeProducer = (store: SqlStoreHandle) =>
  createTickerQ({
    functions: [defineFunction("Work", async () => {}), defineFunction("Tick", async () => {})],
    store,
    closeStoreOnStop: false,
    logger: null,
  });

/** The same database URL with its host and port replaced by the proxy's. */
export function viaProxy(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(port);
  return u.toString();
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FaultCluster {
  readonly nodes: NodeHandle[] = [];
  readonly windows: FaultWindow[] = [];
  readonly events: ProcessEvent[] = [];
  readonly exits: UnexpectedExit[] = [];
  readonly workIds: string[] = [];
  cronTickerId: string | null = null;
  private cronFrom: number | null = null;
  private producer: ReturnType<typeof makeProducer> | null = null;
  private lastDueAt = 0;
  private readonly stopped = new Map<number, number>();
  private readonly opts: Required<Omit<ClusterOptions, "schema" | "log" | "redis" | "listen" | "logs">> &
    Pick<ClusterOptions, "schema" | "log" | "redis" | "listen" | "logs">;

  private constructor(
    options: ClusterOptions,
    readonly store: SqlStoreHandle,
  ) {
    this.opts = {
      observeUrl: typeof options.url === "string" ? options.url : options.url(0),
      nodes: 3,
      heartbeatIntervalMs: 250,
      leaseTimeoutMs: 2000,
      workMs: 20,
      maxConcurrency: 8,
      recoveryTimeoutMs: 20_000,
      ...options,
    };
  }

  /** Opens the observer store (migrating the schema), then starts the nodes and waits until each is ready. */
  static async start(options: ClusterOptions): Promise<FaultCluster> {
    mkdirSync(options.dir, { recursive: true });
    const schema = options.schema ? { schema: options.schema } : {};
    const observeUrl = options.observeUrl ?? (typeof options.url === "string" ? options.url : options.url(0));
    const store = await storeForUrl(observeUrl, schema);
    await store.init();
    const cluster = new FaultCluster(options, store);
    try {
      for (let i = 0; i < cluster.opts.nodes; i++) cluster.spawnNode(`node-${i}`);
      await Promise.all(cluster.nodes.map((n) => n.ready));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  get leaseTimeoutMs(): number {
    return this.opts.leaseTimeoutMs;
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  private spawnNode(nodeId: string, index = this.nodes.length): NodeHandle {
    const config: FaultNodeConfig = {
      url: typeof this.opts.url === "string" ? this.opts.url : this.opts.url(index),
      schema: this.opts.schema,
      nodeId,
      effectsFile: "",
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      leaseTimeoutMs: this.opts.leaseTimeoutMs,
      workMs: this.opts.workMs,
      maxConcurrency: this.opts.maxConcurrency,
    };
    const { redis } = this.opts;
    if (redis) {
      const url = typeof redis.url === "string" ? redis.url : redis.url(index);
      config.redis = { url, prefix: redis.prefix, pollIntervalMs: redis.pollIntervalMs };
    }
    if (this.opts.listen !== undefined) config.listen = this.opts.listen;
    // The file is named after the node and a sequence number; its lines carry the pid.
    const name = `${nodeId}-${Date.now()}-${index}`;
    config.effectsFile = join(this.opts.dir, `${name}.jsonl`);
    if (this.opts.logs) config.logFile = join(this.opts.dir, `${name}.log`);
    const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    const handle: NodeHandle = {
      nodeId,
      child,
      pid: child.pid ?? -1,
      stderr: "",
      expectedExit: false,
      ready: Promise.resolve(),
      exited: Promise.resolve(),
      answers: [],
    };
    let pending = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        if (line !== "ready") handle.answers.shift()?.(line);
      }
    });
    child.stdin!.on("error", () => {}); // a killed node's input is closed
    child.stderr!.on("data", (chunk: Buffer) => {
      handle.stderr = (handle.stderr + chunk.toString()).slice(-4000);
    });
    handle.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        if (!handle.expectedExit) {
          const exit = {
            nodeId,
            pid: handle.pid,
            code,
            signal,
            at: Date.now(),
            stderrTail: handle.stderr.slice(-1500),
          };
          this.exits.push(exit);
          this.log(`!! ${nodeId} (pid ${handle.pid}) exited unexpectedly: code ${code}, signal ${signal}`);
        }
        resolve();
      }),
    );
    handle.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${nodeId} not ready within 60 s: ${handle.stderr}`)), 60_000);
      child.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`${nodeId} exited before ready: ${handle.stderr}`));
      });
      child.stdout!.on("data", (chunk: Buffer) => {
        if (!chunk.toString().includes("ready")) return;
        clearTimeout(timer);
        resolve();
      });
    });
    // A restart during an outage may never get ready in time; that is reported by the check, not thrown here.
    handle.ready.catch(() => {});
    this.nodes[index] = handle;
    return handle;
  }

  /**
   * Adds `tickers` Work tickers due evenly over the next `spreadMs` (from `startInMs`) and,
   * unless `cron` is false, a per-second cron ticker.
   */
  async seed(workload: { tickers: number; spreadMs: number; startInMs?: number; cron?: boolean }): Promise<void> {
    const producer = (this.producer ??= makeProducer(this.store));
    const base = Date.now() + (workload.startInMs ?? 1000);
    const step = workload.spreadMs / Math.max(1, workload.tickers);
    const inputs = Array.from({ length: workload.tickers }, (_, i) => ({
      function: "Work" as const,
      executionTime: new Date(Math.round(base + i * step)),
    }));
    for (let i = 0; i < inputs.length; i += 1000) {
      const added = await producer.timeTickers.addMany(inputs.slice(i, i + 1000));
      this.workIds.push(...added.map((t) => t.id));
    }
    this.lastDueAt = Math.max(this.lastDueAt, base + workload.spreadMs);
    if (workload.cron !== false && !this.cronTickerId) {
      const cron = await producer.cronTickers.add({ function: "Tick", expression: "* * * * * *" });
      this.cronTickerId = cron.id;
      // Nodes learn of the new ticker at their next poll or signal: check from 2 s on.
      this.cronFrom = Math.ceil(Date.now() / 1000) + 2;
    }
  }

  private node(index: number): NodeHandle {
    const node = this.nodes[index];
    if (!node) throw new Error(`no node ${index}`);
    return node;
  }

  /** kill -9. The node's unfinished runs are exempt from "once" (it died). */
  async kill(index: number): Promise<void> {
    const node = this.node(index);
    node.expectedExit = true;
    node.child.kill("SIGKILL");
    await node.exited;
    this.events.push({ kind: "kill", nodeId: node.nodeId, pid: node.pid, at: Date.now() });
    this.log(`kill -9 ${node.nodeId} (pid ${node.pid})`);
  }

  /** Sends a command to node `index` (see fault-node.ts) and resolves with its answer. */
  async command(index: number, line: string): Promise<string> {
    const node = this.node(index);
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${node.nodeId}: no answer to ${line} within 10 s`)), 10_000);
      node.answers.push((text) => (clearTimeout(timer), resolve(text)));
    });
    node.child.stdin!.write(`${line}\n`);
    return answer;
  }

  /** What node `index` (every process of its id) wrote to its log file so far (option `logs`). */
  logEntries(index: number): LogEntry[] {
    const prefix = `${this.node(index).nodeId}-`;
    return readdirSync(this.opts.dir)
      .filter((file) => file.startsWith(prefix) && file.endsWith(".log"))
      .flatMap((file) => readFileSync(join(this.opts.dir, file), "utf8").split("\n"))
      .filter((text) => text !== "")
      .flatMap((text) => {
        try {
          return [JSON.parse(text) as LogEntry];
        } catch {
          return []; // a torn last line
        }
      });
  }

  stop(index: number): void {
    const node = this.node(index);
    node.child.kill("SIGSTOP");
    this.stopped.set(node.pid, Date.now());
    this.log(`SIGSTOP ${node.nodeId} (pid ${node.pid})`);
  }

  cont(index: number): void {
    const node = this.node(index);
    const from = this.stopped.get(node.pid) ?? Date.now();
    this.stopped.delete(node.pid);
    node.child.kill("SIGCONT");
    this.events.push({ kind: "stop", nodeId: node.nodeId, pid: node.pid, from, to: Date.now() });
    this.log(`SIGCONT ${node.nodeId} (pid ${node.pid})`);
  }

  /** A new process with the same nodeId (after kill()); resolves once it is ready, or after 30 s. */
  async restart(index: number): Promise<void> {
    const old = this.node(index);
    if (old.child.exitCode === null && old.child.signalCode === null) await this.kill(index);
    const node = this.spawnNode(old.nodeId, index);
    await Promise.race([node.ready.catch(() => {}), sleep(30_000)]);
    this.log(`restarted ${node.nodeId} (pid ${node.pid})`);
  }

  /**
   * Runs `inject` as a fault from now until it resolves (the window), then waits for
   * recovery: every Work ticker due before the window's end is final. Samples the jobs still
   * leased from before the end at 2× the lease.
   */
  async fault(name: string, inject: () => Promise<void>): Promise<FaultWindow> {
    const window: FaultWindow = { name, from: Date.now(), to: 0 };
    this.windows.push(window);
    this.log(`fault ${name} ...`);
    try {
      await inject();
    } finally {
      window.to = Date.now();
    }
    await this.measureRecovery(window);
    this.log(
      `fault ${name}: ${window.to - window.from} ms, recovered ${window.recoveryMs === null ? "NOT" : `in ${window.recoveryMs} ms`}, stuck 2× lease after: ${window.stuckAfterLease?.length ?? 0}`,
    );
    return window;
  }

  private async measureRecovery(window: FaultWindow): Promise<void> {
    const end = window.to;
    const checkStuckAt = end + 2 * this.opts.leaseTimeoutMs;
    const deadline = end + Math.max(this.opts.recoveryTimeoutMs, 2 * this.opts.leaseTimeoutMs + 1000);
    window.recoveryMs = null;
    for (let polls = 0; Date.now() < deadline && polls < 10_000; polls++) {
      const open = await this.store.jobList({ function: "Work", status: OPEN, limit: 1_000_000 }).catch(() => null);
      if (open) {
        // Retries and recoveries keep scheduledFor: it says when the job was first due.
        const pending = open.items.filter((job) => (job.scheduledFor ?? job.executionTime)!.getTime() <= end);
        if (window.stuckAfterLease === undefined && Date.now() >= checkStuckAt) {
          window.stuckAfterLease = open.items
            .filter((job) => job.status !== "Idle" && job.lockedAt !== null && job.lockedAt.getTime() <= end)
            .map((job) => job.id);
        }
        if (pending.length === 0 && window.recoveryMs === null) window.recoveryMs = Date.now() - end;
        if (window.recoveryMs !== null && window.stuckAfterLease !== undefined) return;
      }
      await sleep(200);
    }
    window.stuckAfterLease ??= [];
  }

  /** Waits (bounded by `timeoutMs`) until this fraction of the Work tickers is final. */
  async untilFinal(fraction: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let polls = 0; polls < 10_000; polls++) {
      const counts = await this.store.jobCountByStatus({ function: "Work" }).catch(() => null);
      const open = counts ? OPEN.reduce((n, status) => n + counts[status], 0) : Infinity;
      if (this.workIds.length - open >= fraction * this.workIds.length) return;
      if (Date.now() > deadline)
        throw new Error(`fewer than ${fraction * 100}% of the tickers final after ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  /** Whether node `index` holds a job InProgress right now (by the store). */
  async holdsRunning(index: number): Promise<boolean> {
    const running = await this.store.jobList({ status: "InProgress", function: "Work", limit: 1000 });
    return running.items.some((job) => job.lockHolder === this.node(index).nodeId);
  }

  /**
   * Waits (bounded) until every Work ticker is final, stops the nodes with SIGTERM and
   * checks the run.
   */
  async finish(): Promise<FaultReport> {
    const deadline = Math.max(Date.now(), this.lastDueAt) + 20_000;
    for (let polls = 0; Date.now() < deadline && polls < 10_000; polls++) {
      const counts = await this.store.jobCountByStatus({ function: "Work" }).catch(() => null);
      if (counts && OPEN.every((status) => counts[status] === 0)) break;
      await sleep(250);
    }
    const stopAt = Date.now();
    await this.stopNodes();
    return checkRun({
      store: this.store,
      effectsDir: this.opts.dir,
      workIds: this.workIds,
      cronTickerId: this.cronTickerId,
      cronRange: this.cronFrom === null ? null : { from: this.cronFrom, to: Math.floor(stopAt / 1000) - 2 },
      windows: this.windows,
      processEvents: this.events,
      exits: this.exits,
    });
  }

  private async stopNodes(): Promise<void> {
    for (const pid of this.stopped.keys()) {
      const index = this.nodes.findIndex((n) => n.pid === pid);
      if (index >= 0) this.cont(index);
    }
    await Promise.all(
      this.nodes.map(async (node) => {
        if (node.child.exitCode !== null || node.child.signalCode !== null) return;
        node.expectedExit = true;
        node.child.kill("SIGTERM");
        const stopped = await Promise.race([node.exited.then(() => true), sleep(15_000).then(() => false)]);
        if (!stopped) {
          this.exits.push({
            nodeId: node.nodeId,
            pid: node.pid,
            code: null,
            signal: "did not stop within 15 s of SIGTERM",
            at: Date.now(),
            stderrTail: node.stderr.slice(-1500),
          });
          node.child.kill("SIGKILL");
          await node.exited;
        }
      }),
    );
  }

  /** Kills whatever still runs and closes the observer store. Safe after finish(). */
  async close(): Promise<void> {
    for (const node of this.nodes) {
      if (node.child.exitCode === null && node.child.signalCode === null) {
        node.expectedExit = true;
        node.child.kill("SIGCONT");
        node.child.kill("SIGKILL");
        await node.exited;
      }
    }
    await this.store.close().catch(() => {});
  }
}

export interface ScenarioOptions extends ClusterOptions {
  /** @default 2000 */
  tickers?: number;
  /** The tickers are due evenly over this long. @default 12000 */
  spreadMs?: number;
  /** Runs once the workload is added (e.g. to announce it as a writer with a coordinator would). */
  seeded?: (cluster: FaultCluster) => Promise<void>;
  /** The faults, injected once a fifth of the work is final. */
  inject: (cluster: FaultCluster) => Promise<void>;
}

/** Starts the nodes, seeds the workload, injects the faults, finishes and checks; always cleans up. */
export async function runScenario(options: ScenarioOptions): Promise<FaultReport> {
  const cluster = await FaultCluster.start(options);
  try {
    await cluster.seed({ tickers: options.tickers ?? 2000, spreadMs: options.spreadMs ?? 12_000 });
    await options.seeded?.(cluster);
    await cluster.untilFinal(0.2);
    await options.inject(cluster);
    const report = await cluster.finish();
    // Kept beside the side-effect files (TICKERQ_FAULTS_KEEP=1 keeps the directory) for a closer look.
    writeFileSync(join(options.dir, "report.json"), JSON.stringify(report, null, 2));
    return report;
  } finally {
    await cluster.close();
  }
}

/**
 * Polls (bounded) until `check` holds. Inside a fault a timeout only goes on: what did not
 * happen shows in the report (stuck leases), which says more than a timeout would.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  must = true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let polls = 0; !(await check()); polls++) {
    if (Date.now() > deadline || polls > 10_000) {
      if (must) throw new Error(`timed out waiting until ${what}`);
      console.warn(`not within ${timeoutMs} ms: ${what}; going on`);
      return;
    }
    await sleep(100);
  }
}

/** (b): node 1 stops while running work; the others take its leases; then it continues. */
export async function stopPastLeaseOthersReclaim(cluster: FaultCluster): Promise<void> {
  await until("node 1 runs work", () => cluster.holdsRunning(1), 15_000);
  await cluster.fault("SIGSTOP node 1 for 2× lease, others reclaim", async () => {
    cluster.stop(1);
    await until(
      "node 1's leases are taken back",
      async () =>
        !(await cluster.store.jobList({ status: ["Queued", "InProgress"], limit: 100_000 })).items.some(
          (job) => job.lockHolder === cluster.nodes[1]!.nodeId,
        ),
      4 * cluster.leaseTimeoutMs + 5000,
      false,
    );
    await sleep(cluster.leaseTimeoutMs / 2);
    cluster.cont(1);
  });
}

/** (a): the operator pauses nodes 0 and 2; node 1 stops, its leases are recovered, it continues and claims them again. */
export async function stopPastLeaseSameReclaims(cluster: FaultCluster): Promise<void> {
  const ids = cluster.nodes.map((node) => node.nodeId);
  await until("node 1 runs work", () => cluster.holdsRunning(1), 15_000);
  await cluster.fault("SIGSTOP node 1 past its lease, it reclaims its own work", async () => {
    for (const i of [0, 2]) await cluster.store.nodeSetPaused({ nodeId: ids[i]!, paused: true });
    cluster.stop(1);
    await until(
      "node 1's leases are taken back",
      async () =>
        !(await cluster.store.jobList({ status: ["Queued", "InProgress"], limit: 100_000 })).items.some(
          (job) => job.lockHolder === ids[1],
        ),
      4 * cluster.leaseTimeoutMs + 5000,
      false,
    );
    cluster.cont(1);
    await until(
      "node 1 holds work again",
      async () =>
        (await cluster.store.jobList({ status: ["Queued", "InProgress"], limit: 100_000 })).items.some(
          (job) => job.lockHolder === ids[1],
        ),
      10_000,
      false,
    );
    await sleep(cluster.leaseTimeoutMs / 2);
    for (const i of [0, 2]) await cluster.store.nodeSetPaused({ nodeId: ids[i]!, paused: false });
  });
}
