/**
 * Helpers for the wake-up tests across processes: node A started in a child process
 * (remote-node.ts), and a coordinator wrapper that records the signals it hands its engine,
 * so a test can say it was the coordinator that woke a node.
 */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Coordinator } from "../../src/redis.js";
import type { StoreSignal } from "../../src/store/contract.js";
import type { RemoteNodeConfig } from "./remote-node.js";

const script = fileURLToPath(new URL("./remote-node.ts", import.meta.url));

export interface RemoteNode {
  /** Adds an "Ok" job due at `at` on node A; resolves with its id. */
  add(at: Date): Promise<string>;
  stop(): Promise<void>;
}

export async function startRemoteNode(config: RemoteNodeConfig): Promise<RemoteNode> {
  const child = spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(config)], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const waiting: ((line: string) => void)[] = [];
  let buffered = "";
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      waiting.shift()?.(line);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const nextLine = () =>
    Promise.race([
      new Promise<string>((resolve) => waiting.push(resolve)),
      exited.then(() => {
        throw new Error(`node ${config.nodeId} exited: ${stderr}`);
      }),
    ]);
  const ready = await nextLine();
  if (ready !== "ready") throw new Error(`node ${config.nodeId} said ${ready}: ${stderr}`);
  return {
    async add(at) {
      const answer = nextLine();
      child.stdin.write(`add ${at.getTime()}\n`);
      const [word, id] = (await answer).split(" ");
      if (word !== "added" || !id) throw new Error(`node ${config.nodeId} answered ${word}: ${stderr}`);
      return id;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end(); // the node stops when its input ends
      const stopped = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(resolve, 5000, false)),
      ]);
      if (!stopped) {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** The coordinator, with every signal it hands its node recorded in `heard` (in order). */
export function hearing(coordinator: Coordinator): { coordinator: Coordinator; heard: StoreSignal[] } {
  const heard: StoreSignal[] = [];
  const start = coordinator.start.bind(coordinator);
  coordinator.start = (node) =>
    start({
      ...node,
      onSignal(signal) {
        heard.push(signal);
        node.onSignal(signal);
      },
    });
  return { coordinator, heard };
}
