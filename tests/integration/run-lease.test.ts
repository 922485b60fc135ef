import { beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../src/server/db/migrate";
import { RunLease, runIsExecuting } from "../../src/server/search/run-lease";
import { freshDatabase, query } from "./helpers";

let url: string;
beforeAll(async () => {
  url = await freshDatabase();
  await applyMigrations(url);
});

const lockConnections = () => query<{ count: string }>(url, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);

describe("a run's lease", () => {
  it("is held by one process at a time, and the probe of resume sees it without taking it", async () => {
    const lease = await RunLease.take(url, "run-a");
    expect(lease).toBeDefined();
    expect(await RunLease.take(url, "run-a")).toBeUndefined();
    expect(await runIsExecuting(url, "run-a")).toBe(true);
    expect(await runIsExecuting(url, "run-b")).toBe(false);
    // The probe let go of the free lock: another process can take run-b.
    const other = await RunLease.take(url, "run-b");
    expect(other).toBeDefined();
    await Promise.all([lease!.release(), other!.release()]);
    expect(await runIsExecuting(url, "run-a")).toBe(false);
    const again = await RunLease.take(url, "run-a");
    expect(again).toBeDefined();
    await again!.release();
  });

  it("keeps no connection open once it is refused or released", async () => {
    const open = async () => Number((await lockConnections())[0]!.count);
    // This database is the file's own: once the migrations' and the first test's connections have closed (they may
    // still be closing when this starts), nothing else holds one.
    await expect.poll(open).toBe(0);
    const lease = await RunLease.take(url, "run-c");
    expect(await open()).toBe(1);
    expect(await RunLease.take(url, "run-c")).toBeUndefined();
    await runIsExecuting(url, "run-c");
    await lease!.release();
    await expect.poll(open).toBe(0);
  });
});
