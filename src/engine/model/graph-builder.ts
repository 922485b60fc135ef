import path from "node:path";
import { floatToHalf } from "../tensors/dtype";
import { ElemType, encodeModel, type AttributeValue, type Dim, type NodeProto, type TensorProto, type ValueInfoProto } from "./onnx-proto";
import type { DecoderShape } from "../eval/onnx";
import type { DecoderSpec, ModelFamily, WeightDtype, WeightIndex, WeightRef } from "./spec";

/*
 * One builder for the evaluator's LoRA generator, for every supported family: the families' differences are
 * branches on the DecoderSpec, never copies of the graph. A whole greedy generation is one session run: the prompt
 * pass, then an ONNX Loop of decoding steps whose state (token, position, mask, finished rows, KV cache) stays on the
 * device; the candidates' LoRA matrices are graph inputs, laid out for candidate-major rows. (The step-by-step
 * contract of initial_experts/README.md, which the bundled PyTorch export follows, is the tests' reference.)
 *
 * Standard ops of opset 17, and onnxruntime's fused kernels that every provider it ships has
 * (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization, FastGelu) or that the float16 graph runs on a GPU
 * (GroupQueryAttention).
 *
 * Base weights are ONNX external data pointing INTO the model's safetensors files (offset and length of each
 * tensor's bytes), cast to the compute type in the graph where stored otherwise (once, when the session folds the casts
 * at load; onnxruntime's CPU provider reads BF16 external data, see onnx-proto.test.ts). Where onnxruntime looks for them
 * (onnx-proto.test.ts shows each):
 * - a relative `location` resolves against the .onnx file's folder, and must stay inside it: an absolute location
 *   is refused ("Absolute path not allowed"), and so is a symlink inside that folder to a file outside it (the
 *   check follows links: "External data path escapes model directory"); a hard link is accepted, but exists only
 *   within one file system, and Linux's fs.protected_hardlinks refuses one to a file the user neither owns nor may write;
 * - the session option `session.model_external_initializers_file_folder_path` replaces that folder, for a model
 *   loaded from a file or from bytes.
 * So the locations written here are relative to `modelDir`, the folder holding the weights (a user's model folder,
 * which may be read-only): the .onnx file is written either into `modelDir` itself, or anywhere (a cache folder)
 * and loaded with that session option set to `modelDir`.
 */

export class GraphBuildError extends Error {
  override name = "GraphBuildError";
}

export const LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraModule = (typeof LORA_MODULES)[number];

/** The compute types a decoder is built for: float32 (every provider), float16 (GPU providers). */
export const PRECISIONS = ["fp32", "fp16"] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface BuildOptions {
  /** The folder external data locations are relative to (see the header comment); every weight file lies inside it. */
  modelDir: string;
  /** The modules that get `lora_A.{l}.{m}` / `lora_B.{l}.{m}` inputs, in every layer. */
  loraTargets: readonly string[];
  /** What the graph computes in (default fp32); weights stored otherwise are cast once, at load. */
  precision?: Precision;
}

const FAMILIES: readonly ModelFamily[] = ["llama", "mistral", "qwen2", "gemma"];
const ACTIVATIONS: ReadonlyArray<DecoderSpec["hiddenAct"]> = ["silu", "gelu_tanh"];
const ROPE_SCALINGS = ["linear", "llama3"] as const;
const STORED_TYPES: Readonly<Record<WeightDtype, ElemType>> = { F32: ElemType.FLOAT, F16: ElemType.FLOAT16, BF16: ElemType.BFLOAT16 };
/** What masked attention scores become: finite, so a row with every slot masked (a padding query) stays finite. */
const MASKED_SCORE = -1e9;

function refuse(field: string, value: unknown, expected: string): never {
  throw new GraphBuildError(`${field}: ${JSON.stringify(value)} is not supported; expected ${expected}`);
}

function checkSpec(spec: DecoderSpec): void {
  if (!FAMILIES.includes(spec.family)) refuse("spec.family", spec.family, `one of ${FAMILIES.join(", ")}`);
  if (!ACTIVATIONS.includes(spec.hiddenAct)) refuse("spec.hiddenAct", spec.hiddenAct, `one of ${ACTIVATIONS.join(", ")}`);
  for (const field of ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim", "maxPositionEmbeddings"] as const) {
    if (!Number.isSafeInteger(spec[field]) || spec[field] <= 0) refuse(`spec.${field}`, spec[field], "a positive integer");
  }
  if (spec.numHeads % spec.numKvHeads !== 0) refuse("spec.numKvHeads", spec.numKvHeads, `a divisor of numHeads (${spec.numHeads})`);
  if (spec.headDim % 2 !== 0) refuse("spec.headDim", spec.headDim, "an even number (rotary embeddings rotate pairs)");
  for (const field of ["rmsNormEps", "ropeTheta"] as const) {
    if (!Number.isFinite(spec[field]) || spec[field] <= 0) refuse(`spec.${field}`, spec[field], "a positive number");
  }
  const scaling = spec.ropeScaling;
  if (scaling !== null) {
    if (!(ROPE_SCALINGS as readonly string[]).includes(scaling.type)) refuse("spec.ropeScaling.type", scaling.type, `null or one of ${ROPE_SCALINGS.join(", ")}`);
    if (!Number.isFinite(scaling.factor) || scaling.factor <= 0) refuse("spec.ropeScaling.factor", scaling.factor, "a positive number");
    if (scaling.type === "llama3") {
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor && scaling.lowFreqFactor > 0)) refuse("spec.ropeScaling.highFreqFactor", scaling.highFreqFactor, `a number above lowFreqFactor (${scaling.lowFreqFactor}), which is above 0`);
      if (!(scaling.originalMaxPositionEmbeddings > 0)) refuse("spec.ropeScaling.originalMaxPositionEmbeddings", scaling.originalMaxPositionEmbeddings, "a positive number");
    }
  }
  if (spec.slidingWindow !== null && (!Number.isSafeInteger(spec.slidingWindow) || spec.slidingWindow <= 0)) refuse("spec.slidingWindow", spec.slidingWindow, "null or a positive integer");
}

