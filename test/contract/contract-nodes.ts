/** Contract cases for node heartbeats, operator pauses, and signals between nodes. */

import { expect, it } from "vitest";
import type { StoreSignal } from "../../src/store/contract.js";
import type { CurrentStore } from "./store-contract.js";
import { at, nextSignal, nodeInfo } from "./fixtures.js";

export function nodesContract(get: CurrentStore): void {
  it("upserts heartbeats, lists nodes, pauses and removes them", async () => {
    const store = get();
    expect(await store.nodeList()).toEqual([]);
    expect(await store.nodeHeartbeat({ nodeId: "a", at: at(0), info: nodeInfo({ active: 1 }) })).toEqual({
      paused: false,
    });
    expect(await store.nodeHeartbeat({ nodeId: "b", at: at(1), info: nodeInfo() })).toEqual({ paused: false });
    expect(
      await store.nodeHeartbeat({ nodeId: "a", at: at(5.5), info: nodeInfo({ active: 3, executed: 7, failed: 1 }) }),
    ).toEqual({ paused: false });
    const nodes = await store.nodeList();
    expect(nodes.map((n) => n.nodeId).sort()).toEqual(["a", "b"]);
    expect(nodes.find((n) => n.nodeId === "a")).toEqual({
      nodeId: "a",
      startedAt: at(0),
      heartbeatAt: at(5.5),
      paused: false,
      info: nodeInfo({ active: 3, executed: 7, failed: 1 }),
    });

    const signal = nextSignal(store, (s) => (s.type === "node" ? s.nodeId : undefined));
    expect(await store.nodeSetPaused({ nodeId: "a", paused: true })).toBe(true);
    expect(await signal).toBe("a");
    expect(await store.nodeSetPaused({ nodeId: "missing", paused: true })).toBe(false);
    expect(await store.nodeHeartbeat({ nodeId: "a", at: at(6), info: nodeInfo() })).toEqual({ paused: true });
    expect((await store.nodeList()).find((n) => n.nodeId === "a")?.paused).toBe(true);
    await store.nodeSetPaused({ nodeId: "a", paused: false });
    expect(await store.nodeHeartbeat({ nodeId: "a", at: at(7), info: nodeInfo() })).toEqual({ paused: false });

    await store.nodeRemove({ nodeId: "a" });
    await store.nodeRemove({ nodeId: "missing" });
    expect((await store.nodeList()).map((n) => n.nodeId)).toEqual(["b"]);
  });

  it("delivers published signals to subscribers until they unsubscribe", async () => {
    const store = get();
    const seen: StoreSignal[] = [];
    const off = store.signalSubscribe((s) => seen.push(s));
    const last = nextSignal(store, (s) => (s.type === "node" && s.nodeId === "last" ? s : undefined));
    await store.signalPublish({ type: "cancel", id: "job-1" });
    await store.signalPublish({ type: "due", at: at(3.5) });
    await store.signalPublish({ type: "cron" });
    await store.signalPublish({ type: "node", nodeId: "last" });
    await last;
    off();
    expect(seen).toEqual([
      { type: "cancel", id: "job-1" },
      { type: "due", at: at(3.5) },
      { type: "cron" },
      { type: "node", nodeId: "last" },
    ]);
    const after = nextSignal(store, (s) => (s.type === "cron" ? s : undefined));
    await store.signalPublish({ type: "cron" });
    await after;
    expect(seen).toHaveLength(4);
  });

  it("keeps a throwing listener from breaking the store or other listeners", async () => {
    const store = get();
    const off = store.signalSubscribe(() => {
      throw new Error("listener bug");
    });
    const got = nextSignal(store, (s) => (s.type === "cron" ? s : undefined));
    await store.signalPublish({ type: "cron" });
    expect(await got).toEqual({ type: "cron" });
    off();
  });

  it("reports its capabilities", () => {
    const { capabilities, name } = get();
    expect(typeof name).toBe("string");
    expect(typeof capabilities.signalsAcrossProcesses).toBe("boolean");
    expect(typeof capabilities.callerTransactions).toBe("boolean");
    expect(typeof capabilities.shared).toBe("boolean");
  });
}
