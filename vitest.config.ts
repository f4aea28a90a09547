import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/src/**/*.test.tsx",
      "apps/*/src/**/*.test.ts",
      "apps/*/src/**/*.test.tsx",
      "e2e/src/**/*.test.ts",
      "scripts/image/**/*.test.ts",
      "scripts/docs/**/*.test.ts",
      "scripts/lint/**/*.test.ts",
    ],
    // Integration tests start real etcd servers and processes; on a 2-core machine more
    // parallel files only add contention and timeouts.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
