/** Shared by the http function's tests: a started node on the memory store with the http function. */

import { createTickerQ, memoryStore } from "../../src/index.js";
import { httpFunction, type HttpFunctionOptions, type HttpJobResponse } from "../../src/http/index.js";

/**
 * A started node with the http function, allowed to call 127.0.0.1 unless `options` say
 * otherwise; `run` adds a job and resolves with it and its attempts once it ended.
 */
export async function node(options: Partial<HttpFunctionOptions> = {}) {
  const responses: HttpJobResponse[] = [];
  const tq = createTickerQ({
    functions: [
      httpFunction({
        allowHosts: ["127.0.0.1"],
        allowAddresses: ["127.0.0.1/32"],
        onResponse: (response) => responses.push(response),
        ...options,
      }),
    ],
    store: memoryStore(),
  });
  await tq.start();
  return {
    tq,
    responses,
    async run(request: unknown, extra: { retries?: number; retryIntervals?: number[] } = {}) {
      let id = "";
      const ended = new Promise<void>((resolve) =>
        tq.events.on("executed", (e) => {
          if (e.id === id && e.status !== "Idle") resolve();
        }),
      );
      id = (await tq.timeTickers.add({ function: "http", request: request as never, ...extra })).id;
      await ended;
      return { job: (await tq.job(id))!, attempts: await tq.attempts(id) };
    },
    stop: () => tq.stop({ timeoutMs: 100 }),
  };
}
