import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

/*
 * Each eval type the seed's users search with runs a whole search on the zoo: two iterations of two experts on a few
 * questions, in-process, stored like any run, its per-question results as the dashboard reads them.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "eval-types-"));
const expertDir = path.join(root, "experts");
for (const expert of ["knowledge", "compare"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("a search per eval type", () => {
  it("AbstainQA: effective reliability as the utility, abstentions kept per question", async () => {
    const config = parseSearchArgs([
      ...["-n", "abstain", "-e", "AbstainQA", "-d", "knowledge_mc", "--eval_params", '{"maxNewTokens": 3}', "-i", expertDir, "--output_root", root],
      ...["--dev_questions", "6", "--test_questions", "4", "-m", "2"],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const scores = await query<{ utility: number; results: Array<{ correct: boolean; abstained: boolean; score: number }> }>(
      store.url,
      `SELECT c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'abstain' AND c.split = 'dev'`,
    );
    expect(scores.length).toBeGreaterThanOrEqual(2 * 3);
    for (const { utility, results } of scores) {
      expect(results).toHaveLength(6);
      const right = results.filter((row) => row.correct).length;
      const wrong = results.filter((row) => !row.correct && !row.abstained).length;
      expect(utility).toBeCloseTo((right - wrong) / 6);
      for (const row of results) expect(typeof row.abstained).toBe("boolean");
    }
  });
});
