import { afterEach, describe, expect, it } from "vitest";
import { embeddedPostgresRunning } from "../../src/server/db/embedded";
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