function checkTargets(targets: readonly string[]): ReadonlySet<LoraModule> {
  for (const target of targets) {
    if (!(LORA_MODULES as readonly string[]).includes(target)) refuse("loraTargets", target, `modules among ${LORA_MODULES.join(", ")}`);
  }
  return new Set(targets as readonly LoraModule[]);
}

/** Rotary inverse frequencies, float32 as transformers computes them, with its "linear" and "llama3" scalings. */
export function ropeInverseFrequencies(spec: Pick<DecoderSpec, "headDim" | "ropeTheta" | "ropeScaling">): Float32Array {
  const half = spec.headDim / 2;
  const base = Array.from({ length: half }, (_, i) => Math.fround(1 / Math.fround(spec.ropeTheta ** Math.fround((2 * i) / spec.headDim))));
  const scaling = spec.ropeScaling;
  if (scaling === null) return Float32Array.from(base);
  if (scaling.type === "linear") return Float32Array.from(base, (f) => f / scaling.factor);
  // transformers' _compute_llama3_parameters: long wavelengths slowed by `factor`, short ones kept, a smooth ramp between.
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: context } = scaling;
  const lowFreqWavelen = context / lowFreqFactor;
  const highFreqWavelen = context / highFreqFactor;
  return Float32Array.from(base, (f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) return f / factor;
    if (wavelen < highFreqWavelen) return f;
    const smooth = (context / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/**
 * Nodes and initializers, with unique value names. A Loop body is a `subgraph()`: its own nodes, but constants,
 * weights and name counter shared with the outer graph, whose values a body reads by name (ONNX outer scope).
 */
class Graph {
  readonly nodes: NodeProto[] = [];
  private readonly root: { initializers: TensorProto[]; constants: Map<string, string>; counter: number };
  scope = "";

  constructor(root?: Graph) {
    this.root = root ? root.root : { initializers: [], constants: new Map(), counter: 0 };
  }

  get initializers(): readonly TensorProto[] {
    return this.root.initializers;
  }

  subgraph(): Graph {
    return new Graph(this);
  }

  addInitializer(tensor: TensorProto) {
    this.root.initializers.push(tensor);
  }

  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.ops(opType, inputs, 1, attributes, output === undefined ? undefined : [output])[0]!;
  }

  ops(opType: string, inputs: readonly string[], count: number, attributes: Record<string, AttributeValue> = {}, outputs?: string[]): string[] {
    const name = `${this.scope}/${opType}_${this.root.counter++}`;
    const names = outputs ?? Array.from({ length: count }, (_, i) => `${name}:${i}`);
    this.nodes.push({ opType, name, inputs, outputs: names, attributes });
    return names;
  }

  private constant(key: string, make: (name: string) => TensorProto): string {
    let name = this.root.constants.get(key);
    if (!name) {
      name = `const/${this.root.constants.size}`;
      this.root.initializers.push(make(name));
      this.root.constants.set(key, name);
    }
    return name;
  }

  /** An int64 tensor: 1-D, or a scalar when `scalar`. */
  int64(values: readonly number[], scalar = false): string {
    return this.constant(`i64 ${scalar} ${values.join(",")}`, (name) => ({
      name,
      elemType: ElemType.INT64,
      dims: scalar ? [] : [values.length],
      data: { raw: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) },
    }));
  }

  /** A float32 tensor: 1-D, or a scalar when given a number. */
  float(values: number | Float32Array): string {
    const data = typeof values === "number" ? Float32Array.of(values) : values;
    return this.constant(`f32 ${typeof values === "number"} ${data.join(",")}`, (name) => ({
      name,
      elemType: ElemType.FLOAT,
      dims: typeof values === "number" ? [] : [data.length],
      data: { raw: new Uint8Array(data.buffer) },
    }));
  }

  /** A float16 scalar. */
  half(value: number): string {
    return this.constant(`f16 ${value}`, (name) => ({ name, elemType: ElemType.FLOAT16, dims: [], data: { raw: new Uint8Array(Uint16Array.of(floatToHalf(value)).buffer) } }));
  }
}

/**
 * The decoder of `spec` over the weights `weights` indexes, serialized as an .onnx file whose base weights are
 * external data inside the safetensors files (see the header comment for where the file may go).
 */
/** Each LoRA target's input and output features, and the part of the layer it sits in. */
function projectionFeatures(spec: DecoderSpec): Record<LoraModule, { in: number; out: number; part: "self_attn" | "mlp" }> {
  const { hiddenSize: hidden, numHeads: heads, numKvHeads: kvHeads, headDim, intermediateSize } = spec;
  return {
    q_proj: { in: hidden, out: heads * headDim, part: "self_attn" },
    k_proj: { in: hidden, out: kvHeads * headDim, part: "self_attn" },
    v_proj: { in: hidden, out: kvHeads * headDim, part: "self_attn" },
    o_proj: { in: heads * headDim, out: hidden, part: "self_attn" },
    gate_proj: { in: hidden, out: intermediateSize, part: "mlp" },
    up_proj: { in: hidden, out: intermediateSize, part: "mlp" },
    down_proj: { in: intermediateSize, out: hidden, part: "mlp" },
  };
}

