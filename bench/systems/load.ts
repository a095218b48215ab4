/** Loads one system by id without importing the others (keeps worker children light and quick to start). */
import type { System } from "./types.js";

const LOADERS: Record<string, () => Promise<System>> = {
  "pg-boss": async () => (await import("./pg-boss.js")).pgBoss,
  "graphile-worker": async () => (await import("./graphile-worker.js")).graphileWorker,
  bullmq: async () => (await import("./bullmq.js")).bullmq,
};

export async function loadSystem(id: string): Promise<System> {
  const loader = LOADERS[id];
  if (loader) return loader();
  const { tickerqSystems } = await import("./tickerq.js");
  const system = tickerqSystems.find((s) => s.id === id);
  if (!system) throw new Error(`unknown system ${id}`);
  return system;
}
