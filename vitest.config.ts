import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    typecheck: { enabled: true, include: ["test/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Files that share a database server isolate themselves by schema/prefix, so they may run in parallel.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
