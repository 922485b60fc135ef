import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freshDatabase, query, spawnTs, type Spawned } from "./helpers";

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-distributed-"));
const workers: Spawned[] = [];
afterAll(async () => {
  for (const worker of workers) {
    worker.child.kill("SIGINT");
    await worker.exit();
  }
  fs.rmSync(outputRoot, { recursive: true, force: true });
});

const quick = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "2", "-p", "10", "--seed", "3", "--output_root", outputRoot];

describe("workers", () => {
  it("two worker processes share one search's evaluations, which end as a local search ends", async () => {
    const url = await freshDatabase();
    for (let index = 0; index < 2; index += 1) {
      const worker = spawnTs("scripts/worker.ts", ["--gpus", "cpu"], { DATABASE_URL: url });
      workers.push(worker);
      await worker.line(/^worker: ready on cpu$/, 90_000);
    }

    const distributed = spawnTs("scripts/search.ts", ["-n", "shared", "--distributed", "1", ...quick], { DATABASE_URL: url });
    expect(await distributed.exit(), distributed.output()).toBe(0);

    const tasks = await query<{ workerId: string }>(url, `SELECT t."workerId" FROM "EvalTask" t JOIN "Run" r ON r.id = t."runId" WHERE r.name = 'shared' AND t.status = 'done'`);
    const byWorker = new Set(tasks.map((task) => task.workerId));
    // The search's own process and the two workers: three slots, so each evaluation is split three ways.
    expect(byWorker.size).toBeGreaterThanOrEqual(2);
    expect(tasks.length).toBeGreaterThanOrEqual(3 * 3);

    const local = spawnTs("scripts/search.ts", ["-n", "local", ...quick], { DATABASE_URL: url });
    expect(await local.exit(), local.output()).toBe(0);
    const pad = (name: string) => JSON.parse(fs.readFileSync(path.join(outputRoot, name, "utility_scratchpad.json"), "utf8")) as unknown;
    expect(pad("shared")).toEqual(pad("local"));
  });
});
