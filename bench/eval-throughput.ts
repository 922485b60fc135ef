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
 *
 * `--precision fp32|fp16` instead runs the N candidates once in that precision and only compares their greedy
 * sequences with HF's of the same precision (fp32: FOLDER/hf-greedy-float32.json, written by
 * `eval_throughput_hf.py --dtype float32`): float16's own noise between two correct implementations is above 1% of
 * 32-token sequences, so agreement is judged where both sides compute alike.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadModelText, OnnxLoraRunner } from "../src/engine/eval/lora-runner";
import { parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { PRECISIONS, type Precision } from "../src/engine/model/graph-builder";
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

const { positionals, values } = parseArgs({ allowPositionals: true, options: { device: { type: "string", default: "cuda" }, candidates: { type: "string" }, precision: { type: "string" } } });
const folder = positionals[0];
if (!folder) {
  console.error("usage: npm run bench:eval-throughput -- FOLDER [--device cuda|webgpu|cpu] [--candidates N] [--precision fp32|fp16]");
  process.exit(2);
}
const precision = values.precision === undefined ? undefined : PRECISIONS.find((name): name is Precision => name === values.precision);
if (values.precision !== undefined && !precision) {
  console.error(`--precision: expected one of ${PRECISIONS.join(", ")}, got "${values.precision}"`);
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
const runner = await OnnxLoraRunner.open({ ...imported.runnerModel, device, precision, ignoreEndOfSequence: true });
console.log(`${imported.model.spec.family} ${(imported.model.parameters / 1e9).toFixed(2)}B on ${device} (${hf.gpu}): import + session ${seconds(performance.now() - started)}`);
const candidates = await Promise.all(Array.from({ length: count }, (_, c) => loadLoraWeights(path.join(folder, "adapters", `c${c}`), runner.shape)));

const requests = (n: number, maxNewTokens: number) => Array.from({ length: n }, (_, adapter) => prompts.map((prompt) => ({ kind: "generate" as const, prompt, maxNewTokens, adapter }))).flat();
type Outputs = Awaited<ReturnType<typeof runner.run>>;

// Sequences against HF's: text of the ids up to the first end of sequence, on both sides (ours ignored it too).
const { tokenizer } = loadModelText(imported.model.folder);
function sameSequences(outputs: Outputs, greedy: number[][]): number {
  return outputs.filter((output, row) => output.kind === "generate" && output.text === tokenizer.decode(greedy[row]!, { skip_special_tokens: true })).length;
}

if (precision) {
  const reference = precision === "fp32" ? (JSON.parse(fs.readFileSync(path.join(folder, "hf-greedy-float32.json"), "utf8")) as number[][]) : hf.greedy;
  const at = performance.now();
  const outputs = await runner.run(requests(count, hf.new_tokens), candidates);
  const same = sameSequences(outputs, reference);
  console.log(`${precision}: greedy sequences equal to HF+PEFT ${precision}'s: ${same}/${outputs.length} (${((same / outputs.length) * 100).toFixed(1)}%), one run ${seconds(performance.now() - at)}`);
  fs.rmSync(cacheRoot, { recursive: true, force: true });
  process.exit(0);
}

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
const oneMs = await best(() => runner.run(requests(1, hf.new_tokens), candidates.slice(0, 1)));
const manyRequests = requests(count, hf.new_tokens);
let outputs: Outputs = [];
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

const same = sameSequences(outputs, hf.greedy);

console.log(
  [
    `1 candidate × ${prompts.length} prompts (mean ${hf.mean_prompt_tokens.toFixed(0)} tokens), ${hf.new_tokens} new: ${oneRate.toFixed(0)} tokens/s (${seconds(oneMs)}), HF+PEFT fp16 ${hf.hf_one_tokens_per_s.toFixed(0)}: ${(oneRate / hf.hf_one_tokens_per_s).toFixed(2)}×`,
    `${count} candidates (${rows} rows): ${manyRate.toFixed(0)} tokens/s (${seconds(manyMs)}), HF+PEFT fp16 ${hf.hf_many_tokens_per_s.toFixed(0)}: ${(manyRate / hf.hf_many_tokens_per_s).toFixed(2)}×`,
    `decoding step at ${rows} rows: ${stepMs.toFixed(1)} ms (prefill + first token ${seconds(prefillMs)}); ${(stepFlops / 1e12).toFixed(2)} TFLOP at the measured fp16 matmul rate ${(hf.fp16_matmul_flops / 1e12).toFixed(0)} TFLOP/s is ${limitMs.toFixed(2)} ms: ${((limitMs / stepMs) * 100).toFixed(1)}% of that limit`,
    `greedy sequences equal to HF+PEFT fp16's: ${same}/${rows} (${((same / rows) * 100).toFixed(1)}%)`,
  ].join("\n"),
);
fs.rmSync(cacheRoot, { recursive: true, force: true });
