/**
 * The Redis coordinator: wake-ups over pub/sub, the due index, heartbeat entries and locks,
 * all disposable. It watches its own health: any failed command, a lost connection or a
 * missing index marker (FLUSHALL, a restart without persistence) makes it unhealthy with one
 * warning; the engine then works from SQL alone. When the server answers again the index is
 * rebuilt from SQL (its next due instant) and one line logs the recovery.
 */

import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import type { Coordinator, CoordinatorNode } from "../coordinator.js";
import type { StoreSignal } from "../store/contract.js";
import { PROCESS_ORIGIN, decodeSignal, encodeSignal } from "../store/sql/signal-bus.js";
import type { RedisKeys } from "./keys.js";
import { ANNOUNCE, BEAT, LEAVE, LOCK, PEEK, PRUNE, REBUILD_BEGIN, REBUILD_END, type Script } from "./scripts.js";

type Client = Redis | Cluster;

/**
 * Signals already relayed by a coordinator of this process: every node of a process hears the
 * same signal object from the store's in-process bus, and one of them sends it on.
 */
const relayed = new WeakSet<object>();

export interface RedisCoordinatorConfig {
  keys: RedisKeys;
  /** Makes (or hands over) the command connection; the coordinator closes it only if `owned`. */
  client(): Promise<Client>;
  owned: boolean;
  pollIntervalMs: number;
}

export class RedisCoordinator implements Coordinator {
  readonly name = "redis";
  readonly pollIntervalMs: number;
  private readonly keys: RedisKeys;
  private cmd!: Client;
  private readonly makeClient: () => Promise<Client>;
  private sub: Client | null = null;
  private node: CoordinatorNode | null = null;
  private unsubscribeStore: (() => void) | null = null;
  private stopped = false;
  /** Both connections are ready (and the subscription in place). */
  private cmdReady = false;
  private subReady = false;
  /** The index marker this node last verified ("ready:<gen>"); null: verify or rebuild first. */
  private marker: string | null = null;
  /** When the current outage began (Date.now()), or null while healthy. */
  private downSince: number | null = null;
  private downReason = "";
  /** Whether the store's own signals cross processes (PostgreSQL NOTIFY): then only the index is kept here. */
  private publishSignals = true;
  /** This node held the sweep lease at its last beat (see `sweeps`). */
  private sweeping = false;
  /** Marks this node's own announcements (`announce`), which it does not hear back. */
  private readonly origin = randomUUID();

  constructor(config: RedisCoordinatorConfig) {
    this.keys = config.keys;
    this.makeClient = config.client;
    this.pollIntervalMs = config.pollIntervalMs;
    this.owned = config.owned;
  }

  private readonly owned: boolean;

  get healthy(): boolean {
    return this.cmdReady && this.subReady && this.marker !== null && !this.stopped;
  }

  get carriesSignals(): boolean {
    return this.healthy && this.publishSignals;
  }

  get sweeps(): boolean {
    return !this.healthy || this.sweeping;
  }

