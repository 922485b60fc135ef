import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { applyMigrations } from "../../src/server/db/migrate";
import { closeQueues, queue, QUEUES } from "../../src/server/queue/boss";
import { startSearchWorker } from "../../src/server/queue/worker";
import { freshDatabase } from "./helpers";

/*
 * A run queued before a check existed (here, named ".." with its folder the output root's parent) fails with
 * the reason when a worker takes it: nothing is written or removed, and it does not stay queued for ever.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-stored-config-"));
let db: Db;
let url = "";
beforeAll(async () => {
  url = await freshDatabase();
  await applyMigrations(url);
  db = createPrismaClient(url);
});
afterAll(async () => {
  await closeQueues();
  await db.$disconnect();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe("a stored config that is no longer valid", () => {
  it("fails the run with the reason, naming the flag, and leaves the folders alone", async () => {
    const outputRoot = path.join(scratch, "search");
    fs.mkdirSync(path.join(scratch, "state"), { recursive: true });
    fs.writeFileSync(path.join(scratch, "state", "keep.txt"), "x");
    const config = { name: "..", evalType: "exact_match", dataset: "gsm8k", maxIteration: 1, outputRoot };
    const run = await db.run.create({ data: { name: "..", origin: "ui", config, seed: 42, mergeMethod: "weighted_average", dataset: "gsm8k", evalType: "exact_match" } });
    const lines: string[] = [];
    const stop = await startSearchWorker({ db, databaseUrl: url, gpus: "cpu", log: (line) => lines.push(line) });
    try {
      await (await queue(url)).send(QUEUES.run, { runId: run.id });
      await expect.poll(async () => (await db.run.findUniqueOrThrow({ where: { id: run.id } })).status, { timeout: 60_000 }).toBe("failed");
    } finally {
      await stop();
    }
    const failed = await db.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(failed.errorText).toMatch(/^--name: expected a name with a letter, digit, dash or underscore, not only dots/);
    expect(failed.outputDir).toBeNull();
    expect(fs.readFileSync(path.join(scratch, "state", "keep.txt"), "utf8")).toBe("x");
    expect(lines).toContain(`run ..: failed: ${failed.errorText}`);
  });
});
