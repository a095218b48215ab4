/** Nodes: heartbeats (with what each node reports about itself) and operator pauses. */

import type { NodeRecord } from "../contract.js";
import type { MemoryState, Params } from "./context.js";

export function nodeHeartbeat(s: MemoryState, { nodeId, at, info }: Params<"nodeHeartbeat">): { paused: boolean } {
  const node = s.nodes.get(nodeId);
  if (node) {
    Object.assign(node, { heartbeatAt: at, info: { ...info } });
    return { paused: node.paused };
  }
  s.nodes.set(nodeId, { nodeId, startedAt: at, heartbeatAt: at, paused: false, info: { ...info } });
  return { paused: false };
}

export function nodeList(s: MemoryState): NodeRecord[] {
  return [...s.nodes.values()].map((node) => ({ ...node, info: { ...node.info } }));
}

export function nodeSetPaused(s: MemoryState, { nodeId, paused }: Params<"nodeSetPaused">): boolean {
  const node = s.nodes.get(nodeId);
  if (!node) return false;
  node.paused = paused;
  s.signals.emit({ type: "node", nodeId });
  return true;
}

export function nodeRemove(s: MemoryState, { nodeId }: Params<"nodeRemove">): void {
  s.nodes.delete(nodeId);
}
