// A full fine-tune of a base model becomes a PEFT LoRA expert, as mergekit-extract-lora does: each target module's
// W_finetune - W_base is cut to rank R by the native truncated SVD (b a = U_R S_R V_R^T, the best rank-R
// approximation), and written with PEFT's key names and lora_alpha = r, so PEFT's scale * B A is that truncated
// delta. What a LoRA cannot carry (norms, embeddings, biases, modules not extracted) is measured, not dropped silently.
import { promises as fsp } from "node:fs";
import path from "node:path";
import { decodeToF32, makeLayout, savePeftAdapter } from "../tensors";
import { LORA_MODULES } from "./graph-builder";
import { MODEL_CONFIG } from "./hf-config";
import { readHfModel, type HfModel } from "./hf-model";
import type { ImportProgress } from "./import";
import { TOKENIZER } from "./hf-tokenizer";
import { expectedWeights } from "./hf-weights";
import { truncatedSvd, TruncatedSvdError } from "./native-svd";
import type { WeightRef } from "./spec";

/** A fine-tune that cannot be extracted against this base, or a bad option: one line naming the file or field. */
export class ExtractionError extends Error {
  override name = "ExtractionError";
  constructor(
    message: string,
    /** "rank" or "modules" when the option is at fault; null when the folders are */
    readonly option: "rank" | "modules" | null = null,
  ) {
    super(message);
  }
}

export const EXTRACTION_REPORT = "extraction.json";

