/** The registry of benchmarked systems, in the order they run within each repeat. */
import { bullmq } from "./bullmq.js";
import { graphileWorker } from "./graphile-worker.js";
import { pgBoss } from "./pg-boss.js";
import { tickerqSystems } from "./tickerq.js";
import type { System } from "./types.js";

export const SYSTEMS: readonly System[] = [...tickerqSystems, pgBoss, graphileWorker, bullmq];
