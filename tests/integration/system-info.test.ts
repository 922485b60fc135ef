import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../../src/server/api/root";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { applyMigrations } from "../../src/server/db/migrate";
import { freshDatabase } from "./helpers";

let db: Db;
beforeAll(async () => {
  const url = await freshDatabase();
  await applyMigrations(url);
  db = createPrismaClient(url);
});
afterAll(() => db.$disconnect());

describe("system.info", () => {
  it("reports a healthy, fully migrated database and the CPU", async () => {
    const info = await createCaller({ db, headers: new Headers() }).system.info();
    expect(info.database).toMatchObject({ healthy: true, migrationsApplied: info.database.migrationsExpected, error: null });
    expect(info.database.migrationsExpected).toBeGreaterThan(0);
    expect(info.database.serverVersion).toMatch(/^PostgreSQL \d+/);
    expect(info.devices[0]).toMatchObject({ id: "cpu", kind: "cpu" });
    expect(info.devices[0]!.memoryBytes).toBeGreaterThan(0);
    expect(info.devices[0]).toMatchObject({ evalProvider: "cpu", whyNotCuda: null });
    expect(info.devices[0]!.freeMemoryBytes).toBeGreaterThan(0);
    expect(info.packages.next).toMatch(/^16\./);
  });

  it("reports an unreachable database instead of failing", async () => {
    const broken = createPrismaClient("postgresql://nobody:nothing@127.0.0.1:1/none");
    const info = await createCaller({ db: broken, headers: new Headers() }).system.info();
    expect(info.database.healthy).toBe(false);
    expect(info.database.error).toBeTruthy();
    await broken.$disconnect();
  });
});
