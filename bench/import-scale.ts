/*
 * `npm run bench:import-scale -- FOLDER [--device cpu|webgpu|cuda] [--import-only]`: issue #14's scale check on a
 * folder written by scripts/gpu/make_scale_models.py (model/, adapter/, reference.json). It imports the model as
 * the product does (time, this process's peak host memory against the model's size, bytes written into the cache),
 * then opens the evaluator's runner on the device (time, peak host memory) and generates every reference prompt's
 * greedy answer for the base and for base + adapter in one batch, and counts the answers equal to HF's. An answer
 * that differs where HF's top-1/top-2 logit margin was below 1e-3 is reported as a near tie.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { OnnxLoraRunner } from "../src/engine/eval/lora-runner";
import { parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { importModel } from "../src/engine/model/import";

interface Answer {
  ids: number[];
  text: string;
  min_margin: number;
}
interface Reference {
  shape: string;
  prompts: Array<{ text: string; base: Answer; adapter: Answer }>;
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { device: { type: "string", default: "cpu" }, "import-only": { type: "boolean", default: false } } });
const folder = positionals[0];
if (!folder) {
  console.error("usage: npm run bench:import-scale -- FOLDER [--device cpu|webgpu|cuda] [--import-only]");
  process.exit(2);
}
const device = parseEvalDevice(values.device);
const reference = JSON.parse(fs.readFileSync(path.join(folder, "reference.json"), "utf8")) as Reference;
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const peakRss = () => process.resourceUsage().maxRSS * 1024;
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

const adapter = await loadLoraWeights(path.join(folder, "adapter"));
const loraTargets = [...new Set([...adapter.modules.keys()].map((key) => key.split(".")[1]!))];
const cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), "import-scale-"));
const residentBefore = process.memoryUsage().rss;
let started = performance.now();
const imported = await importModel(path.join(folder, "model"), { cacheRoot, loraTargets });
const importTime = seconds(started);
const importPeak = peakRss();
const decoderFolder = path.dirname(imported.decoders.fp32);
const written = fs.readdirSync(decoderFolder).reduce((total, file) => total + fs.statSync(path.join(decoderFolder, file)).size, 0);
const { model } = imported;
const shards = new Set([...model.weights.values()].map((ref) => ref.file)).size;
console.log(
  `${reference.shape} import: ${(model.parameters / 1e9).toFixed(2)}B parameters, ${model.dtypes.join("+")}, ${gib(model.weightBytes)} in ${shards} shard(s); ` +
    `${importTime}, peak host memory ${gib(importPeak)} (${(importPeak / model.weightBytes).toFixed(2)}× the weights; ${gib(residentBefore)} before), ${(written / 2 ** 20).toFixed(2)} MiB written`,
);
if (values["import-only"]) process.exit(0);

started = performance.now();
const runner = await OnnxLoraRunner.open({ ...imported.runnerModel, device });
console.log(`${reference.shape} ${device}: runner open in ${seconds(started)}, peak host memory ${gib(peakRss())}`);

const variants = [
  ["base", { ...adapter, scale: 0 }],
  ["adapter", adapter],
] as const;
const requests = variants.flatMap((_, variant) => reference.prompts.map((prompt) => ({ kind: "generate" as const, prompt: prompt.text, maxNewTokens: 16, adapter: variant })));
started = performance.now();
const outputs = await runner.run(requests, variants.map(([, weights]) => weights));
const generateTime = seconds(started);
let same = 0;
let nearTies = 0;
const differences: string[] = [];
requests.forEach((request, index) => {
  const [variant] = variants[request.adapter]!;
  const theirs = reference.prompts[index % reference.prompts.length]![variant];
  const output = outputs[index]!;
  const ours = output.kind === "generate" ? output.text : "";
  if (ours === theirs.text) same += 1;
  else if (theirs.min_margin < 1e-3) nearTies += 1;
  else if (differences.length < 3) differences.push(`${variant} #${index % reference.prompts.length}: ours ${JSON.stringify(ours)} vs HF ${JSON.stringify(theirs.text)} (margin ${theirs.min_margin.toExponential(1)})`);
});
console.log(
  `${reference.shape} ${device}: ${same}/${requests.length} answers equal HF's (${nearTies} others at near ties) in ${generateTime}; peak host memory ${gib(peakRss())}` +
    (differences.length ? `; ${differences.join("; ")}` : ""),
);
fs.rmSync(cacheRoot, { recursive: true, force: true });
