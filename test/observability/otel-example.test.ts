/** examples/otel runs with one command (`npm run example:otel`) and prints the spans and metrics it promises. */

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../../", import.meta.url));

it("prints send and process spans (the retry its own), the handler's span and the metrics", async () => {
  const { stdout } = await run(process.execPath, ["--import", "tsx", "examples/otel/main.ts"], {
    cwd: root,
    timeout: 60_000,
  });
  const count = (text: string) => stdout.split(text).length - 1;
  expect(count("name: 'send SendInvoice'")).toBe(1);
  expect(count("name: 'send NotifyWarehouse'")).toBe(1);
  expect(count("name: 'process SendInvoice'")).toBe(2); // the failed attempt and its retry
  expect(count("name: 'render pdf'")).toBe(2);
  expect(count("name: 'process NotifyWarehouse'")).toBe(1);
  for (const metric of ["tickerq.jobs.enqueued", "tickerq.jobs.completed", "tickerq.job.duration"]) {
    expect(stdout).toContain(metric);
  }
}, 60_000);
