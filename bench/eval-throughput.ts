/*
 * `npm run bench:eval-throughput -- FOLDER [--device cuda|webgpu|cpu] [--candidates N]`: issue #15's evaluation
 * throughput, on a folder prepared on the GPU machine by scripts/gpu/make_scale_models.py (model/, adapter/) and then
 * scripts/gpu/eval_throughput_hf.py (adapters/c*, prompts.json, and HF + PEFT float16's figures measured there in
 * the same session: hf-throughput.json).
 *
 * Through the product's runner (the decoder the importer builds, the device's precision), end of sequence ignored as
 * on the HF side: tokens/s for 1 candidate × the prompts and N candidates × the prompts in one call, each the best of
 * 2 timed runs after a warm-up; the ratios to HF's; the time of one decoding step ((t(32 new) − t(1 new)) / 31) against
 * the step's FLOPs at the GPU's measured float16 matmul rate; and how many greedy sequences equal HF float16's.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadModelText, OnnxLoraRunner } from "../src/engine/eval/lora-runner";
import { parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { importModel } from "../src/engine/model/import";

interface HfFigures {
  gpu: string;
  candidates: number;
  prompts: number;
  new_tokens: number;
  mean_prompt_tokens: number;
  hf_one_tokens_per_s: number;
  hf_many_tokens_per_s: number;
  hf_peak_gib: number;
  fp16_matmul_flops: number;
  greedy: number[][];
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { device: { type: "string", default: "cuda" }, candidates: { type: "string" } } });
const folder = positionals[0];
if (!folder) {
  console.error("usage: npm run bench:eval-throughput -- FOLDER [--device cuda|webgpu|cpu] [--candidates N]");
  process.exit(2);
}
const device = parseEvalDevice(values.device);
const hf = JSON.parse(fs.readFileSync(path.join(folder, "hf-throughput.json"), "utf8")) as HfFigures;
const prompts = JSON.parse(fs.readFileSync(path.join(folder, "prompts.json"), "utf8")) as string[];
const count = values.candidates === undefined ? hf.candidates : Number(values.candidates);
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), "eval-throughput-"));
const started = performance.now();
const imported = await importModel(path.join(folder, "model"), { cacheRoot });
const runner = await OnnxLoraRunner.open({ ...imported.runnerModel, device, ignoreEndOfSequence: true });
console.log(`${imported.model.spec.family} ${(imported.model.parameters / 1e9).toFixed(2)}B on ${device} (${hf.gpu}): import + session ${seconds(performance.now() - started)}`);
const candidates = await Promise.all(Array.from({ length: count }, (_, c) => loadLoraWeights(path.join(folder, "adapters", `c${c}`), runner.shape)));

async function best(run: () => Promise<unknown>): Promise<number> {
  await run();
  let fastest = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const at = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - at);
  }
  return fastest;
}
const requests = (n: number, maxNewTokens: number) => Array.from({ length: n }, (_, adapter) => prompts.map((prompt) => ({ kind: "generate" as const, prompt, maxNewTokens, adapter }))).flat();

const oneMs = await best(() => runner.run(requests(1, hf.new_tokens), candidates.slice(0, 1)));
const manyRequests = requests(count, hf.new_tokens);
let outputs: Awaited<ReturnType<typeof runner.run>> = [];
const manyMs = await best(async () => (outputs = await runner.run(manyRequests, candidates)));
const prefillMs = await best(() => runner.run(requests(count, 1), candidates));
const oneRate = (prompts.length * hf.new_tokens) / (oneMs / 1000);
const manyRate = (count * prompts.length * hf.new_tokens) / (manyMs / 1000);

// One decoding step's FLOPs: every weight matrix once per row (2 per multiply-add), attention over the mean context, LoRA.
const { spec } = imported.model;
const rows = count * prompts.length;
const projections = spec.numLayers * (spec.hiddenSize * (spec.numHeads + 2 * spec.numKvHeads) * spec.headDim + spec.numHeads * spec.headDim * spec.hiddenSize + 3 * spec.hiddenSize * spec.intermediateSize);
const context = hf.mean_prompt_tokens + hf.new_tokens / 2;
const stepFlops = 2 * rows * (projections + spec.vocabSize * spec.hiddenSize) + 4 * rows * spec.numLayers * spec.numHeads * spec.headDim * context;
const stepMs = (manyMs - prefillMs) / (hf.new_tokens - 1);
const limitMs = (stepFlops / hf.fp16_matmul_flops) * 1000;

// Sequences against HF float16's: text of the ids up to the first end of sequence, on both sides (ours ignored it too).
const { tokenizer } = loadModelText(imported.model.folder);
let same = 0;
outputs.forEach((output, row) => {
  const theirs = tokenizer.decode(hf.greedy[row]!, { skip_special_tokens: true });
  if (output.kind === "generate" && output.text === theirs) same += 1;
});

console.log(
  [
    `1 candidate × ${prompts.length} prompts (mean ${hf.mean_prompt_tokens.toFixed(0)} tokens), ${hf.new_tokens} new: ${oneRate.toFixed(0)} tokens/s (${seconds(oneMs)}), HF+PEFT fp16 ${hf.hf_one_tokens_per_s.toFixed(0)}: ${(oneRate / hf.hf_one_tokens_per_s).toFixed(2)}×`,
    `${count} candidates (${rows} rows): ${manyRate.toFixed(0)} tokens/s (${seconds(manyMs)}), HF+PEFT fp16 ${hf.hf_many_tokens_per_s.toFixed(0)}: ${(manyRate / hf.hf_many_tokens_per_s).toFixed(2)}×`,
    `decoding step at ${rows} rows: ${stepMs.toFixed(1)} ms (prefill + first token ${seconds(prefillMs)}); ${(stepFlops / 1e12).toFixed(2)} TFLOP at the measured fp16 matmul rate ${(hf.fp16_matmul_flops / 1e12).toFixed(0)} TFLOP/s is ${limitMs.toFixed(2)} ms: ${((limitMs / stepMs) * 100).toFixed(1)}% of that limit`,
    `greedy sequences equal to HF+PEFT fp16's: ${same}/${rows} (${((same / rows) * 100).toFixed(1)}%)`,
  ].join("\n"),
);
fs.rmSync(cacheRoot, { recursive: true, force: true });