/**
 * The inputs' shape of the decoder `buildDecoder(spec, …, { loraTargets })` writes, known without opening it: what a
 * search checks its experts against, where a session would load the whole model only to read it.
 */
export function decoderShapeOf(spec: DecoderSpec, loraTargets: readonly string[]): DecoderShape {
  checkSpec(spec);
  const targets = checkTargets(loraTargets);
  const features = projectionFeatures(spec);
  const modules = LORA_MODULES.filter((module) => targets.has(module));
  const loraModules = Array.from({ length: spec.numLayers }, (_, layer) =>
    modules.map((module) => ({ key: `${layer}.${module}`, inFeatures: features[module].in, outFeatures: features[module].out })),
  ).flat();
  return { loraModules };
}

export function buildDecoder(spec: DecoderSpec, weights: WeightIndex, options: BuildOptions): Uint8Array {
  if (spec.classifier) refuse("spec.classifier", spec.classifier, "none: a sequence-classification model (a reward model) has a score head, not the LM head a generator needs; give a <Family>ForCausalLM");
  return buildGraph(spec, weights, options, "generator");
}

/** The output names of the reward scorer `buildRewardScorer` writes, and its inputs. */
export const SCORER_INPUTS = ["input_ids", "attention_mask", "position_ids", "score_positions"] as const;
export const SCORER_OUTPUT = "scores";

/**
 * The scorer of a sequence-classification model (a reward model): the decoder over right-padded rows `input_ids`
 * [batch, width] (`attention_mask` marking the real tokens, `position_ids` theirs), then its `score` head at each
 * row's `score_positions` [batch]: `scores` [batch, labels], in float32 (a handful of rows per question: a 16-bit
 * build would save little and cost agreement with transformers' scores).
 */
export function buildRewardScorer(spec: DecoderSpec, weights: WeightIndex, options: Pick<BuildOptions, "modelDir">): Uint8Array {
  if (!spec.classifier) refuse("spec.classifier", spec.classifier ?? null, "a sequence-classification model's head (config.json's architectures: <Family>ForSequenceClassification)");
  if (!Number.isSafeInteger(spec.classifier.labels) || spec.classifier.labels <= 0) refuse("spec.classifier.labels", spec.classifier.labels, "a positive integer");
  return buildGraph(spec, weights, { modelDir: options.modelDir, loraTargets: [], precision: "fp32" }, "classifier");
}

