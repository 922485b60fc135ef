import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTokenizer } from "../../src/engine/model/hf-tokenizer";
import { normalisedReward, openRewardScorer, rewardObjective } from "../../src/engine/eval/reward";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch, SearchSetupError } from "../../src/engine/search/session";
import { createCaller } from "../../src/server/api/root";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

/*
 * The reward-model objectives run whole searches on the zoo, scored by the tiny Llama reward model (which shares the
 * zoo's tokenizer): two iterations of two experts on BWR_model's prompt files, stored like any run.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "reward-search-"));
const expertDir = path.join(root, "experts");
for (const expert of ["knowledge", "compare"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const rewardModel = "tests/fixtures/reward/llama/model";
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface Row {
  utility: number;
  results: Array<{ prediction: string; score: number }>;
}

async function search(name: string, evalType: string, evalParams: Record<string, unknown>): Promise<Row[]> {
  const config = parseSearchArgs([
    ...["-n", name, "-e", evalType, "-d", "data/eval/bwr-model-format/external_api.json", "-i", expertDir, "--output_root", root],
    ...["--eval_params", JSON.stringify({ rewardModel, maxNewTokens: 6, ...evalParams }), "-m", "2"],
  ]);
  const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
  const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
  expect(result.status).toBe("completed");
  return query<Row>(store.url, `SELECT c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = '${name}' AND c.split = 'dev'`);
}

const prompts = (JSON.parse(fs.readFileSync("data/eval/bwr-model-format/external_api.json", "utf8")) as { dev: Array<{ prompt: string }> }).dev.map((item) => item.prompt);

describe("a search per reward-model objective", () => {
  it.each(["default", "verbose", "concise"] as const)("rm_%s: each response scored by the reward model (and for verbose and concise its length), the mean the utility", async (mode) => {
    // Bounds around the tiny model's raw scores, so responses differ in their normalised reward.
    const rewardBounds = { low: -15, high: 15 };
    const lengthBounds = { low: 1, high: 12 };
    const rows = await search(mode, `rm_${mode}`, { rewardBounds, ...(mode === "default" ? {} : { lengthBounds }) });
    expect(rows.length).toBeGreaterThanOrEqual(2 * 3);
    const scorer = await openRewardScorer(rewardModel, "cpu");
    const tokenizer = loadTokenizer(rewardModel).tokenizer;
    for (const { utility, results } of rows) {
      expect(results).toHaveLength(3);
      for (const [index, row] of results.entries()) {
        // Scored again here from the stored response: the same value the search stored.
        const { raw } = await scorer.score(prompts[index]!, row.prediction);
        expect(row.score).toBeCloseTo(rewardObjective(mode, normalisedReward(raw, rewardBounds), tokenizer.encode(row.prediction).ids.length, lengthBounds), 6);
      }
      expect(utility).toBeCloseTo(results.reduce((sum, row) => sum + row.score, 0) / 3, 9);
    }
    expect(new Set(rows.flatMap(({ results }) => results.map((row) => row.score))).size).toBeGreaterThan(1);
  });

  it("rm_reverse: the negated mean normalised reward", async () => {
    const rows = await search("reverse", "rm_reverse", { rewardBounds: { low: -15, high: 15 } });
    expect(rows.length).toBeGreaterThanOrEqual(2 * 3);
    for (const { utility, results } of rows) {
      for (const row of results) expect(row.score).toBeGreaterThanOrEqual(0);
      expect(utility).toBeCloseTo(-results.reduce((sum, row) => sum + row.score, 0) / 3, 9);
    }
  });

  it("a reward model that is a causal LM stops the search before anything is recorded, naming --eval_params' rewardModel", async () => {
    const config = parseSearchArgs([
      ...["-n", "not-a-reward-model", "-e", "rm_default", "-d", "data/eval/bwr-model-format/external_api.json", "-i", expertDir, "--output_root", root],
      ...["--eval_params", JSON.stringify({ rewardModel: "tests/fixtures/hf/llama/model" })],
    ]);
    const attempt = prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    await expect(attempt).rejects.toThrow(SearchSetupError);
    await expect(prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") })).rejects.toThrow(
      /^--eval_params: rewardModel: tests\/fixtures\/hf\/llama\/model\/config\.json: architectures: a reward model is a sequence-classification model \(supported: LlamaForSequenceClassification, /,
    );
    expect(fs.existsSync(path.join(root, "not-a-reward-model"))).toBe(false);
  });

  it("the dashboard reads a reward model only inside its readable roots, as it does a base model", async () => {
    const caller = createCaller({ db: store.db, headers: new Headers() });
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "reward-outside-"));
    try {
      fs.cpSync(rewardModel, outside, { recursive: true });
      for (const evalParams of [{ rewardModel: outside }, { tasks: [{ evalType: "rm_default", dataset: "gsm8k", params: { rewardModel: "/etc" } }, { evalType: "exact_match", dataset: "gsm8k" }] }]) {
        const attempt = caller.runs.create({ name: "probe", evalType: evalParams.tasks ? "multitask" : "rm_default", dataset: "gsm8k", evalParams, maxIteration: 1 });
        await expect(attempt).rejects.toThrow(evalParams.tasks ? "--eval_params: tasks[0].params.rewardModel: /etc is outside the folders this dashboard reads" : `--eval_params: rewardModel: ${outside} is outside the folders this dashboard reads`);
      }
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});
