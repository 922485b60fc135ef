/*
 * `npm run bench:eval -- [--device cpu|webgpu|cuda] [--task gsm8k] [--questions 100] [--hf HF.json]`
 * Questions per second of the onnxruntime evaluator on one device: one candidate, a population of 10
 * candidates in one batch, and the same 10 one by one (the ratio is the batching gain). With --hf, the
 * timing of HF transformers `generate` on the same questions (scripts/gpu/hf_reference.py) for comparison.
 */
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { evaluateCandidates, prepareTask } from "../src/engine/eval/evaluator";
import { OnnxLoraRunner, type LoraWeights } from "../src/engine/eval/lora-runner";
import { parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { importModel } from "../src/engine/model/import";
import { modelCacheRoot } from "../src/server/paths";

const { values } = parseArgs({
  options: {
    zoo: { type: "string", default: "initial_experts" },
    data: { type: "string", default: "data/eval" },
    device: { type: "string", default: "cpu" },
    task: { type: "string", default: "gsm8k" },
    questions: { type: "string", default: "100" },
    population: { type: "string", default: "10" },
    hf: { type: "string" },
  },
});
const questions = Number(values.questions);
const device = parseEvalDevice(values.device);
// The decoder the product evaluates with: built from the base model into the model cache.
const zoo = await importModel(path.join(values.zoo, "base"), { cacheRoot: modelCacheRoot() });
const runner = await OnnxLoraRunner.open({ ...zoo.runnerModel, device: device });
const expertDirs = fs.readdirSync(values.zoo).filter((name) => fs.existsSync(path.join(values.zoo, name, "adapter_config.json"))).sort();
const experts = await Promise.all(expertDirs.map((name) => loadLoraWeights(path.join(values.zoo, name))));
const population: LoraWeights[] = Array.from({ length: Number(values.population) }, (_, index) => experts[index % experts.length]!);
const sample = JSON.parse(fs.readFileSync(path.join(values.data, `${values.task}.json`), "utf8")) as { dev: Array<{ choices?: unknown }> };
const multipleChoice = sample.dev[0]?.choices !== undefined;
const task = prepareTask({ evalType: multipleChoice ? "multiple_choice" : "exact_match", dataset: path.join(values.data, `${values.task}.json`), params: { maxNewTokens: multipleChoice ? 3 : 16 } });

async function timed(work: () => Promise<unknown>) {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

await evaluateCandidates(runner, task, "dev", [experts[0]!], { limit: 8 }); // warm-up: first-run allocations and kernels
const single = await timed(() => evaluateCandidates(runner, task, "dev", [experts[0]!], { limit: questions }));
const batched = await timed(() => evaluateCandidates(runner, task, "dev", population, { limit: questions }));
const oneByOne = await timed(async () => {
  for (const candidate of population) await evaluateCandidates(runner, task, "dev", [candidate], { limit: questions });
});
const n = population.length;
console.log(`device ${device}, task ${values.task}, ${questions} questions, population ${n}`);
console.log(`  one candidate:            ${(questions / single).toFixed(1)} questions/s (${questions} questions in ${single.toFixed(2)} s)`);
console.log(`  ${n} candidates batched:    ${((n * questions) / batched).toFixed(1)} questions/s (${batched.toFixed(2)} s)`);
console.log(`  ${n} candidates one by one: ${((n * questions) / oneByOne).toFixed(1)} questions/s (${oneByOne.toFixed(2)} s)`);
console.log(`  batched / one by one:     ${(oneByOne / batched).toFixed(2)}×`);
if (values.hf) {
  const reference = JSON.parse(fs.readFileSync(values.hf, "utf8")) as { device: string; timing: Record<string, Array<{ model: string; questions: number; seconds: number }>> };
  const runs = reference.timing[values.task] ?? [];
  const rate = runs.reduce((sum, run) => sum + run.questions, 0) / runs.reduce((sum, run) => sum + run.seconds, 0);
  console.log(`  HF transformers generate (${reference.device}, one model at a time, all ${runs[0]?.questions} questions per call): ${rate.toFixed(1)} questions/s`);
}
