import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import pg from "pg";
import { embeddedPostgresRunning } from "../src/server/db/embedded";
import { embeddedDatabaseUrl } from "./embedded-db";

const port = 3299;

/** `npm start` as a user runs it, in its own DATA_DIR, stopped with Ctrl-C (SIGINT). */
async function withLauncher<T>(dataDir: string, work: (launcher: { pid: number; output: () => string }) => Promise<T>): Promise<T> {
  const launcher = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  launcher.stdout.on("data", (chunk) => (output += chunk));
  launcher.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => launcher.on("exit", resolve));
  try {
    await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status, { timeout: 120_000 }).toBe(200);
    return await work({ pid: launcher.pid!, output: () => output });
  } finally {
    launcher.kill("SIGINT");
    expect(await exited, output).toBe(0);
  }
}


test("Ctrl-C leaves no Postgres behind and the next start keeps the data", async ({ page }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "merge-launch-"));
  fs.chmodSync(dataDir, 0o755);
  try {
    await withLauncher(dataDir, async () => {
      const client = new pg.Client({ connectionString: embeddedDatabaseUrl(dataDir) });
      await client.connect();
      await client.query(
        `INSERT INTO "Run" (id, name, status, origin, config, seed, "mergeMethod", dataset, "evalType")
         VALUES ('r1', 'kept-across-restarts', 'completed', 'cli', '{}', 42, 'task_arithmetic', 'mgsm_ja', 'exact_match')`,
      );
      await client.end();
    });
    expect(await embeddedPostgresRunning(dataDir)).toBe(false);

    await withLauncher(dataDir, async () => {
      await page.goto(`http://127.0.0.1:${port}/`);
      await expect(page.getByTestId("runs-table")).toContainText("kept-across-restarts");
    });
    expect(await embeddedPostgresRunning(dataDir)).toBe(false);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a worker killed with SIGKILL is started again, and Ctrl-C still stops the dashboard and the database", async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "merge-launch-"));
  fs.chmodSync(dataDir, 0o755);
  const readyCount = (output: string) => output.match(/^worker: ready on cpu$/gm)?.length ?? 0;
  try {
    await withLauncher(dataDir, async ({ pid, output }) => {
      await expect.poll(() => readyCount(output()), { timeout: 60_000 }).toBe(1);
      // Past the first seconds, when a dying worker would only die again and is left down.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const worker = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(pid)], { encoding: "utf8" })
        .split("\n")
        .find((line) => line.includes("scripts/worker.ts"));
      expect(worker, "the launcher's worker process").toBeDefined();
      process.kill(Number(worker!.trim().split(" ")[0]), "SIGKILL");
      await expect.poll(output, { timeout: 10_000 }).toContain("worker: exited (SIGKILL); starting it again");
      await expect.poll(() => readyCount(output()), { timeout: 60_000 }).toBe(2);
    });
    expect(await embeddedPostgresRunning(dataDir)).toBe(false);
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
