import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "racing-"));
const expertDir = path.join(root, "experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

async function search(name: string, racing: "0" | "1") {
  const config = parseSearchArgs([
    ...["-n", name, "-e", "exact_match", "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 12}', "-i", expertDir, "--output_root", root],
    ...["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--selection", "greedy", "--initial_population", "pairs"],
    ...["--dev_questions", "12", "--test_questions", "4", "-m", "3", "--seed", "3", "--racing", racing],
  ]);
  const result = await executeSearch(store.db, store.url, await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") }), { origin: "cli" });
  expect(result.status).toBe("completed");
  const [{ asked }] = await query<{ asked: string }>(
    store.url,
    `SELECT sum(jsonb_array_length(c.results)) AS asked FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = '${name}' AND c.split = 'dev'`,
  ) as [{ asked: string }];
  return { folder: result.folder, log: fs.readFileSync(path.join(result.folder, "log.txt"), "utf8"), recorded: Number(asked) };
}

describe("--racing 1 with greedy selection", () => {
  it("ends where the full evaluation ends, asking fewer questions", async () => {
    const full = await search("full", "0");
    const raced = await search("raced", "1");
    const pad = (folder: string) => JSON.parse(fs.readFileSync(path.join(folder, "utility_scratchpad.json"), "utf8")) as unknown;
    expect(pad(raced.folder)).toEqual(pad(full.folder));
    const racedOut = [...raced.log.matchAll(/candidate_\d+ raced out after (\d+) of 12 questions/g)];
    expect(racedOut.length).toBeGreaterThan(0);
    expect(full.log).not.toContain("raced out");
    // Raced-out moves are recorded as not evaluated: the full run's rows hold every question of every move.
    expect(raced.recorded).toBe(full.recorded - racedOut.length * 12);
  });
});