  async start(node: CoordinatorNode): Promise<void> {
    this.node = node;
    this.publishSignals = !node.store.capabilities.signalsAcrossProcesses;
    const cmd = (this.cmd = await this.makeClient());
    cmd.on("error", (error: Error) => this.down(`connection error: ${error.message}`));
    cmd.on("close", () => {
      this.cmdReady = false;
      this.down("connection closed");
    });
    cmd.on("ready", () => {
      this.cmdReady = true;
      this.changed();
    });
    // A Cluster duplicates as a Cluster, a Redis as a Redis: either subscribes the same way.
    const sub = (this.sub = (cmd as Redis).duplicate() as Client);
    sub.on("error", (error: Error) => this.down(`subscriber error: ${error.message}`));
    sub.on("close", () => {
      this.subReady = false;
      this.down("subscriber closed");
    });
    sub.on("ready", () => {
      // ioredis subscribes again on reconnect before "ready".
      this.subReady = true;
      this.changed();
    });
    sub.on("message", (_channel: string, payload: string) => this.heard(payload));
    this.unsubscribeStore = node.store.signalSubscribe((signal) => this.relay(signal));
    this.cmdReady = cmd.status === "ready";
    try {
      if (cmd.status === "wait") await cmd.connect();
      this.cmdReady = true;
      if (sub.status === "wait") await sub.connect();
      await sub.subscribe(this.keys.channel);
      this.subReady = true;
    } catch (error) {
      this.down(`cannot connect: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.unsubscribeStore?.();
    if (this.cmdReady && this.node) {
      await this.run(LEAVE, [this.keys.beats, this.keys.sweep], [this.node.nodeId]).catch(() => {});
    }
    this.stopped = true;
    const sub = this.sub;
    if (sub) sub.disconnect();
    if (this.owned) this.cmd?.disconnect();
  }

  async nextDue({
    staleBefore,
    sql,
    verify = false,
  }: {
    staleBefore: Date;
    sql(): Promise<Date | null>;
    verify?: boolean;
  }): Promise<Date | null> {
    if (!this.cmdReady || this.stopped) return sql();
    if (this.marker === null) return this.rebuild(sql);
    let peeked: unknown;
    try {
      peeked = await this.run(PEEK, [this.keys.index, this.keys.due, this.keys.seq], []);
    } catch (error) {
      this.failed(error, "due index read");
      return sql();
    }
    if (!Array.isArray(peeked)) {
      this.marker = null;
      this.down("the due index is gone (FLUSHALL or a restart without data)");
      return this.rebuild(sql);
    }
    const [marker, first, seq] = peeked as [string, string, string];
    if (marker !== this.marker) this.marker = marker; // another node rebuilt it after a loss: trust the new one
    const at = first === "" ? null : Number(first);
    if (!verify) {
      if (at === null) return null;
      if (at > staleBefore.getTime()) return new Date(at);
    }
    // An entry whose claim time has come: claimed already, or still due. SQL decides.
    const truth = await sql();
    // Not awaited: the caller has its answer; a look before the prune lands only asks SQL again.
    this.run(
      PRUNE,
      [this.keys.index, this.keys.due, this.keys.dueSeq, this.keys.seq],
      [marker, truth === null ? "" : String(truth.getTime()), seq],
    ).catch((error: unknown) => this.failed(error, "due index prune"));
    // A look that only verified: an entry still ahead stands (SQL may not show it yet).
    if (verify && at !== null && at > staleBefore.getTime() && (truth === null || truth.getTime() > at)) {
      return new Date(at);
    }
    return truth;
  }

  async heartbeat({
    sqlHeartbeatAt,
    sweepLeaseMs,
  }: {
    sqlHeartbeatAt: Date;
    sweepLeaseMs: number;
  }): Promise<Map<string, string> | null> {
    if (!this.cmdReady || this.stopped || !this.node) return null;
    try {
      const [holder, flat] = (await this.run(
        BEAT,
        [this.keys.beats, this.keys.sweep],
        [this.node.nodeId, String(sqlHeartbeatAt.getTime()), String(Math.max(1, Math.round(sweepLeaseMs)))],
      )) as [string, string[]];
      this.sweeping = holder === this.node.nodeId;
      const beats = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) beats.set(flat[i]!, flat[i + 1]!);
      return beats;
    } catch (error) {
      this.sweeping = false;
      this.failed(error, "heartbeat");
      return null;
    }
  }

  async forgetNodes(nodeIds: readonly string[]): Promise<void> {
    if (nodeIds.length === 0 || !this.cmdReady) return;
    await this.cmd.hdel(this.keys.beats, ...nodeIds).catch((error: unknown) => this.failed(error, "forget nodes"));
  }

  async lockAcquire({
    names,
    ttlMs,
  }: {
    names: readonly string[];
    ttlMs: number;
  }): Promise<Map<string, number> | null> {
    if (!this.healthy || !this.node || names.length === 0) return null;
    try {
      const tokens = (await this.run(
        LOCK,
        [this.keys.lockSeq, ...names.map((name) => this.keys.lock(name))],
        [this.node.nodeId, String(Math.max(1, Math.round(ttlMs)))],
      )) as number[];
      const held = new Map<string, number>();
      names.forEach((name, i) => {
        if (tokens[i]) held.set(name, Number(tokens[i]));
      });
      return held;
    } catch (error) {
      this.failed(error, "lock");
      return null;
    }
  }

  announce(signal: StoreSignal): void {
    // With PostgreSQL NOTIFY every writer's change reaches the nodes already.
    if (!this.carriesSignals || this.stopped) return;
    this.cmd
      .publish(this.keys.channel, encodeSignal(signal, this.origin))
      .catch((error: unknown) => this.failed(error, "announce"));
  }

  /** A signal of this process's store: into the index (due), and to other processes. */
  private relay(signal: StoreSignal): void {
    if (relayed.has(signal) || this.stopped) return;
    if (signal.type !== "due" && !this.publishSignals) return;
    if (!this.cmdReady) return; // lost: the index is rebuilt and other nodes poll until then
    relayed.add(signal);
    const payload = encodeSignal(signal, PROCESS_ORIGIN);
    const channel = this.publishSignals ? this.keys.channel : "";
    const sent =
      signal.type === "due"
        ? this.run(
            ANNOUNCE,
            [this.keys.due, this.keys.dueSeq, this.keys.seq],
            [String(signal.at.getTime()), channel, payload],
          )
        : this.cmd.publish(this.keys.channel, payload);
    // A lost announcement leaves a hole in the index: rebuild it before trusting it again.
    sent.catch((error: unknown) => this.failed(error, "announce"));
  }

  private heard(payload: string): void {
    const decoded = decodeSignal(payload);
    // This process's own signals reached its nodes through the store already.
    if (!decoded || decoded.origin === PROCESS_ORIGIN || decoded.origin === this.origin || !this.node) return;
    try {
      this.node.onSignal(decoded.signal);
    } catch {
      // the engine's listener guards itself
    }
  }

  /** Rebuilds the index from SQL's next due instant; returns that instant. */
  private async rebuild(sql: () => Promise<Date | null>): Promise<Date | null> {
    const token = randomUUID();
    const indexKeys = [this.keys.index, this.keys.due, this.keys.dueSeq, this.keys.seq];
    let began: unknown;
    try {
      began = await this.run(REBUILD_BEGIN, [this.keys.index], [token]);
    } catch (error) {
      this.failed(error, "due index rebuild");
      return sql();
    }
    const truth = await sql();
    try {
      const marker = await this.run(REBUILD_END, indexKeys, [
        token,
        truth === null ? "" : String(truth.getTime()),
        randomUUID(),
      ]);
      if (typeof marker === "string") {
        this.marker = marker;
        if (typeof began !== "string")
          this.node?.log.debug({ nodeId: this.node.nodeId }, "redis due index rebuilt from SQL");
        this.changed();
      }
    } catch (error) {
      this.failed(error, "due index rebuild");
    }
    return truth;
  }

  private async run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.cmd.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes("NOSCRIPT")) throw error;
      return this.cmd.eval(script.lua, keys.length, ...keys, ...args);
    }
  }

  /** A command failed: unhealthy until the index is verified again (the failure may have left a hole). */
  private failed(error: unknown, during: string): void {
    this.marker = null;
    this.down(`${during} failed: ${error instanceof Error ? error.message : String(error)}`);
  }

  private down(reason: string): void {
    if (this.stopped || !this.node || this.downSince !== null) return;
    this.downSince = Date.now();
    this.downReason = reason;
    this.marker = null;
    this.sweeping = false;
    const { nodeId, log } = this.node;
    log.warn(
      { nodeId, coordinator: "redis", outage: "start", reason },
      `[tickerq ${nodeId}] redis coordinator unavailable (${reason}): running on SQL alone (polling) until it answers`,
    );
    this.node.onHealthChange(false);
  }

  /** Something came back: if healthy now, log the recovery and let the engine look for work. */
  private changed(): void {
    if (!this.node || this.stopped) return;
    if (!this.healthy) {
      // Connected but the index is unverified: the engine's next look (now) rebuilds it.
      if (this.cmdReady && this.subReady) this.node.onHealthChange(false);
      return;
    }
    if (this.downSince === null) return;
    const ms = Date.now() - this.downSince;
    this.downSince = null;
    const { nodeId, log } = this.node;
    log.warn(
      { nodeId, coordinator: "redis", outage: "end", outageMs: ms, reason: this.downReason },
      `[tickerq ${nodeId}] redis coordinator recovered after ${ms} ms: due index rebuilt from SQL, wake-ups back`,
    );
    this.node.onHealthChange(true);
  }
}
