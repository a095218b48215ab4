/** Routes about the node: its functions, and the probes orchestrators poll. */

import { ApiProblem } from "./problem.js";
import { json, ref, type AnyTickerQ, type RouteDef } from "./route.js";

/** How long readiness waits for the store before calling it unreachable. */
const READY_TIMEOUT_MS = 2000;

async function storeReachable(tq: AnyTickerQ): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
    timer.unref();
  });
  try {
    return await Promise.race([tq.store.jobNextDue().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function systemRoutes(tq: AnyTickerQ): RouteDef[] {
  return [
    {
      method: "get",
      path: "/functions",
      operationId: "listFunctions",
      summary: "The functions this node can run",
      scope: "read",
      responses: { 200: { description: "Functions", schema: { type: "array", items: ref("Function") } } },
      problems: [],
      handle: async () => json(tq.functions),
    },
    {
      method: "get",
      path: "/healthz",
      operationId: "health",
      summary: "Liveness: the process answers",
      scope: "public",
      responses: { 200: { description: "Alive", schema: ref("Health") } },
      problems: [],
      handle: async () => json({ status: "ok" }),
    },
    {
      method: "get",
      path: "/readyz",
      operationId: "ready",
      summary: "Readiness: the node is running and its store answers",
      scope: "public",
      responses: { 200: { description: "Ready", schema: ref("Health") } },
      problems: [503],
      handle: async () => {
        if (tq.state !== "running")
          throw new ApiProblem(503, "NOT_STARTED", `the node is ${tq.state}, not running`, "state", tq.state);
        if (!(await storeReachable(tq)))
          throw new ApiProblem(503, "STORE_UNAVAILABLE", `the ${tq.store.name} store does not answer`, "store");
        return json({ status: "ok" });
      },
    },
  ];
}
