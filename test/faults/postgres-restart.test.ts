/**
 * Three nodes on a PostgreSQL cluster of the test's own, restarted under load: `-m fast`
 * (clients are told) and `-m immediate` (backends die, crash recovery). The shared server on 5432 is never touched.
 */

import { describe, it } from "vitest";
import { restartScenario, scenarioDirs } from "./scenarios.js";
import { checkTools, createPostgresCluster } from "./servers.js";

const tools = checkTools("postgres");
const dir = scenarioDirs("pgrestart");

const restart = (name: string, mode: "fast" | "immediate") =>
  restartScenario({
    label: "dedicated postgres",
    name,
    dir: dir(name),
    create: createPostgresCluster,
    mode,
    downMs: 0,
  });

describe.runIf(tools.available)("a dedicated PostgreSQL cluster restarted under load", () => {
  it("restart -m fast", () => restart("restart -m fast", "fast"), 120_000);
  it("restart -m immediate", () => restart("restart -m immediate", "immediate"), 120_000);
});