export interface ExtractOptions {
  /** the LoRA rank; a module whose smaller side is below it is extracted whole, at that side (exactly) */
  rank: number;
  /** where the adapter folder is written */
  out: string;
  /** target modules (default: every LORA_MODULES entry) */
  modules?: readonly string[];
  /** "cpu" (default) or "cuda:N": where the SVDs run */
  device?: string;
  /** shown in progress phases ("extract <name>"); default the fine-tune folder's name */
  name?: string;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ModuleExtraction {
  /** the HF weight name, e.g. model.layers.0.self_attn.q_proj.weight */
  name: string;
  /** [out, in] */
  shape: [number, number];
  rank: number;
  /** ||delta - B A||_F / ||delta||_F of the written factors */
  relativeError: number;
  /** the Eckart-Young optimum sqrt(sum of the discarded sigma^2) / ||delta||, when the SVD was exact; else null */
  optimalRelativeError: number | null;
  deltaNorm: number;
  exact: boolean;
  singularValues: number[];
}

export interface ExtractionReport {
  base: string;
  finetune: string;
  adapter: string;
  rank: number;
  device: string;
  modules: ModuleExtraction[];
  /** sqrt(sum of the modules' squared residuals / sum of their squared delta norms) */
  relativeError: number;
  /** tensors outside the extracted modules that differ from the base: ||W_ft - W_base|| / ||W_base||, lost in LoRA */
  notCarried: Array<{ name: string; relativeNorm: number }>;
  seconds: number;
}

const MODULE_WEIGHT = /^model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.weight$/;

async function readTensor(ref: WeightRef): Promise<Float32Array> {
  const handle = await fsp.open(ref.file, "r");
  try {
    const bytes = new Uint8Array(ref.length);
    const { bytesRead } = await handle.read(bytes, 0, ref.length, ref.offset);
    if (bytesRead !== ref.length) throw new ExtractionError(`${ref.file}: truncated: tensor "${ref.name}" has ${bytesRead} of its ${ref.length} bytes`);
    return decodeToF32(bytes, ref.dtype);
  } finally {
    await handle.close();
  }
}

const ONLY_FINETUNES = "a LoRA is extracted only from a fine-tune of the base model (same architecture, vocabulary and shapes)";
const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/**
 * Throws one ExtractionError naming the fine-tune's file and field, with both values, when `finetune` is not a
 * fine-tune of `base`: another architecture, vocabulary, depth or tensor shape.
 */
export function checkFinetuneFitsBase(base: HfModel, finetune: HfModel): void {
  const file = (model: HfModel, name: string) => path.join(model.folder, name);
  const differs = (name: string, field: string, ours: unknown, theirs: unknown) =>
    new ExtractionError(`${file(finetune, name)}: ${field} is ${JSON.stringify(ours)}, but the base model's (${file(base, name)}) is ${JSON.stringify(theirs)}: ${ONLY_FINETUNES}`);
  const fields = [
    ["model family (architectures / model_type)", "family"],
    ["vocab_size", "vocabSize"],
    ["num_hidden_layers", "numLayers"],
    ["tie_word_embeddings", "tieWordEmbeddings"],
  ] as const;
  for (const [field, key] of fields) if (finetune.spec[key] !== base.spec[key]) throw differs(MODEL_CONFIG, field, finetune.spec[key], base.spec[key]);
  const vocab = finetune.tokenizer.tokenizer.get_vocab(true);
  const baseVocab = base.tokenizer.tokenizer.get_vocab(true);
  if (vocab.size !== baseVocab.size) throw differs(TOKENIZER, "the vocabulary size", vocab.size, baseVocab.size);
  for (const [token, id] of vocab)
    if (baseVocab.get(token) !== id) throw differs(TOKENIZER, `the id of token ${JSON.stringify(token)}`, id, baseVocab.get(token) ?? null);
  for (const { name } of expectedWeights(base.spec)) {
    const ours = finetune.weights.get(name)!;
    const theirs = base.weights.get(name)!;
    if (shapeText(ours.shape) !== shapeText(theirs.shape))
      throw new ExtractionError(`${ours.file}: tensor "${name}" has shape ${shapeText(ours.shape)}, but the base model's (${theirs.file}) has ${shapeText(theirs.shape)}: ${ONLY_FINETUNES}`);
  }
}

/** The module weights of `spec` that an extraction of `modules` decomposes, in the decoder's order. */
export function extractedWeights(base: HfModel, modules: readonly string[]) {
  return expectedWeights(base.spec).filter(({ name }) => {
    const match = MODULE_WEIGHT.exec(name);
    return match !== null && modules.includes(match[3]!);
  });
}

function checkOptions(base: HfModel, options: ExtractOptions): string[] {
  const modules = [...(options.modules ?? LORA_MODULES)];
  const unknown = modules.filter((module) => !(LORA_MODULES as readonly string[]).includes(module));
  if (modules.length === 0 || unknown.length > 0)
    throw new ExtractionError(`modules: ${unknown.length ? `${unknown.join(", ")} ${unknown.length === 1 ? "is" : "are"} not` : "none given; expected"} among the LoRA target modules ${LORA_MODULES.join(", ")}`, "modules");
  checkExtractionRank(base, options.rank, modules);
  return modules;
}

/** Throws the ExtractionError about "rank" unless `rank` is an integer from 1 to the widest extracted module's singular values. */
export function checkExtractionRank(base: HfModel, rank: number, modules: readonly string[] = LORA_MODULES): void {
  const weights = extractedWeights(base, modules);
  const largest = Math.max(...weights.map(({ shape }) => Math.min(shape[0]!, shape[1]!)));
  if (!Number.isInteger(rank) || rank < 1 || rank > largest) {
    const widest = weights.find(({ shape }) => Math.min(shape[0]!, shape[1]!) === largest)!;
    throw new ExtractionError(`rank ${rank} is not an integer in [1, ${largest}]: the widest module, ${widest.name} (${widest.shape.join(" x ")}), has ${largest} singular values`, "rank");
  }
}

/** PEFT's name of a module weight's LoRA factor: base_model.model.<module>.lora_A.weight. */
const peftName = (weight: string, factor: "A" | "B") => `base_model.model.${weight.replace(/\.weight$/, "")}.lora_${factor}.weight`;

/** Extracts a LoRA of `finetuneFolder` against `baseFolder` into `options.out` and returns (and writes) its report. */
export async function extractLora(baseFolder: string, finetuneFolder: string, options: ExtractOptions): Promise<ExtractionReport> {
  const started = Date.now();
  const base = await readHfModel(baseFolder);
  const finetune = await readHfModel(finetuneFolder);
  checkFinetuneFitsBase(base, finetune);
  const modules = checkOptions(base, options);
  const device = options.device ?? "cpu";
  const phase = `extract ${options.name ?? path.basename(finetune.folder)}`;
  const weights = extractedWeights(base, modules);
  options.onProgress?.({ phase, done: 0, total: weights.length });

  const factors: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  const report: ModuleExtraction[] = [];
  let residualSq = 0;
  let normSq = 0;
  for (const [done, { name, shape }] of weights.entries()) {
    const [rows, cols] = shape as [number, number];
    const delta = await readTensor(finetune.weights.get(name)!);
    const baseWeight = await readTensor(base.weights.get(name)!);
    for (let i = 0; i < delta.length; i++) delta[i]! -= baseWeight[i]!;
    const rank = Math.min(options.rank, rows, cols);
    const svd = await truncatedSvd(delta, rows, cols, rank, { device }).catch((error: unknown) => {
      // A weight that is not finite is the files' fault: name the tensor, not the matrix.
      throw error instanceof TruncatedSvdError && /^the matrix holds/.test(error.message)
        ? new ExtractionError(`${finetune.weights.get(name)!.file}: tensor "${name}": its difference from the base's ${error.message.replace(/^the matrix /, "")} (a weight of one of them is not finite)`)
        : error;
    });
    factors.push({ name: peftName(name, "A"), shape: [rank, cols], data: svd.a }, { name: peftName(name, "B"), shape: [rows, rank], data: svd.b });
    const discarded = svd.singularValues.slice(rank).reduce((sum, s) => sum + s * s, 0);
    report.push({
      name,
      shape: [rows, cols],
      rank,
      relativeError: svd.relativeError,
      optimalRelativeError: svd.exact ? (svd.norm > 0 ? Math.sqrt(discarded) / svd.norm : 0) : null,
      deltaNorm: svd.norm,
      exact: svd.exact,
      singularValues: [...svd.singularValues],
    });
    residualSq += svd.residualNorm ** 2;
    normSq += svd.norm ** 2;
    options.onProgress?.({ phase, done: done + 1, total: weights.length });
  }

  const extracted = new Set(weights.map(({ name }) => name));
  const notCarried: ExtractionReport["notCarried"] = [];
  for (const { name } of expectedWeights(base.spec)) {
    if (extracted.has(name)) continue;
    const ours = await readTensor(finetune.weights.get(name)!);
    const theirs = await readTensor(base.weights.get(name)!);
    let diff = 0;
    let size = 0;
    for (let i = 0; i < ours.length; i++) {
      diff += (ours[i]! - theirs[i]!) ** 2;
      size += theirs[i]! ** 2;
    }
    if (diff > 0) notCarried.push({ name, relativeNorm: Math.sqrt(diff / (size || 1)) });
  }

  factors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const layout = makeLayout(factors);
  const data = new Float32Array(layout.size);
  factors.forEach((factor, i) => data.set(factor.data, layout.entries[i]!.offset));
  const ranks = new Map(report.map((module) => [MODULE_WEIGHT.exec(module.name)![3]!, module.rank]));
  // A module narrower than the rank is extracted at its own (full) rank: PEFT reads that from rank_pattern, and
  // alpha_pattern keeps its scale alpha / r at 1 as for the others.
  const narrower = [...ranks].filter(([, rank]) => rank !== options.rank);
  await savePeftAdapter(options.out, {
    layout,
    data,
    config: {
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      base_model_name_or_path: base.folder,
      r: options.rank,
      lora_alpha: options.rank,
      rank_pattern: Object.fromEntries(narrower),
      alpha_pattern: Object.fromEntries(narrower),
      target_modules: [...modules].sort(),
      lora_dropout: 0,
      bias: "none",
      fan_in_fan_out: false,
      use_rslora: false,
      use_dora: false,
      init_lora_weights: true,
      inference_mode: true,
      modules_to_save: null,
      layers_to_transform: null,
      layers_pattern: null,
    },
  });
  const result: ExtractionReport = {
    base: base.folder,
    finetune: finetune.folder,
    adapter: path.resolve(options.out),
    rank: options.rank,
    device,
    modules: report,
    relativeError: normSq > 0 ? Math.sqrt(residualSq / normSq) : 0,
    notCarried,
    seconds: (Date.now() - started) / 1000,
  };
  await fsp.writeFile(path.join(options.out, EXTRACTION_REPORT), `${JSON.stringify(result, null, 1)}\n`);
  return result;
}
