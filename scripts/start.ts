/*
 * `npm start`: opens the database (embedded unless DATABASE_URL is set), applies migrations, builds the
 * dashboard when its sources are newer than the last build, and serves it. Ctrl-C stops the dashboard and
 * then the embedded Postgres, unless another process (a CLI search, a worker) is still using it.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { EnvError, parseServerEnv } from "../src/env";
import { openDatabase } from "../src/server/db/connection";
import { superviseWorker, type SupervisedWorker } from "../src/server/queue/worker-process";
import { GpuSelectionError, selectGpus } from "../src/engine/devices";
import { deviceInventory } from "../src/server/devices";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const nextBin = createRequire(import.meta.url).resolve("next/dist/bin/next");
const buildSources = ["src", "public", "next.config.mjs", "postcss.config.mjs", "package.json", "tsconfig.json", "prisma/schema.prisma"];

function newestChange(entry: string): number {
  if (!fs.existsSync(entry)) return 0;
  const stat = fs.statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(entry).reduce((newest, child) => Math.max(newest, newestChange(path.join(entry, child))), stat.mtimeMs);
}

function buildIfStale() {
  const buildId = path.join(root, ".next/BUILD_ID");
  const builtAt = fs.existsSync(buildId) ? fs.statSync(buildId).mtimeMs : 0;
  const changedAt = Math.max(...buildSources.map((entry) => newestChange(path.join(root, entry))));
  if (builtAt > changedAt) return;
  console.log(builtAt ? "Sources changed since the last build; rebuilding the dashboard…" : "Building the dashboard (first start)…");
  const build = spawnSync(process.execPath, [nextBin, "build"], { cwd: root, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  if (build.status !== 0) throw new Error("next build failed (see above)");
}

/** Every GPU, when each can get its own evaluation process; otherwise GPU 0 alone (the reason is printed). */
async function everyUsableGpu(): Promise<string> {
  const visible = (await deviceInventory()).gpus.filter((gpu) => gpu.unusable === null);
  if (visible.length === 0) return "cpu";
  const all = visible.map((gpu) => gpu.id);
  try {
    selectGpus(all, visible);
    return all.join(",");
  } catch (error) {
    if (!(error instanceof GpuSelectionError)) throw error;
    console.log(`worker: GPU 0 only: ${error.message}`);
    return "0";
  }
}

async function main() {
  const env = parseServerEnv();
  const database = await openDatabase(env);
  console.log(database.mode === "embedded" ? `Embedded Postgres ready (data in ${env.dataDir}).` : "Connected to DATABASE_URL.");

  let stopping = false;
  let worker: SupervisedWorker | undefined;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    await worker?.stop();
    const outcome = await database.release();
    if (outcome === "left-running") console.log("Embedded Postgres left running: another process is using it.");
    process.exit(code);
  };

  try {
    buildIfStale();
  } catch (error) {
    console.error(String((error as Error).message));
    await stop(1);
  }

  // Searches launched from the dashboard run in a worker beside it, on every GPU the merge addon sees.
  const gpus = env.WORKER_GPUS === "auto" ? await everyUsableGpu() : env.WORKER_GPUS;
  worker =
    gpus === "none"
      ? undefined
      : superviseWorker(() =>
          spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts/worker.ts"), "--gpus", gpus], {
            cwd: root,
            stdio: "inherit",
            env: { ...process.env, DATABASE_URL: database.url },
          }),
        );

  const server = spawn(process.execPath, [nextBin, "start", "-H", env.HOST, "-p", String(env.PORT)], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, DATABASE_URL: database.url, MERGE_DATABASE_MODE: database.mode, NEXT_TELEMETRY_DISABLED: "1" },
  });
  console.log(`Dashboard on http://${env.HOST}:${env.PORT}`);

  // In a terminal, Ctrl-C reaches the Next.js server too; either way its exit code then reflects the signal.
  let shutdownRequested = false;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      shutdownRequested = true;
      // In a terminal the worker got the signal too; its exit now is the shutdown, not a crash to restart.
      void worker?.stop();
      if (server.exitCode === null) server.kill("SIGTERM");
      else void stop(0);
    });
  }
  server.on("exit", (code) => void stop(shutdownRequested || code === 0 ? 0 : (code ?? 1)));
}

main().catch((error: unknown) => {
  // Configuration mistakes are one actionable line; anything else keeps its stack for a bug report.
  console.error(error instanceof EnvError ? error.message : error);
  process.exit(1);
});
