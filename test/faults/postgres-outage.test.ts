/**
 * Three nodes on a PostgreSQL cluster of the test's own, stopped under load for twice the
 * lease: every node is cut off alike, so none may take another's work as dead afterwards.
 * The shared server on 5432 is never touched.
 */

import { describe, it } from "vitest";
import { LEASE_MS, restartScenario, scenarioDirs } from "./scenarios.js";
import { checkTools, createPostgresCluster } from "./servers.js";

const tools = checkTools("postgres");
const dir = scenarioDirs("pgoutage");

describe.runIf(tools.available)("a dedicated PostgreSQL cluster down longer than the lease", () => {
  const name = "down 2x lease";
  it(
    "stopped -m fast for twice the lease",
    () =>
      restartScenario({
        label: "dedicated postgres",
        name,
        dir: dir(name),
        create: createPostgresCluster,
        mode: "fast",
        downMs: 2 * LEASE_MS,
      }),
    120_000,
  );
});
