import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname, "src") } },
  test: {
    projects: [
      {
        extends: true,
        // Some unit tests build and run the zoo's decoder or read a 256k-token vocabulary: seconds of work each, which
        // the files running side by side on CI's 2 cores stretch past vitest's 5 s default.
        test: { name: "unit", include: ["src/**/*.test.ts", "scripts/**/*.test.ts", "bench/**/*.test.ts"], environment: "node", testTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          globalSetup: ["tests/integration/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One embedded Postgres serves every file; files that start their own servers stay sequential.
          fileParallelism: false,
        },
      },
    ],
  },
});
