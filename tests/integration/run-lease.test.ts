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
    const before = Number((await lockConnections())[0]!.count);
    const lease = await RunLease.take(url, "run-c");
    expect(await RunLease.take(url, "run-c")).toBeUndefined();
    await runIsExecuting(url, "run-c");
    await lease!.release();
    await expect.poll(async () => Number((await lockConnections())[0]!.count)).toBe(before);
  });
});
