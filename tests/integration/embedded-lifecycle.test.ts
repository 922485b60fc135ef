import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createPrismaClient } from "../../src/server/db/client";
import { clusterDir, embeddedPostgresRunning } from "../../src/server/db/embedded";
import { query, removeDataDir, spawnTs, temporaryDataDir, type Spawned } from "./helpers";

const holder = "tests/integration/fixtures/hold-database.ts";
const running: Spawned[] = [];
const dataDirs: string[] = [];
const newDataDir = (options?: { private: boolean }) => {
  const dir = temporaryDataDir("merge-life-", options);
  dataDirs.push(dir);
  return dir;
};
const hold = (dataDir: string) => {
  const process = spawnTs(holder, [], { DATA_DIR: dataDir, DATABASE_URL: "" });
  running.push(process);
  return process;
};
const release = async (holding: Spawned) => {
  holding.child.kill("SIGINT");
  const line = await holding.line(/^released /);
  expect(await holding.exit()).toBe(0);
  return line.replace("released ", "");
};

afterEach(async () => {
  for (const process of running.splice(0)) if (process.child.exitCode === null) await release(process).catch(() => {});
  for (const dir of dataDirs.splice(0)) removeDataDir(dir);
});

describe("embedded Postgres shared by several processes", () => {
  it("stops with its last user and keeps the data for the next start", async () => {
    // A private DATA_DIR: run as root, this also covers the cluster kept outside it.
    const dataDir = newDataDir({ private: true });
    const first = hold(dataDir);
    const url = (await first.line(/^ready /)).replace("ready ", "");
    await query(url, `INSERT INTO "Dataset" (id, name, file, "evalType", "devSize", "testSize") VALUES ('d1', 'kept', 'kept.json', 'exact_match', 1, 1)`);
    expect(await release(first)).toBe("stopped");
    expect(await embeddedPostgresRunning(dataDir)).toBe(false);

    const second = hold(dataDir);
    const again = (await second.line(/^ready /)).replace("ready ", "");
    expect(await query(again, `SELECT name FROM "Dataset"`)).toEqual([{ name: "kept" }]);
    expect(await release(second)).toBe("stopped");
  });

  it("stays up while another process still uses it", async () => {
    const dataDir = newDataDir();
    const dashboard = hold(dataDir);
    const url = await dashboard.line(/^ready /);
    const cli = hold(dataDir);
    expect(await cli.line(/^ready /)).toBe(url);

    expect(await release(dashboard)).toBe("left-running");
    expect(await embeddedPostgresRunning(dataDir)).toBe(true);
    expect(await release(cli)).toBe("stopped");
    expect(await embeddedPostgresRunning(dataDir)).toBe(false);
  });
});

/** The server dies as in a crash (SIGQUIT: immediate shutdown, no checkpoint); nothing restarts it by itself. */
async function crashServer(dataDir: string) {
  const pid = Number(fs.readFileSync(path.join(clusterDir(dataDir), "data", "postmaster.pid"), "utf8").split("\n")[0]);
  process.kill(pid, "SIGQUIT");
  for (let tries = 0; tries < 200 && (await embeddedPostgresRunning(dataDir)); tries += 1) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe("embedded Postgres in a copied DATA_DIR", () => {
  it("starts its own server instead of attaching to the original's (whose postmaster.pid came along)", async () => {
    const original = newDataDir();
    const first = hold(original);
    const originalUrl = (await first.line(/^ready /)).replace("ready ", "");

    const copy = newDataDir();
    fs.rmSync(copy, { recursive: true });
    execFileSync("cp", ["-a", original, copy]); // keeps the cluster's owner and modes, as a copied checkout would
    const second = hold(copy);
    const copyUrl = (await second.line(/^ready /)).replace("ready ", "");
    expect(new URL(copyUrl).port).not.toBe(new URL(originalUrl).port);
    expect(await query(copyUrl, "SHOW data_directory")).toEqual([{ data_directory: fs.realpathSync(path.join(clusterDir(copy), "data")) }]);

    expect(await release(second)).toBe("stopped");
    expect(await query(originalUrl, "SELECT 1 AS up")).toEqual([{ up: 1 }]);
    expect(await release(first)).toBe("stopped");
  });
});

describe("embedded Postgres lost and started again", () => {
  const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-restart-"));
  afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));
  const flags = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "4", "-p", "10", "--seed", "13", "--output_root", outputRoot];

  it("comes back on its old port: clients reconnect, and a search it cut off ends cleanly and resumes to the uninterrupted result", async () => {
    const dataDir = newDataDir();
    const url = (await hold(dataDir).line(/^ready /)).replace("ready ", "");
    const search = (name: string) => {
      const cli = spawnTs("scripts/search.ts", ["-n", name, ...flags], { DATA_DIR: dataDir, DATABASE_URL: "" });
      running.push(cli);
      return cli;
    };
    const whole = search("whole");
    expect(await whole.exit(), whole.output()).toBe(0);

    const dashboard = createPrismaClient(url);
    try {
      expect(await dashboard.run.count()).toBe(1);
      const cut = search("cut");
      await cut.line(/^iteration 1\/4/);
      await crashServer(dataDir);
      expect(await cut.exit(), cut.output()).toBe(1);
      expect(cut.output()).not.toMatch(/Unhandled 'error' event|\n\s+at /);
      expect(cut.output().trim().split("\n").at(-1)).toMatch(/^search: lost the database connection .*; what is committed stays, and the run can be resumed$/);
      await expect(dashboard.run.count()).rejects.toThrow();

      // Whoever starts it next (here a second dashboard) brings it back where the first one's URL points.
      expect((await hold(dataDir).line(/^ready /)).replace("ready ", "")).toBe(url);
      expect(await dashboard.run.count()).toBe(2);

      const resumed = search("cut");
      expect(await resumed.exit(), resumed.output()).toBe(0);
      const pad = (name: string) => fs.readFileSync(path.join(outputRoot, name, "utility_scratchpad.json"), "utf8");
      expect(pad("cut")).toBe(pad("whole"));
      expect(await query(url, `SELECT status FROM "Run" WHERE name = 'cut'`)).toEqual([{ status: "completed" }]);
    } finally {
      await dashboard.$disconnect();
    }
  });
});
