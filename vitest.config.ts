import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Type tests (test/**/*.test-d.ts) are compiled by `npm run check` (tsc), which fails on
    // any unmet @ts-expect-error or expectTypeOf; running tsc again here would only double the time.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files that share a database server isolate themselves by schema/prefix, so they may run in parallel.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
