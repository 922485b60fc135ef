import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { defineConfig } from "@playwright/test";

const port = Number(process.env.E2E_PORT ?? 3210);
// Decided once in the runner process; workers inherit it through the environment.
process.env.E2E_DATA_DIR ??= (() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "merge-e2e-"));
  fs.chmodSync(dir, 0o755);
  // The runner exits after it has stopped the web server (and with it the database), so nothing uses the folder then.
  process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
})();

export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  testDir: "e2e",
  timeout: 120_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    browserName: "chromium",
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: chromiumArgs },
    trace: "retain-on-failure",
  },
  webServer: {
    command: "node --import tsx scripts/start.ts",
    url: `http://127.0.0.1:${port}/`,
    env: { PORT: String(port), HOST: "127.0.0.1", DATA_DIR: process.env.E2E_DATA_DIR, OUTPUT_ROOT: path.join(process.env.E2E_DATA_DIR, "search"), DATASET_DIRS: path.join(process.env.E2E_DATA_DIR, "datasets"), DATABASE_URL: "" },
    // The first start builds the dashboard: minutes on a 2-core machine.
    timeout: 600_000,
    reuseExistingServer: false,
    gracefulShutdown: { signal: "SIGINT", timeout: 30_000 },
    stdout: "pipe",
  },
});
