/*
 * `npm run eval:compare-hf -- HF.json [--zoo initial_experts] [--data data/eval]`: evaluates the base model
 * and every expert with our onnxruntime evaluator on the questions of scripts/gpu/hf_reference.py's output
 * and reports, per task, how many of our greedy answers equal HF transformers' exactly. Exits 1 below 99%.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { evaluateCandidates, prepareTask } from "../src/engine/eval/evaluator";
import { OnnxLoraRunner, type LoraWeights } from "../src/engine/eval/lora-runner";
import { parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { PRECISIONS } from "../src/engine/model/graph-builder";
import { importModel } from "../src/engine/model/import";
import { modelCacheRoot } from "../src/server/paths";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { zoo: { type: "string", default: "initial_experts" }, data: { type: "string", default: "data/eval" }, device: { type: "string", default: "cpu" }, precision: { type: "string" } },
});
const referenceFile = positionals[0];
if (!referenceFile) {
  console.error("usage: npm run eval:compare-hf -- HF.json [--zoo initial_experts] [--data data/eval] [--device cpu|webgpu|cuda] [--precision fp32|fp16]");
  process.exit(2);
}
const reference = JSON.parse(fs.readFileSync(referenceFile, "utf8")) as {
  split: "dev" | "test";
  multipleChoice: string[];
  predictions: Record<string, Record<string, string[]>>;
};
// The decoder the product evaluates with: built from the base model into the model cache.
const zoo = await importModel(path.join(values.zoo, "base"), { cacheRoot: modelCacheRoot() });
const precision = values.precision === undefined ? undefined : PRECISIONS.find((name) => name === values.precision);
if (values.precision !== undefined && !precision) {
  console.error(`--precision: expected one of ${PRECISIONS.join(", ")}, got "${values.precision}"`);
  process.exit(2);
}
const runner = await OnnxLoraRunner.open({ ...zoo.runnerModel, device: parseEvalDevice(values.device), precision });
console.log(`device ${values.device}, precision ${precision ?? "the device's"}`);
const models = Object.keys(reference.predictions);
const adapters: LoraWeights[] = await Promise.all(models.map((name) => (name === "base" ? { scale: 0, modules: new Map() } : loadLoraWeights(path.join(values.zoo, name)))));
const tasks = Object.keys(reference.predictions[models[0]!]!);

let worst = 1;
for (const task of tasks) {
  const multipleChoice = reference.multipleChoice.includes(task);
  const prepared = prepareTask({ evalType: multipleChoice ? "multiple_choice" : "exact_match", dataset: path.join(values.data, `${task}.json`), params: { maxNewTokens: multipleChoice ? 3 : 16 } });
  const limit = reference.predictions[models[0]!]![task]!.length;
  const evaluations = await evaluateCandidates(runner, prepared, reference.split, adapters, { limit });
  let same = 0;
  let total = 0;
  const mismatches: string[] = [];
  models.forEach((model, index) => {
    const ours = evaluations[index]!.results;
    reference.predictions[model]![task]!.forEach((theirs, question) => {
      total += 1;
      const mine = ours[question]!.prediction;
      if (mine === theirs) same += 1;
      else if (mismatches.length < 3) mismatches.push(`${model} #${question}: ours ${JSON.stringify(mine)} vs HF ${JSON.stringify(theirs)}`);
    });
  });
  worst = Math.min(worst, same / total);
  console.log(`${task.padEnd(14)} ${same}/${total} identical (${((100 * same) / total).toFixed(2)}%)${mismatches.length ? `; e.g. ${mismatches.join("; ")}` : ""}`);
}
console.log(`lowest task agreement: ${(100 * worst).toFixed(2)}% (goal ≥ 99%)`);
process.exit(worst >= 0.99 ? 0 : 1);
