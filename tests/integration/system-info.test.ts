import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNative } from "../../src/engine/merge/native";
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

  it("lists the workers, the evaluation queue and the merge addon's capabilities", async () => {
    await db.worker.createMany({
      data: [
        { id: "w-alive", host: "gpu-box", devices: ["cuda:0"], lastSeen: new Date() },
        { id: "w-gone", host: "old-box", devices: ["cpu"], lastSeen: new Date(Date.now() - 3_600_000) },
      ],
    });
    const run = await db.run.create({ data: { name: "queued-chunks", origin: "cli", config: {}, seed: 1, mergeMethod: "ties", dataset: "gsm8k", evalType: "exact_match" } });
    await db.evalTask.createMany({
      data: [
        { runId: run.id, split: "dev", vectors: new Uint8Array(8), count: 2, length: 1 },
        { runId: run.id, split: "test", vectors: new Uint8Array(4), count: 1, length: 1, status: "done" },
      ],
    });
    const info = await createCaller({ db, headers: new Headers() }).system.info();
    expect(info.workers.map((worker) => [worker.id, worker.host, worker.devices, worker.alive])).toEqual([
      ["w-alive", "gpu-box", ["cuda:0"], true],
      ["w-gone", "old-box", ["cpu"], false],
    ]);
    expect(info.queue).toMatchObject({ pending: 1, done: 1, failed: 0 });
    expect(info.queue.oldestPending).toEqual([expect.objectContaining({ runName: "queued-chunks", split: "dev", count: 2, workerId: null })]);
    // As the addon reports itself (built with nvcc here: CUDA kernels in, and why no device is usable without a GPU).
    const addon = loadNative()!.info();
    expect(info.native).toMatchObject({ loaded: true, error: null, cudaCompiled: addon.cudaCompiled, cudaDevices: addon.cudaDevices, cudaUnavailableReason: addon.cudaUnavailableReason });
    expect(info.native.cpuThreads).toBeGreaterThan(0);
    expect(info.native.vulkanLayer).toMatch(/native\/build\/Release\/vk-layer$/);
    expect(info.queueError).toBeNull();
  });

  it("reports an unreachable database instead of failing", async () => {
    const broken = createPrismaClient("postgresql://nobody:nothing@127.0.0.1:1/none");
    const info = await createCaller({ db: broken, headers: new Headers() }).system.info();
    expect(info.database.healthy).toBe(false);
    expect(info.database.error).toBeTruthy();
    await broken.$disconnect();
  });
});
