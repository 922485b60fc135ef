import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { evaluationBudget, prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "initial-population-"));
const expertDir = path.join(root, "experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("--initial_population pairs", () => {
  it("starts from every expert and every pair of experts at weight 1, named after them", async () => {
    const config = parseSearchArgs([
      ...["-n", "pairs", "-e", "exact_match", "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 8}', "-i", expertDir, "--output_root", root],
      ...["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--initial_population", "pairs", "--dev_questions", "4", "--test_questions", "4", "-m", "1"],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    expect(evaluationBudget(prepared)).toMatchObject({ mode: "recipe", population: 6, evaluations: 12 });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const [run] = await query<{ candidateNames: string[] }>(store.url, `SELECT "candidateNames" FROM "Run" WHERE name = 'pairs'`);
    expect(run!.candidateNames).toEqual(["compare", "ja_reader", "math", "compare+ja_reader", "compare+math", "ja_reader+math"]);
    const scores = await query<{ count: string }>(store.url, `SELECT count(*) FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'pairs' AND c.split = 'dev' AND c.iteration = 0`);
    expect(scores).toEqual([{ count: "6" }]);
    expect(fs.readFileSync(path.join(result.folder, "log.txt"), "utf8")).toContain("mode recipe: 6 candidates of 3 values");
  });
});
