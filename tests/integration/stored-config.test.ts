import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { searchConfigSchema } from "../../src/engine/search/config";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { applyMigrations } from "../../src/server/db/migrate";
import { closeQueues, queue, QUEUES } from "../../src/server/queue/boss";
import { startSearchWorker } from "../../src/server/queue/worker";
import { changedSettings } from "../../src/server/search/launch";
import { freshDatabase, query } from "./helpers";

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

describe("a config stored in the CLI's string shapes, before the config had typed values", () => {
  it("is migrated to the typed values, keeps everything else, and resumes with the same flags", async () => {
    const migration = "20261201113500_typed_search_config";
    await query(url, `DELETE FROM _prisma_migrations WHERE migration_name = $1`, [migration]);
    const flags = { name: "old-shapes", evalType: "exact_match", dataset: "gsm8k", maxIteration: 2, mode: "recipe", mergeMethod: "ties", outputRoot: path.join(scratch, "search") };
    const old = { ...flags, mergeParams: '{"density": 0.5, "base_model_idx": null}', evalParams: '{"maxNewTokens": 8}', gpus: "0,1", recipeBounds: "-0.5,1.5", seed: 7 };
    const unreadable = { ...flags, name: "unreadable", mergeParams: "{not json", evalParams: "[1]", gpus: "gpu0", recipeBounds: "1;2" };
    for (const config of [old, unreadable]) {
      await db.run.create({ data: { name: config.name, origin: "cli", config, seed: 42, mergeMethod: "ties", dataset: "gsm8k", evalType: "exact_match" } });
    }

    expect(await applyMigrations(url)).toEqual([migration]);

    const stored = (await db.run.findUniqueOrThrow({ where: { name: "old-shapes" } })).config;
    expect(stored).toEqual({ ...old, mergeParams: { density: 0.5, base_model_idx: null }, evalParams: { maxNewTokens: 8 }, gpus: [0, 1], recipeBounds: [-0.5, 1.5] });
    expect(searchConfigSchema.safeParse(stored).success).toBe(true);
    const sameFlags = (mergeParams: string) =>
      parseSearchArgs([
        ...["-n", "old-shapes", "-e", "exact_match", "-d", "gsm8k", "-m", "2", "--mode", "recipe", "--merge_method", "ties", "--seed", "7"],
        ...["--merge_params", mergeParams, "--eval_params", '{"maxNewTokens": 8}', "--recipe_bounds", "-0.5,1.5", "--output_root", flags.outputRoot],
        // It ran before recipe mode's defaults became greedy from the experts and their pairs: these are what it ran with.
        ...["--selection", "replace", "--initial_population", "experts"],
      ]);
    expect(changedSettings(stored, sameFlags('{"density": 0.5}'))).toEqual([]);
    expect(changedSettings(stored, sameFlags('{"density": 0.6}'))).toEqual([expect.stringMatching(/^mergeParams: stored \{.*"density":0\.5.*\}, given \{.*"density":0\.6.*\}$/)]);
    // Today's defaults would run another search than the one stored, so the same flags without them are refused, naming both.
    const withoutThem = parseSearchArgs([...["-n", "old-shapes", "-e", "exact_match", "-d", "gsm8k", "-m", "2", "--mode", "recipe", "--merge_method", "ties", "--seed", "7"], ...["--merge_params", '{"density": 0.5}', "--eval_params", '{"maxNewTokens": 8}', "--recipe_bounds", "-0.5,1.5", "--output_root", flags.outputRoot]]);
    expect(changedSettings(stored, withoutThem)).toEqual(['initialPopulation: stored "experts", given "auto"', 'selection: stored "replace", given "greedy"']);
    // What cannot be read as the new types stays as it was stored, for the run to fail with the reason.
    expect((await db.run.findUniqueOrThrow({ where: { name: "unreadable" } })).config).toEqual(unreadable);
  });
});
