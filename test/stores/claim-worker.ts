/**
 * A node in its own process for the multi-process test: claims, starts and completes due jobs
 * until none are left, then prints the ids it ran as one JSON line.
 */

import { storeForUrl } from "../../src/cli.js";

const [url, schema, nodeId] = process.argv.slice(2);
const store = await storeForUrl(url ?? "", schema ? { schema } : {});
await store.init();
const now = new Date(Date.parse("2030-01-01T00:00:00.000Z"));
const ran: string[] = [];
for (;;) {
  const claimed = await store.jobClaimDue({ nodeId: nodeId ?? "", now, until: now, limit: 25, longRunningLimit: 0 });
  if (claimed.length === 0) break;
  const started = await store.jobStartMany({ leases: claimed, nodeId: nodeId ?? "", at: now });
  await store.jobCompleteMany({
    completions: started.map((id) => ({
      id,
      nodeId: nodeId ?? "",
      leaseToken: claimed.find((job) => job.id === id)!.leaseToken,
      status: "DueDone" as const,
      retryAt: null,
      finishedAt: now,
      elapsedMs: 0,
      exceptionMessage: null,
      exceptionDetails: null,
      attempt: {
        jobId: id,
        attempt: 0,
        status: "DueDone" as const,
        nodeId: nodeId ?? "",
        startedAt: now,
        finishedAt: now,
        elapsedMs: 0,
        exceptionMessage: null,
        exceptionDetails: null,
        superseded: false,
      },
    })),
  });
  ran.push(...started);
}
await store.close();
process.stdout.write(`${JSON.stringify(ran)}\n`);
