// The importer's build step: a Hugging Face model folder becomes the LoRA decoder the evaluator runs, written once
// into a cache folder and reused while the model's files and the builder are unchanged. The decoder references the
// weights where they lie (ONNX external data relative to the model folder), so nothing of the model is copied; a
// session opens it with the model folder as its external-data folder (OnnxDecoder's `weightsFolder`).
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { GenerationModelShape } from "../eval/batch-plan";
import type { RunnerModel } from "../eval/lora-runner";
import type { DecoderShape } from "../eval/onnx";
import { buildDecoder, buildRewardScorer, decoderShapeOf, LORA_MODULES, PRECISIONS, type Precision } from "./graph-builder";
import { CAUSAL_ARCHITECTURES, CLASSIFIER_ARCHITECTURES, ModelConfigError } from "./hf-config";
import { readHfModel, type HfModel } from "./hf-model";
import type { DecoderSpec } from "./spec";

/** Bumped whenever the graph builder's output changes, so cached decoders of older builders are rebuilt. */
export const DECODER_BUILD_VERSION = 2;
/** The decoder file of each precision, in the model's cache folder. */
export const decoderFile = (precision: Precision) => `decoder-${precision}.onnx`;
const RECORD_FILE = "import.json";

export interface ImportedModel {
  model: HfModel;
  /** The decoder file of each precision, in its cache folder. */
  decoders: Readonly<Record<Precision, string>>;
  /** Where the decoder's external data lies: the model folder. */
  weightsFolder: string;
  /** The decoder's inputs, from the spec: no session needs to load the model to tell them. */
  shape: DecoderShape;
  /** False when a cached decoder of the same inputs was reused. */
  built: boolean;
  /** What the evaluator's runner opens: the decoder, with the model folder for its tokenizer and weights. */
  runnerModel: RunnerModel;
}

function dimensionsOf(spec: DecoderSpec): GenerationModelShape {
  const { numLayers: layers, hiddenSize, intermediateSize, numHeads, numKvHeads, headDim, vocabSize } = spec;
  return { layers, hiddenSize, intermediateSize, numHeads, numKvHeads, headDim, vocabSize };
}

/** Where an import stands: `done` of `total` units of its current `phase`. */
export interface ImportProgress {
  phase: string;
  done: number;
  total: number;
}

/** The import's phases, in order; a reused decoder has only the first. */
type ImportPhase = "read model" | "build decoder" | "write decoder";

/** What the decoder is built from: the folder, its spec, the size and time of each weights file, the LoRA targets. */
function buildKey(model: HfModel, loraTargets: readonly string[]): string {
  const files = [...new Set([...model.weights.values()].map((ref) => ref.file))].sort().map((file) => {
    const stat = fs.statSync(file);
    return [path.relative(model.folder, file), stat.size, stat.mtimeMs];
  });
  // The decoder's inputs follow the builder's module order whatever order the targets come in: one set, one decoder.
  const inputs = { version: DECODER_BUILD_VERSION, folder: model.folder, spec: model.spec, files, loraTargets: [...new Set(loraTargets)].sort() };
  return createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 16);
}

/**
 * Reads `folder` (one clear error per problem) and returns its decoder, built into `cacheRoot` unless already there.
 * `onProgress` hears each phase start (done 0) and end (done = total); between phases the import yields, so a
 * server process that runs it keeps answering (and can store the progress) while a large model is read.
 */
export async function importModel(
  folder: string,
  options: { cacheRoot: string; loraTargets?: readonly string[]; onProgress?: (progress: ImportProgress) => void },
): Promise<ImportedModel> {
  const report = async (phase: ImportPhase, done: number) => {
    options.onProgress?.({ phase, done, total: 1 });
    await new Promise((resolve) => setImmediate(resolve));
  };
  await report("read model", 0);
  const model = await readHfModel(folder);
  if (model.spec.classifier) {
    throw new ModelConfigError(path.join(model.folder, "config.json"), "architectures", `a sequence-classification model (a reward model) has a score head, not the LM head a decoder generates with (supported: ${CAUSAL_ARCHITECTURES.join(", ")})`);
  }
  await report("read model", 1);
  const loraTargets = options.loraTargets ?? LORA_MODULES;
  const dir = path.join(path.resolve(options.cacheRoot), `${path.basename(model.folder)}-${buildKey(model, loraTargets)}`);
  const decoders = Object.fromEntries(PRECISIONS.map((precision) => [precision, path.join(dir, decoderFile(precision))])) as Record<Precision, string>;
  const shape = decoderShapeOf(model.spec, loraTargets);
  const weightsPrecision: Precision = model.dtypes.some((dtype) => dtype === "F16" || dtype === "BF16") ? "fp16" : "fp32";
  const imported = { model, decoders, weightsFolder: model.folder, shape, runnerModel: { decoders, weightsPrecision, dimensions: dimensionsOf(model.spec), baseFolder: model.folder, weightsFolder: model.folder } };
  if (PRECISIONS.every((precision) => fs.existsSync(decoders[precision]))) return { ...imported, built: false };
  fs.mkdirSync(dir, { recursive: true });
  await report("build decoder", 0);
  const graphs = PRECISIONS.map((precision) => [precision, buildDecoder(model.spec, model.weights, { modelDir: model.folder, loraTargets, precision })] as const);
  await report("build decoder", 1);
  await report("write decoder", 0);
  fs.writeFileSync(path.join(dir, RECORD_FILE), `${JSON.stringify({ folder: model.folder, loraTargets, spec: model.spec, builtAt: new Date().toISOString() }, null, 2)}\n`);
  for (const [precision, graph] of graphs) {
    // Renamed last: a decoder file in the cache is always a whole one.
    const partial = `${decoders[precision]}.partial-${process.pid}`;
    fs.writeFileSync(partial, graph);
    fs.renameSync(partial, decoders[precision]);
  }
  await report("write decoder", 1);
  return { ...imported, built: true };
}

export interface ImportedRewardModel {
  model: HfModel & { spec: { classifier: NonNullable<DecoderSpec["classifier"]> } };
  /**
   * The scorer (graph-builder.ts's buildRewardScorer): half a megabyte that references the weights where they lie,
   * built in memory in milliseconds, so nothing is cached on disk.
   */
  scorer: Uint8Array;
  /** Where the scorer's external data lies: the model folder. */
  weightsFolder: string;
}

/**
 * Reads the sequence-classification model (a reward model) in `folder` (one clear error per problem) and builds its
 * scorer; a causal LM is refused, naming config.json's architectures.
 */
export async function importRewardModel(folder: string): Promise<ImportedRewardModel> {
  const model = await readHfModel(folder);
  const { classifier } = model.spec;
  if (!classifier) {
    throw new ModelConfigError(path.join(model.folder, "config.json"), "architectures", `a reward model is a sequence-classification model (supported: ${CLASSIFIER_ARCHITECTURES.join(", ")}), not a causal LM`);
  }
  const scorer = buildRewardScorer(model.spec, model.weights, { modelDir: model.folder });
  return { model: { ...model, spec: { ...model.spec, classifier } }, scorer, weightsFolder: model.folder };
}