function buildGraph(spec: DecoderSpec, weights: WeightIndex, options: BuildOptions, kind: "generator" | "classifier"): Uint8Array {
  checkSpec(spec);
  const targets = checkTargets(options.loraTargets);
  const precision = options.precision ?? "fp32";
  if (!(PRECISIONS as readonly string[]).includes(precision)) refuse("precision", precision, `one of ${PRECISIONS.join(", ")}`);
  const compute = precision === "fp16" ? ElemType.FLOAT16 : ElemType.FLOAT;
  const { hiddenSize: hidden, numHeads: heads, numKvHeads: kvHeads, headDim, numLayers, vocabSize } = spec;
  const outer = new Graph();
  const modelDir = path.resolve(options.modelDir);

  const computeScalar = (value: number) => (compute === ElemType.FLOAT ? outer.float(value) : outer.half(value));
  const toFloat = (g: Graph, x: string) => (compute === ElemType.FLOAT ? x : g.op("Cast", [x], { to: { int: ElemType.FLOAT } }));
  const toCompute = (g: Graph, x: string) => (compute === ElemType.FLOAT ? x : g.op("Cast", [x], { to: { int: compute } }));

  const stored = new Map<string, string>();
  /** A base weight in the compute type (its external initializer, cast once where stored otherwise). */
  const weight = (name: string, shape: readonly number[]): string => {
    const known = stored.get(name);
    if (known) return known;
    const ref: WeightRef | undefined = weights.get(name);
    if (!ref) throw new GraphBuildError(`weights: the model has no tensor "${name}" (expected ${spec.family} shape [${shape.join(", ")}])`);
    if (ref.shape.length !== shape.length || ref.shape.some((dim, i) => dim !== shape[i])) {
      throw new GraphBuildError(`weights: tensor "${name}" has shape [${ref.shape.join(", ")}], expected [${shape.join(", ")}] from the spec`);
    }
    const elemType = STORED_TYPES[ref.dtype];
    if (elemType === undefined) refuse(`weights: tensor "${name}" dtype`, ref.dtype, `one of ${Object.keys(STORED_TYPES).join(", ")}`);
    const location = path.relative(modelDir, path.resolve(ref.file));
    if (location === ".." || location.startsWith(`..${path.sep}`) || path.isAbsolute(location)) {
      throw new GraphBuildError(`weights: tensor "${name}" lies in ${ref.file}, outside modelDir ${modelDir}: onnxruntime reads external data only inside the folder it resolves against`);
    }
    outer.addInitializer({ name, elemType, dims: ref.shape, data: { external: { location: location.split(path.sep).join("/"), offset: ref.offset, length: ref.length } } });
    const value = elemType === compute ? name : outer.op("Cast", [name], { to: { int: compute } }, `${name}:${precision}`);
    stored.set(name, value);
    return value;
  };
  /** A norm's scale in the compute type: Gemma's (1 + w) added in float32 first, as transformers computes it. */
  const normScale = (name: string): string => {
    const key = `${name}:norm`;
    const known = stored.get(key);
    if (known) return known;
    const scale = weight(name, [hidden]);
    const value = spec.normAddsOne ? toCompute(outer, outer.op("Add", [outer.float(1), toFloat(outer, scale)])) : scale;
    stored.set(key, value);
    return value;
  };

  const inputs: ValueInfoProto[] = [
    { name: "input_ids", elemType: ElemType.INT64, shape: ["batch", "width"] },
    { name: "attention_mask", elemType: ElemType.INT64, shape: ["batch", "width"] },
    { name: "position_ids", elemType: ElemType.INT64, shape: ["batch", "width"] },
    { name: "score_positions", elemType: ElemType.INT64, shape: ["batch", "scored"] },
    { name: "score_targets", elemType: ElemType.INT64, shape: ["batch", "scored"] },
    { name: "max_new_tokens", elemType: ElemType.INT64, shape: [] },
    { name: "eos_token_ids", elemType: ElemType.INT64, shape: ["eos"] },
  ];
  const outputs: ValueInfoProto[] = [
    { name: "tokens", elemType: ElemType.INT64, shape: ["batch", "generated"] },
    { name: "scored_logprobs", elemType: ElemType.FLOAT, shape: ["batch", "scored"] },
  ];
  const features = projectionFeatures(spec);
  const loraModules = LORA_MODULES.filter((module) => targets.has(module));
  for (const matrix of ["A", "B"] as const) {
    for (let layer = 0; layer < numLayers; layer += 1) {
      for (const module of loraModules) {
        const { in: inFeatures, out: outFeatures } = features[module];
        inputs.push({ name: `lora_${matrix}.${layer}.${module}`, elemType: ElemType.FLOAT, shape: matrix === "A" ? ["n_candidates", "rank", inFeatures] : ["n_candidates", outFeatures, "rank"] });
      }
    }
  }
  inputs.push({ name: "lora_scale", elemType: ElemType.FLOAT, shape: ["n_candidates"] });

  // Projections that read the same input run as one packed matrix: q, k and v; gate and up; then o and down alone.
  const PROJECTION_GROUPS: ReadonlyArray<readonly LoraModule[]> = [["q_proj", "k_proj", "v_proj"], ["o_proj"], ["gate_proj", "up_proj"], ["down_proj"]];
  const packedWidth = (group: readonly LoraModule[]) => group.reduce((sum, module) => sum + features[module].out, 0);

  // Per group of projections and layer, made once per run in the compute type: the candidates' A side by side,
  // [n_candidates, in, Σ rank], and their scale·B block-diagonally, [n_candidates, Σ rank, Σ out] (each module's B
  // in its own columns), so one pair of batched MatMuls adds every module's update to the packed output. Rows are
  // candidate-major (the batch is n_candidates blocks of the same questions): a block multiplies its own
  // candidate's matrices, with no per-row gather of A and B.
  outer.scope = "lora";
  // A classifier has no candidates: nothing of it may read the generator's lora_scale input.
  const candidateScale = kind === "generator" ? outer.op("Unsqueeze", ["lora_scale", outer.int64([1, 2])]) : "";
  const candidates = kind === "generator" ? outer.op("Shape", ["lora_scale"]) : "";
  const packedLora = new Map<string, { A: string; B: string }>();
  for (let layer = 0; layer < numLayers; layer += 1) {
    for (const group of PROJECTION_GROUPS) {
      const adapted = group.filter((module) => targets.has(module));
      if (adapted.length === 0) continue;
      const width = packedWidth(group);
      let offset = 0;
      const As: string[] = [];
      const Bs: string[] = [];
      for (const module of group) {
        const out = features[module].out;
        if (targets.has(module)) {
          const key = `${layer}.${module}`;
          As.push(outer.op("Transpose", [`lora_A.${key}`], { perm: { ints: [0, 2, 1] } }));
          const scaled = outer.op("Transpose", [outer.op("Mul", [`lora_B.${key}`, candidateScale])], { perm: { ints: [0, 2, 1] } });
          Bs.push(group.length === 1 ? scaled : outer.op("Pad", [scaled, outer.int64([0, 0, offset, 0, 0, width - offset - out])]));
        }
        offset += out;
      }
      const concat = (parts: string[], axis: number) => (parts.length === 1 ? parts[0]! : outer.op("Concat", parts, { axis: { int: axis } }));
      packedLora.set(`${layer}.${group[0]}`, { A: toCompute(outer, concat(As, 2)), B: toCompute(outer, concat(Bs, 1)) });
    }
  }
  const blockShapes = new Map<number, string>();
  const blockShape = (inFeatures: number) => {
    let shape = blockShapes.get(inFeatures);
    if (!shape) blockShapes.set(inFeatures, (shape = outer.op("Concat", [candidates, outer.int64([-1, inFeatures])], { axis: { int: 0 } })));
    return shape;
  };
  /** A group's base weights (and biases) as one matrix [Σ out, in], concatenated once, at load. */
  const packedWeights = new Map<string, { weight: string; bias: string | null }>();
  const packedBase = (layer: number, group: readonly LoraModule[], bias: boolean) => {
    const key = `${layer}.${group[0]}`;
    let packed = packedWeights.get(key);
    if (!packed) {
      const prefixes = group.map((module) => `model.layers.${layer}.${features[module].part}.${module}`);
      const weights = group.map((module, i) => weight(`${prefixes[i]}.weight`, [features[module].out, features[module].in]));
      const biases = bias ? group.map((module, i) => weight(`${prefixes[i]}.bias`, [features[module].out])) : null;
      const concat = (parts: string[]) => (parts.length === 1 ? parts[0]! : outer.op("Concat", parts, { axis: { int: 0 } }));
      packedWeights.set(key, (packed = { weight: concat(weights), bias: biases && concat(biases) }));
    }
    return packed;
  };

  const embeddings = weight("model.embed_tokens.weight", [vocabSize, hidden]);
  // A classifier has no LM head (its score head is read where its graph ends).
  const head = kind === "classifier" ? null : spec.tieWordEmbeddings ? embeddings : weight("lm_head.weight", [vocabSize, hidden]);
  const inverseFrequencies = outer.float(ropeInverseFrequencies(spec));
  const attentionScale = computeScalar(1 / Math.sqrt(headDim));
  const embeddingScale = computeScalar(Math.sqrt(hidden));

  // RMSNorm as onnxruntime's own kernels (every provider has them): they compute in float32 whatever the input's type
  // (stash_type 1), as transformers' RMSNorm does; the skip form adds the residual first and returns the sum too.
  const rmsNorm = (g: Graph, x: string, name: string): string =>
    g.op("SimplifiedLayerNormalization", [x, normScale(name)], { axis: { int: -1 }, epsilon: { float: spec.rmsNormEps }, stash_type: { int: 1 } });
  /** (norm(x + residual), x + residual) */
  const addAndNorm = (g: Graph, x: string, residual: string, name: string): [string, string] => {
    const outputs = g.ops("SkipSimplifiedLayerNormalization", [x, residual, normScale(name)], 4, { epsilon: { float: spec.rmsNormEps } });
    g.nodes.at(-1)!.domain = "com.microsoft";
    return [outputs[0]!, outputs[3]!];
  };

  const activation = (g: Graph, x: string): string => {
    if (spec.hiddenAct === "silu") return g.op("Mul", [x, g.op("Sigmoid", [x])]);
    // tanh-approximated GELU, onnxruntime's FastGelu (opset 17 has no Gelu): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
    const gelu = g.op("FastGelu", [x]);
    g.nodes.at(-1)!.domain = "com.microsoft";
    return gelu;
  };

  // onnxruntime's GroupQueryAttention where the graph computes in float16 (its CUDA kernel's types) and the head size
  // suits it (a multiple of 16): rotary embedding, the KV cache written in place into a buffer of the batch's final
  // length, causal and sliding-window masking, all in one kernel per layer. Otherwise attention from standard ops.
  const fusedAttention = compute === ElemType.FLOAT16 && headDim % 16 === 0;
  // GroupQueryAttention's rotary tables, [positions, headDim/2], from the same inverse frequencies (folded at load).
  const rotaryTables = (() => {
    if (!fusedAttention) return null;
    outer.scope = "rope";
    const positions = outer.op("Cast", [outer.op("Range", [outer.int64([0], true), outer.int64([spec.maxPositionEmbeddings], true), outer.int64([1], true)])], { to: { int: ElemType.FLOAT } });
    const angles = outer.op("Mul", [outer.op("Unsqueeze", [positions, outer.int64([1])]), inverseFrequencies]);
    return { cos: toCompute(outer, outer.op("Cos", [angles])), sin: toCompute(outer, outer.op("Sin", [angles])) };
  })();

  /**
   * The decoder over `ids` [batch, seq] after the cache `past`, `mask` [batch, total] marking the real slots of both
   * (rows right-padded: a row's tokens fill its first slots): the normed last hidden states [batch, seq, hidden] and
   * each layer's cache after it. Standard attention grows the cache by concatenation (`past` null: the prompt); fused
   * attention writes into `past`, buffers as long as the whole generation.
   */
  const decoderStack = (g: Graph, ids: string, positions: string, mask: string, past: ReadonlyArray<readonly [string, string]> | null) => {
    const root = g.scope.split("/")[0];
    const dimOf = (value: string, axis: number) => g.op("Gather", [g.op("Shape", [value]), g.int64([axis], true)], { axis: { int: 0 } });
    g.scope = `${root}/shape`;
    const batchAndSeq = g.op("Slice", [g.op("Shape", [ids]), g.int64([0]), g.int64([2])]);
    const shapes = new Map<string, string>();
    const shapeOf = (key: string, make: () => string) => {
      let shape = shapes.get(key);
      if (!shape) shapes.set(key, (shape = make()));
      return shape;
    };
    const as3d = (rows: string, features: number) => g.op("Reshape", [rows, shapeOf(`3d ${features}`, () => g.op("Concat", [batchAndSeq, g.int64([features])], { axis: { int: 0 } }))]);
    const as2d = (x: string, features: number) => g.op("Reshape", [x, g.int64([-1, features])]);

    /**
     * The packed projections of `group` on rows x [batch·seq, in]: x Wᵀ (+ b) + (x A)(scale·B), [batch·seq, Σ out].
     * Gemm's transB reads W as stored (MatMul would need a transposed copy of it), and takes the LoRA update as its C.
     */
    const project = (x: string, layer: number, group: readonly LoraModule[], bias: boolean): string => {
      const inFeatures = features[group[0]!].in;
      const { weight: w, bias: b } = packedBase(layer, group, bias);
      const lora = packedLora.get(`${layer}.${group[0]}`);
      const delta = lora && as2d(g.op("MatMul", [g.op("MatMul", [g.op("Reshape", [x, blockShape(inFeatures)]), lora.A]), lora.B]), packedWidth(group));
      const c = delta && b ? g.op("Add", [delta, b]) : (delta ?? b);
      return g.op("Gemm", [x, w, ...(c ? [c] : [])], { transB: { int: 1 } });
    };
    const split = (x: string, group: readonly LoraModule[]) => g.ops("Split", [x, g.int64(group.map((module) => features[module].out))], group.length, { axis: { int: -1 } });

    // The residual stream as rows [batch·seq, hidden]: Gemm and the norms read rows; attention reshapes what it needs.
    g.scope = `${root}/embed`;
    let h = g.op("Gather", [embeddings, g.op("Reshape", [ids, g.int64([-1])])], { axis: { int: 0 } });
    if (spec.scaleEmbeddings) h = g.op("Mul", [h, embeddingScale]);

    const attention = fusedAttention ? fusedAttentionOf() : standardAttentionOf();
    const present: Array<readonly [string, string]> = [];
    let x = rmsNorm(g, h, "model.layers.0.input_layernorm.weight");
    for (let layer = 0; layer < numLayers; layer += 1) {
      g.scope = `${root}/layers.${layer}`;
      const prefix = `model.layers.${layer}`;
      const { context, cache } = attention(layer, project(x, layer, PROJECTION_GROUPS[0]!, spec.attentionBias));
      present.push(cache);
      const [y, afterAttention] = addAndNorm(g, project(context, layer, PROJECTION_GROUPS[1]!, false), h, `${prefix}.post_attention_layernorm.weight`);
      const [gate, up] = split(project(y, layer, PROJECTION_GROUPS[2]!, false), PROJECTION_GROUPS[2]!);
      const mlp = project(g.op("Mul", [activation(g, gate!), up!]), layer, PROJECTION_GROUPS[3]!, false);
      [x, h] = addAndNorm(g, mlp, afterAttention, layer + 1 < numLayers ? `model.layers.${layer + 1}.input_layernorm.weight` : "model.norm.weight");
    }
    return { hidden: as3d(x, hidden), present };

    /** GroupQueryAttention on rows q, k, v [batch·seq, heads·headDim]: the context as rows, and the layer's cache. */
    function fusedAttentionOf() {
      g.scope = `${root}/attention`;
      // Each row's length − 1 (its last token's slot) and the longest total, in the int32 the kernel reads.
      const lastSlot = g.op("Cast", [g.op("Sub", [g.op("ReduceSum", [mask, g.int64([1])], { keepdims: { int: 0 } }), g.int64([1], true)])], { to: { int: ElemType.INT32 } });
      const totalSlots = g.op("Cast", [dimOf(mask, 1)], { to: { int: ElemType.INT32 } });
      return (layer: number, qkv: string) => {
        const [pastKey, pastValue] = past![layer]!;
        // Packed q, k and v in one input: the kernel splits them.
        const [context, key, value] = g.ops(
          "GroupQueryAttention",
          [as3d(qkv, (heads + 2 * kvHeads) * headDim), "", "", pastKey, pastValue, lastSlot, totalSlots, rotaryTables!.cos, rotaryTables!.sin],
          3,
          {
            num_heads: { int: heads },
            kv_num_heads: { int: kvHeads },
            do_rotary: { int: 1 },
            rotary_interleaved: { int: 0 },
            scale: { float: 1 / Math.sqrt(headDim) },
            // A window of W: what transformers' sliding_window W sees (checked against it in the HF fixtures).
            local_window_size: { int: spec.slidingWindow === null ? -1 : spec.slidingWindow },
          },
        );
        g.nodes.at(-1)!.domain = "com.microsoft";
        return { context: as2d(context!, heads * headDim), cache: [key!, value!] as const };
      };
    }

    function standardAttentionOf() {
      // Slot p of the `total` slots (past, then the new `seq` tokens) sees slots ≤ p that the mask marks real, and,
      // with a sliding window, only the last `slidingWindow` of them: [batch, 1, seq, total].
      g.scope = `${root}/mask`;
      const total = dimOf(mask, 1);
      const slot = g.op("Range", [g.int64([0], true), total, g.int64([1], true)]);
      const querySlot = g.op("Range", [g.op("Sub", [total, dimOf(ids, 1)]), total, g.int64([1], true)]);
      const keySlots = g.op("Unsqueeze", [slot, g.int64([0])]);
      const querySlots = g.op("Unsqueeze", [querySlot, g.int64([1])]);
      let visible = g.op("Unsqueeze", [g.op("LessOrEqual", [keySlots, querySlots]), g.int64([0, 1])]);
      if (spec.slidingWindow !== null) {
        // The window counts positions, not slots: a right-padded row's generated tokens follow its padding. A real
        // slot's position is the count of real slots before it.
        const keyPositions = g.op("Unsqueeze", [g.op("Sub", [g.op("CumSum", [mask, g.int64([1], true)]), g.int64([1], true)]), g.int64([1, 2])]);
        const windowStart = g.op("Unsqueeze", [g.op("Sub", [positions, g.int64([spec.slidingWindow], true)]), g.int64([1, 3])]);
        visible = g.op("And", [visible, g.op("Greater", [keyPositions, windowStart])]);
      }
      const real = g.op("Unsqueeze", [g.op("Greater", [mask, g.int64([0], true)]), g.int64([1, 2])]);
      const visibleMask = g.op("And", [visible, real]);

      // cos and sin of position × inverse frequency in float32, then in the compute type as transformers casts them:
      // each frequency for both halves of a head, [batch, 1, seq, headDim].
      g.scope = `${root}/rope`;
      const angles = g.op("Mul", [g.op("Unsqueeze", [g.op("Cast", [positions], { to: { int: ElemType.FLOAT } }), g.int64([2])]), inverseFrequencies]);
      const doubled = g.op("Concat", [angles, angles], { axis: { int: -1 } });
      const cos = toCompute(g, g.op("Unsqueeze", [g.op("Cos", [doubled]), g.int64([1])]));
      const sin = toCompute(g, g.op("Unsqueeze", [g.op("Sin", [doubled]), g.int64([1])]));
      const halves = g.int64([headDim / 2, headDim / 2]);
      const rotate = (x: string): string => {
        const [first, second] = g.ops("Split", [x, halves], 2, { axis: { int: -1 } });
        const rotated = g.op("Concat", [g.op("Neg", [second!]), first!], { axis: { int: -1 } });
        return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])]);
      };
      /** rows [batch·seq, n·headDim] → [batch, n, seq, headDim] */
      const splitHeads = (x: string, n: number) => g.op("Transpose", [g.op("Reshape", [x, shapeOf(`heads ${n}`, () => g.op("Concat", [batchAndSeq, g.int64([n, headDim])], { axis: { int: 0 } }))])], { perm: { ints: [0, 2, 1, 3] } });
      const groups = heads / kvHeads;
      // GQA without copying K and V: the `groups` query heads of one KV head (consecutive, as transformers' repeat_kv
      // pairs them) are laid out as more query rows of that head, [batch, kvHeads, groups·seq, headDim]. (Reshape's 0
      // keeps the input's size on that axis: headDim for queries, slots for scores.)
      const byKvHead = (x: string) => (groups === 1 ? x : g.op("Reshape", [x, g.int64([0, kvHeads, -1, 0])]));
      const byHead = (x: string) => (groups === 1 ? x : g.op("Reshape", [x, g.int64([0, heads, -1, 0])]));
      return (layer: number, qkv: string) => {
        const [q, k, v] = split(qkv, PROJECTION_GROUPS[0]!);
        const query = rotate(splitHeads(q!, heads));
        const kNew = rotate(splitHeads(k!, kvHeads));
        const vNew = splitHeads(v!, kvHeads);
        const key = past ? g.op("Concat", [past[layer]![0], kNew], { axis: { int: 2 } }) : kNew;
        const value = past ? g.op("Concat", [past[layer]![1], vNew], { axis: { int: 2 } }) : vNew;
        const rawScores = g.op("Mul", [g.op("MatMul", [byKvHead(query), g.op("Transpose", [key], { perm: { ints: [0, 1, 3, 2] } })]), attentionScale]);
        // Softmax in float32, as transformers' attention computes it; masked slots get a finite score, so a padding
        // query with every slot masked stays finite.
        const scores = toFloat(g, byHead(rawScores));
        const probs = toCompute(g, g.op("Softmax", [g.op("Where", [visibleMask, scores, g.float(MASKED_SCORE)])], { axis: { int: -1 } }));
        const context = byHead(g.op("MatMul", [byKvHead(probs), value]));
        return { context: as2d(g.op("Transpose", [context], { perm: { ints: [0, 2, 1, 3] } }), heads * headDim), cache: [key, value] as const };
      };
    }
  };

  /** Logits of normed hidden states [batch, n, hidden] → [batch, n, vocab], in the compute type. */
  const logitsOf = (g: Graph, normed: string): string => {
    const rows = g.op("Gemm", [g.op("Reshape", [normed, g.int64([-1, hidden])]), head!], { transB: { int: 1 } });
    return g.op("Reshape", [rows, g.op("Concat", [g.op("Slice", [g.op("Shape", [normed]), g.int64([0]), g.int64([2])]), g.int64([vocabSize])], { axis: { int: 0 } })]);
  };
  /** Whether each token [batch, 1] is an end of sequence: [batch, 1] bool. */
  const isEos = (g: Graph, token: string) =>
    g.op("Cast", [g.op("ReduceMax", [g.op("Cast", [g.op("Equal", [g.op("Unsqueeze", [token, g.int64([-1])]), "eos_token_ids"])], { to: { int: ElemType.INT64 } })], { axes: { ints: [-1] }, keepdims: { int: 0 } })], { to: { int: ElemType.BOOL } });
  const anyUnfinished = (g: Graph, finished: string) =>
    g.op("Not", [g.op("Cast", [g.op("ReduceMin", [g.op("Cast", [finished], { to: { int: ElemType.INT64 } })], { keepdims: { int: 0 } })], { to: { int: ElemType.BOOL } })]);

  if (kind === "classifier") {
    // transformers' <Family>ForSequenceClassification: the score head on every position's normed hidden state, read
    // at the given one; here only that position's is projected.
    outer.scope = "classifier";
    const { hidden: states } = decoderStack(outer, "input_ids", "position_ids", "attention_mask", null);
    outer.scope = "classifier/score";
    const picked = outer.op("GatherND", [states, outer.op("Unsqueeze", ["score_positions", outer.int64([-1])])], { batch_dims: { int: 1 } });
    outer.op("Gemm", [picked, weight("score.weight", [spec.classifier!.labels, hidden])], { transB: { int: 1 } }, SCORER_OUTPUT);
    const rowInputs: ValueInfoProto[] = SCORER_INPUTS.slice(0, 3).map((name) => ({ name, elemType: ElemType.INT64, shape: ["batch", "width"] }));
    return encodeModel({
      producerName: "merge-search graph-builder",
      opsetImports: [{ domain: "", version: 17 }],
      graph: {
        name: `${spec.family}_sequence_classifier`,
        nodes: outer.nodes,
        initializers: outer.initializers,
        inputs: [...rowInputs, { name: "score_positions", elemType: ElemType.INT64, shape: ["batch"] }],
        outputs: [{ name: SCORER_OUTPUT, elemType: ElemType.FLOAT, shape: ["batch", spec.classifier!.labels] }],
      },
    });
  }

  // The prompt: every position's hidden state (the cache), the scored positions' log-probabilities, the first token.
  outer.scope = "prompt";
  const emptyCache = (() => {
    if (!fusedAttention) return null;
    // Fused attention writes the cache into buffers of the generation's whole length: the prompt's slots, then one per new token.
    outer.scope = "prompt/cache";
    const slots = outer.op("Add", [outer.op("Gather", [outer.op("Shape", ["input_ids"]), outer.int64([1])], { axis: { int: 0 } }), outer.op("Unsqueeze", ["max_new_tokens", outer.int64([0])])]);
    const shape = outer.op("Concat", [outer.op("Slice", [outer.op("Shape", ["input_ids"]), outer.int64([0]), outer.int64([1])]), outer.int64([kvHeads]), slots, outer.int64([headDim])], { axis: { int: 0 } });
    const zero: TensorProto = { name: "zero", elemType: compute, dims: [1], data: { raw: new Uint8Array(2) } };
    // One buffer per layer and kind: the kernel writes into it in place.
    return Array.from({ length: numLayers }, () => [0, 1].map(() => outer.op("ConstantOfShape", [shape], { value: { tensor: zero } })) as [string, string]);
  })();
  outer.scope = "prompt";
  const prompt = decoderStack(outer, "input_ids", "position_ids", "attention_mask", emptyCache);
  outer.scope = "prompt/score";
  const scoredHidden = outer.op("GatherND", [prompt.hidden, outer.op("Unsqueeze", ["score_positions", outer.int64([-1])])], { batch_dims: { int: 1 } });
  const scoredLogits = toFloat(outer, logitsOf(outer, scoredHidden));
  const logprobs = outer.op("LogSoftmax", [scoredLogits], { axis: { int: -1 } });
  const picked = outer.op("GatherElements", [logprobs, outer.op("Unsqueeze", ["score_targets", outer.int64([-1])])], { axis: { int: 2 } });
  outer.op("Squeeze", [picked, outer.int64([2])], {}, "scored_logprobs");
  // The last scored position is where generation continues from.
  const lastLogits = outer.op("Slice", [scoredLogits, outer.int64([-1]), outer.int64([Number.MAX_SAFE_INTEGER]), outer.int64([1])]);
  const firstToken = outer.op("ArgMax", [lastLogits], { axis: { int: -1 }, keepdims: { int: 0 } });
  const firstFinished = isEos(outer, firstToken);

  // Then one decoding step per iteration, all on the device: the token, position, mask, finished flags and cache
  // are the loop's state; each step's tokens are its scan output; it stops early once every row has ended.
  const body = outer.subgraph();
  body.scope = "step";
  const state = { token: "step/in/token", position: "step/in/position", mask: "step/in/mask", finished: "step/in/finished" };
  const pastNames = Array.from({ length: numLayers }, (_, layer) => [`step/in/past.${layer}.key`, `step/in/past.${layer}.value`] as const);
  const newSlot = body.op("Expand", [body.int64([1], true), body.op("Shape", [state.token])]);
  const grownMask = body.op("Concat", [state.mask, newSlot], { axis: { int: 1 } });
  const step = decoderStack(body, state.token, state.position, grownMask, pastNames);
  body.scope = "step/next";
  const nextToken = body.op("ArgMax", [logitsOf(body, step.hidden)], { axis: { int: -1 }, keepdims: { int: 0 } });
  const finished = body.op("Or", [state.finished, isEos(body, nextToken)]);
  // A step grows the mask and the cache by one slot: "slots" in, "slots_after" out.
  const kvInfo = (slots: string) => (name: string): ValueInfoProto => ({ name, elemType: compute, shape: ["batch", kvHeads, slots, headDim] });
  const rowInfo = (name: string, elemType: ElemType, width: Dim = 1): ValueInfoProto => ({ name, elemType, shape: ["batch", width] });
  const bodyInputs: ValueInfoProto[] = [
    { name: "step/in/iteration", elemType: ElemType.INT64, shape: [] },
    { name: "step/in/condition", elemType: ElemType.BOOL, shape: [] },
    rowInfo(state.token, ElemType.INT64),
    rowInfo(state.position, ElemType.INT64),
    rowInfo(state.mask, ElemType.INT64, "slots"),
    rowInfo(state.finished, ElemType.BOOL),
    ...pastNames.flat().map(kvInfo("slots")),
  ];
  const bodyOutputs: ValueInfoProto[] = [
    { name: body.op("Identity", [anyUnfinished(body, finished)]), elemType: ElemType.BOOL, shape: [] },
    rowInfo(body.op("Identity", [nextToken]), ElemType.INT64),
    rowInfo(body.op("Add", [state.position, body.int64([1], true)]), ElemType.INT64),
    rowInfo(body.op("Identity", [grownMask]), ElemType.INT64, "slots_after"),
    rowInfo(finished, ElemType.BOOL),
    ...step.present.flat().map(kvInfo("slots_after")),
    rowInfo(body.op("Identity", [nextToken]), ElemType.INT64),
  ];

  outer.scope = "generate";
  const tripCount = outer.op("Sub", ["max_new_tokens", outer.int64([1], true)]);
  const nextPosition = outer.op("ReduceSum", ["attention_mask", outer.int64([1])], { keepdims: { int: 1 } });
  const loopOutputs = outer.ops(
    "Loop",
    [tripCount, anyUnfinished(outer, firstFinished), firstToken, nextPosition, "attention_mask", firstFinished, ...prompt.present.flat()],
    bodyOutputs.length - 1,
    { body: { graph: { name: "decoding_step", nodes: body.nodes, initializers: [], inputs: bodyInputs, outputs: bodyOutputs } } },
  );
  // The scan output is [steps, batch, 1]: the first token, then each step's, as [batch, generated].
  const steps = outer.op("Squeeze", [outer.op("Transpose", [loopOutputs.at(-1)!], { perm: { ints: [1, 0, 2] } }), outer.int64([2])]);
  outer.op("Concat", [firstToken, steps], { axis: { int: 1 } }, "tokens");

  return encodeModel({
    producerName: "merge-search graph-builder",
    opsetImports: [{ domain: "", version: 17 }],
    graph: { name: `${spec.family}_lora_generator`, nodes: outer.nodes, initializers: outer.initializers, inputs, outputs },
  });
}
