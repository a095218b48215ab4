/** Starts worker child processes and turns their IPC messages into promises and callbacks. */
import { fork, type ChildProcess } from "node:child_process";
import { childLaunch } from "./child-build.js";
import type { FromChild, ToChild } from "./protocol.js";

export type DoneMessage = Extract<FromChild, { type: "done" }>;

export interface WorkerChild {
  /** Resolves when the worker is running. */
  ready: Promise<number>;
  /** Resolves with the child's report of a `jobs` run. */
  done: Promise<DoneMessage>;
  send(message: ToChild): void;
  onProgress(listener: (count: number) => void): void;
  onTick(listener: (scheduledFor: number, startedAt: number) => void): void;
  /** Asks the worker to stop gracefully and waits for the process to end (killed after a grace). */
  stop(): Promise<void>;
  /** Ends the process at once (a child whose event loop is stuck cannot obey `stop`). */
  kill(): Promise<void>;
}

const EXIT_GRACE_MS = 15_000;

/** Rejects when `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function startChild(order: ToChild): WorkerChild {
  const { entry, execArgv } = childLaunch();
  const child: ChildProcess = fork(entry, [], {
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const progress: Array<(count: number) => void> = [];
  const ticks: Array<(scheduledFor: number, startedAt: number) => void> = [];
  let resolveReady!: (at: number) => void;
  let resolveDone!: (message: DoneMessage) => void;
  let rejectAll!: (error: Error) => void;
  const ready = new Promise<number>((resolve, reject) => {
    resolveReady = resolve;
    rejectAll = reject;
  });
  const done = new Promise<DoneMessage>((resolve, reject) => {
    resolveDone = resolve;
    const previous = rejectAll;
    rejectAll = (error) => {
      previous(error);
      reject(error);
    };
  });
  // Either may go unawaited (cron children never send done).
  ready.catch(() => undefined);
  done.catch(() => undefined);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  child.on("message", (message: FromChild) => {
    switch (message.type) {
      case "ready":
        resolveReady(message.at);
        break;
      case "progress":
        for (const listener of progress) listener(message.count);
        break;
      case "done":
        resolveDone(message);
        break;
      case "tick":
        for (const listener of ticks) listener(message.scheduledFor, message.startedAt);
        break;
      case "error":
        rejectAll(new Error(`worker child: ${message.message}`));
        break;
      case "stopped":
        break;
    }
  });
  child.once("exit", (code) => rejectAll(new Error(`worker child exited (code ${code}) before reporting`)));
  child.send(order);

  return {
    ready,
    done,
    send: (message) => {
      if (child.connected) child.send(message);
    },
    onProgress: (listener) => progress.push(listener),
    onTick: (listener) => ticks.push(listener),
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: "stop" } satisfies ToChild);
      const timer = setTimeout(() => child.kill("SIGKILL"), EXIT_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
