import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { evaluateCandidates, prepareTask } from "../../src/engine/eval/evaluator";
import { OnnxLoraRunner, type LoraWeights } from "../../src/engine/eval/lora-runner";
import { loadLoraWeights } from "../../src/engine/eval/peft-lora";
import { importModel } from "../../src/engine/model/import";

/*
 * data/reference/hf_dev_predictions.json holds HF transformers' greedy generations (scripts/gpu/hf_reference.py
 * on an H100) for the base model and every expert on each task's dev split. Our onnxruntime evaluator must
 * produce the same text; the full comparison is `npm run eval:compare-hf -- data/reference/hf_dev_predictions.json`,
 * this test checks the first questions of every task for three models on every run of the test suite.
 */
const reference = JSON.parse(fs.readFileSync("data/reference/hf_dev_predictions.json", "utf8")) as {
  multipleChoice: string[];
  predictions: Record<string, Record<string, string[]>>;
};
const models = ["base", "ja_reader", "math"];
const modelCache = fs.mkdtempSync(path.join(os.tmpdir(), "hf-agreement-"));
afterAll(() => fs.rmSync(modelCache, { recursive: true, force: true }));
const questions = 24;

describe("evaluator against HF transformers", () => {
  it.each(Object.keys(reference.predictions.base!))("%s: the same greedy answers", async (task) => {
    // The decoder the product evaluates with: the graph builder's, built from the zoo's base model.
    const zoo = await importModel("initial_experts/base", { cacheRoot: modelCache });
    const runner = await OnnxLoraRunner.open({ ...zoo.runnerModel, device: "cpu" });
    const adapters: LoraWeights[] = await Promise.all(models.map((name) => (name === "base" ? { scale: 0, modules: new Map() } : loadLoraWeights(`initial_experts/${name}`))));
    const multipleChoice = reference.multipleChoice.includes(task);
    const prepared = prepareTask({ evalType: multipleChoice ? "multiple_choice" : "exact_match", dataset: `data/eval/${task}.json`, params: { maxNewTokens: multipleChoice ? 3 : 16 } });
    const evaluations = await evaluateCandidates(runner, prepared, "dev", adapters, { limit: questions });
    models.forEach((model, index) => {
      expect(evaluations[index]!.results.map((result) => result.prediction), model).toEqual(reference.predictions[model]![task]!.slice(0, questions));
    });
  });
});
