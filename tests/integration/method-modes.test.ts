import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OnnxDecoder } from "../../src/engine/eval/onnx";
import { checkAdapterFitsDecoder } from "../../src/engine/eval/peft-lora";
import { MERGE_METHOD_NAMES, mergeMethodJsonSchemas } from "../../src/engine/merge";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { loadPeftAdapter } from "../../src/engine/tensors";
import { evaluationBudget, prepareSearch, SearchSetupError } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase } from "./helpers";

/*
 * Every registered merge method in every mode it allows runs a whole (tiny) search on the zoo: a method that
 * cannot run cannot land. In-process, so the decoder session is loaded once for all of them; two experts,
 * two dev and two test questions, answers of four tokens, one iteration.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "method-modes-"));
const expertDir = path.join(root, "experts");
const experts = ["ja_reader", "math"];
for (const expert of experts) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });

const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const modes = {
  weights: ["--mode", "weights"],
  // From the experts alone (recipe mode's default adds their pairs): each candidate is one expert, named by it.
  recipe: ["--mode", "recipe", "--initial_population", "experts"],
  "recipe, per layer": ["--mode", "recipe", "--recipe_weights", "layer", "--reset_rule", "bounds", "--initial_population", "experts"],
};
const schemas = mergeMethodJsonSchemas() as Record<string, { properties: Record<string, unknown> }>;
/** Recipe mode searches the per-expert weights; a method whose parameters have none cannot be searched that way. */
const hasWeights = (method: string) => "weights" in schemas[method]!.properties;
const cases = MERGE_METHOD_NAMES.flatMap((method) => Object.keys(modes).map((mode) => [method, mode] as [string, keyof typeof modes]));

describe("every merge method in every mode", () => {
  it.each(cases)("%s, %s mode", async (method, mode) => {
    const name = `${method}-${mode.replace(/\W+/g, "-")}`;
    const args = () => parseSearchArgs([
      ...["-n", name, "-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 4}', "-i", expertDir, "--output_root", root],
      ...["--dev_questions", "2", "--test_questions", "2", "-m", "1", "--merge_method", method, ...modes[mode]],
    ]);
    if (mode === "weights" && method !== "weighted_average") {
      // Weights mode moves whole adapters and merges nothing: another method would silently not be used.
      expect(args).toThrow(`--merge_method: weights mode moves whole adapters and merges nothing, so ${method} would not be used`);
      return;
    }
    const config = args();
    if (mode !== "weights" && !hasWeights(method)) {
      await expect(prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") })).rejects.toThrow(SearchSetupError);
      await expect(prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") })).rejects.toThrow(`--merge_method: ${method} has no per-expert weights for recipe mode to search`);
      return;
    }
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    // Every expert is a candidate: none is taken as the base unless base_model_idx names it.
    expect(evaluationBudget(prepared).population).toBe(experts.length);
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    expect(result.metrics?.ending_best_single_test_accuracy).toBeGreaterThanOrEqual(0);
    // The charts name each line by the expert its candidate started as.
    expect((await store.db.run.findUniqueOrThrow({ where: { id: result.runId } })).candidateNames).toEqual(experts);
    const { shape } = await OnnxDecoder.load(prepared.runnerModel.decoders.fp32, "cpu", { weightsFolder: prepared.runnerModel.weightsFolder });
    for (const saved of ["global_best", "global_worst"]) {
      const adapter = await loadPeftAdapter(path.join(result.folder, saved));
      checkAdapterFitsDecoder(adapter.layout, shape, saved);
    }
    const recipe = path.join(result.folder, "global_best_recipe.yaml");
    expect(fs.existsSync(recipe)).toBe(mode !== "weights");
    if (mode !== "weights") expect(fs.readFileSync(recipe, "utf8")).not.toMatch(new RegExp(`^base_model: .*${expertDir}`, "m"));
  });
});
