import path from "node:path";
import { ElemType, encodeModel, type AttributeValue, type NodeProto, type TensorProto, type ValueInfoProto } from "./onnx-proto";
import type { DecoderShape } from "../eval/onnx";
import type { DecoderSpec, ModelFamily, WeightDtype, WeightIndex, WeightRef } from "./spec";

/*
 * One builder for the LoRA decoder of initial_experts/README.md ("ONNX decoder contract"), for every supported
 * family: the families' differences are branches on the DecoderSpec, never copies of the graph.
 *
 * Standard opset-17 ops only, as the exported zoo decoder uses: every onnxruntime provider implements them (checked
 * here on CPU only), and correctness comes before the fused com.microsoft kernels (a later, measured step).
 *
 * Base weights are ONNX external data pointing INTO the model's safetensors files (offset and length of each
 * tensor's bytes), cast to float32 in the graph where they are stored as F16 or BF16 (onnxruntime's CPU provider
 * reads BF16 external data and casts it; see onnx-proto.test.ts). Where onnxruntime 1.30 looks for them
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

export interface BuildOptions {
  /** The folder external data locations are relative to (see the header comment); every weight file lies inside it. */
  modelDir: string;
  /** The modules that get `lora_A.{l}.{m}` / `lora_B.{l}.{m}` inputs, in every layer. */
  loraTargets: readonly string[];
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

/** Nodes and initializers, with unique value names. */
class Graph {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly constants = new Map<string, string>();
  private counter = 0;
  scope = "";

  op(opType: string, inputs: readonly string[], attributes: Record<string, AttributeValue> = {}, output?: string): string {
    return this.ops(opType, inputs, 1, attributes, output === undefined ? undefined : [output])[0]!;
  }

  ops(opType: string, inputs: readonly string[], count: number, attributes: Record<string, AttributeValue> = {}, outputs?: string[]): string[] {
    const name = `${this.scope}/${opType}_${this.counter++}`;
    const names = outputs ?? Array.from({ length: count }, (_, i) => `${name}:${i}`);
    this.nodes.push({ opType, name, inputs, outputs: names, attributes });
    return names;
  }

  private constant(key: string, make: (name: string) => TensorProto): string {
    let name = this.constants.get(key);
    if (!name) {
      name = `const/${this.constants.size}`;
      this.initializers.push(make(name));
      this.constants.set(key, name);
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
  return { layers: spec.numLayers, kvHeads: spec.numKvHeads, headDim: spec.headDim, vocabSize: spec.vocabSize, loraModules };
}

export function buildDecoder(spec: DecoderSpec, weights: WeightIndex, options: BuildOptions): Uint8Array {
  checkSpec(spec);
  const targets = checkTargets(options.loraTargets);
  const { hiddenSize: hidden, numHeads: heads, numKvHeads: kvHeads, headDim, numLayers, vocabSize } = spec;
  const g = new Graph();
  const modelDir = path.resolve(options.modelDir);

  const stored = new Map<string, string>();
  /** A base weight as a float32 value of the graph (its external initializer, cast once when stored as 16-bit). */
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
    g.initializers.push({ name, elemType, dims: ref.shape, data: { external: { location: location.split(path.sep).join("/"), offset: ref.offset, length: ref.length } } });
    const value = elemType === ElemType.FLOAT ? name : g.op("Cast", [name], { to: { int: ElemType.FLOAT } }, `${name}:f32`);
    stored.set(name, value);
    return value;
  };

  const inputs: ValueInfoProto[] = [
    { name: "input_ids", elemType: ElemType.INT64, shape: ["batch", "seq"] },
    { name: "attention_mask", elemType: ElemType.INT64, shape: ["batch", "total"] },
    { name: "position_ids", elemType: ElemType.INT64, shape: ["batch", "seq"] },
    { name: "adapter_ids", elemType: ElemType.INT64, shape: ["batch"] },
  ];
  const outputs: ValueInfoProto[] = [{ name: "logits", elemType: ElemType.FLOAT, shape: ["batch", "seq", vocabSize] }];
  for (let layer = 0; layer < numLayers; layer += 1) {
    for (const kind of ["key", "value"]) {
      inputs.push({ name: `past_key_values.${layer}.${kind}`, elemType: ElemType.FLOAT, shape: ["batch", kvHeads, "past", headDim] });
      outputs.push({ name: `present.${layer}.${kind}`, elemType: ElemType.FLOAT, shape: ["batch", kvHeads, "total", headDim] });
    }
  }
  const features = projectionFeatures(spec);
  const loraModules = LORA_MODULES.filter((module) => targets.has(module));
  for (const matrix of ["A", "B"] as const) {
    for (let layer = 0; layer < numLayers; layer += 1) {
      for (const module of loraModules) {
        const { in: inFeatures, out: outFeatures } = features[module];
        inputs.push({ name: `lora_${matrix}.${layer}.${module}`, elemType: ElemType.FLOAT, shape: matrix === "A" ? ["n_adapters", "rank", inFeatures] : ["n_adapters", outFeatures, "rank"] });
      }
    }
  }
  inputs.push({ name: "lora_scale", elemType: ElemType.FLOAT, shape: ["n_adapters"] });

  // Per row: its adapter's scale, [batch, 1, 1], broadcast over positions and features.
  g.scope = "lora";
  const rowScale = g.op("Unsqueeze", [g.op("Gather", ["lora_scale", "adapter_ids"], { axis: { int: 0 } }), g.int64([1, 2])]);
  const transposeLast = (x: string) => g.op("Transpose", [x], { perm: { ints: [0, 2, 1] } });

  /**
   * x Wᵀ for x [batch, seq, in] and W [out, in] as stored: Gemm's transB reads W in place, where MatMul would need
   * a transposed copy of it (onnxruntime folds that copy at load: one more float32 copy of every weight in memory).
   */
  g.scope = "shape";
  const batchAndSeq = g.op("Slice", [g.op("Shape", ["input_ids"]), g.int64([0]), g.int64([2])]);
  const outputShapes = new Map<number, string>();
  const project = (x: string, w: string, inFeatures: number, outFeatures: number, output?: string): string => {
    const rows = g.op("Gemm", [g.op("Reshape", [x, g.int64([-1, inFeatures])]), w], { transB: { int: 1 } });
    let shape = outputShapes.get(outFeatures);
    if (!shape) outputShapes.set(outFeatures, (shape = g.op("Concat", [batchAndSeq, g.int64([outFeatures])], { axis: { int: 0 } })));
    return g.op("Reshape", [rows, shape], {}, output);
  };

  /** y = x Wᵀ (+ b) + scale[a] · (x A[a]ᵀ) B[a]ᵀ, with a = adapter_ids[row]. */
  const linear = (x: string, layer: number, module: LoraModule, bias: boolean): string => {
    const { in: inFeatures, out: outFeatures, part } = features[module];
    const prefix = `model.layers.${layer}.${part}.${module}`;
    let y = project(x, weight(`${prefix}.weight`, [outFeatures, inFeatures]), inFeatures, outFeatures);
    if (bias) y = g.op("Add", [y, weight(`${prefix}.bias`, [outFeatures])]);
    if (!targets.has(module)) return y;
    const a = g.op("Gather", [`lora_A.${layer}.${module}`, "adapter_ids"], { axis: { int: 0 } });
    const b = g.op("Gather", [`lora_B.${layer}.${module}`, "adapter_ids"], { axis: { int: 0 } });
    const down = g.op("Mul", [g.op("MatMul", [x, transposeLast(a)]), rowScale]);
    return g.op("Add", [y, g.op("MatMul", [down, transposeLast(b)])]);
  };

  const rmsNorm = (x: string, name: string): string => {
    const variance = g.op("ReduceMean", [g.op("Pow", [x, g.float(2)])], { axes: { ints: [-1] }, keepdims: { int: 1 } });
    const normed = g.op("Mul", [x, g.op("Div", [g.float(1), g.op("Sqrt", [g.op("Add", [variance, g.float(spec.rmsNormEps)])])])]);
    const scale = weight(name, [hidden]);
    return g.op("Mul", [spec.normAddsOne ? g.op("Add", [g.float(1), scale]) : scale, normed]);
  };

  const activation = (x: string): string => {
    if (spec.hiddenAct === "silu") return g.op("Mul", [x, g.op("Sigmoid", [x])]);
    // tanh-approximated GELU (opset 17 has no Gelu): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
    const inner = g.op("Mul", [g.float(Math.sqrt(2 / Math.PI)), g.op("Add", [x, g.op("Mul", [g.float(0.044715), g.op("Pow", [x, g.float(3)])])])]);
    return g.op("Mul", [g.op("Mul", [g.float(0.5), x]), g.op("Add", [g.float(1), g.op("Tanh", [inner])])]);
  };

  g.scope = "embed";
  const embeddingShape = [vocabSize, hidden];
  const embeddings = weight("model.embed_tokens.weight", embeddingShape);
  let h = g.op("Gather", [embeddings, "input_ids"], { axis: { int: 0 } });
  if (spec.scaleEmbeddings) h = g.op("Mul", [h, g.float(Math.sqrt(hidden))]);

  // Slot p of the `total` slots (past, then the new `seq` tokens) sees slots ≤ p that attention_mask marks real,
  // and, with a sliding window, only the last `slidingWindow` of them: [batch, 1, seq, total].
  g.scope = "mask";
  const dimOf = (value: string, axis: number) => g.op("Gather", [g.op("Shape", [value]), g.int64([axis], true)], { axis: { int: 0 } });
  const total = dimOf("attention_mask", 1);
  const slot = g.op("Range", [g.int64([0], true), total, g.int64([1], true)]);
  const querySlot = g.op("Range", [g.op("Sub", [total, dimOf("input_ids", 1)]), total, g.int64([1], true)]);
  const keySlots = g.op("Unsqueeze", [slot, g.int64([0])]);
  const querySlots = g.op("Unsqueeze", [querySlot, g.int64([1])]);
  let visible = g.op("LessOrEqual", [keySlots, querySlots]);
  if (spec.slidingWindow !== null) visible = g.op("And", [visible, g.op("Greater", [keySlots, g.op("Sub", [querySlots, g.int64([spec.slidingWindow], true)])])]);
  const real = g.op("Unsqueeze", [g.op("Greater", ["attention_mask", g.int64([0], true)]), g.int64([1, 2])]);
  const mask = g.op("And", [visible, real]);

  // cos and sin of position × inverse frequency, each frequency for both halves of a head: [batch, 1, seq, headDim].
  g.scope = "rope";
  const angles = g.op("Mul", [g.op("Unsqueeze", [g.op("Cast", ["position_ids"], { to: { int: ElemType.FLOAT } }), g.int64([2])]), g.float(ropeInverseFrequencies(spec))]);
  const doubled = g.op("Concat", [angles, angles], { axis: { int: -1 } });
  const cos = g.op("Unsqueeze", [g.op("Cos", [doubled]), g.int64([1])]);
  const sin = g.op("Unsqueeze", [g.op("Sin", [doubled]), g.int64([1])]);
  const halves = g.int64([headDim / 2, headDim / 2]);
  const rotate = (x: string): string => {
    const [first, second] = g.ops("Split", [x, halves], 2, { axis: { int: -1 } });
    const rotated = g.op("Concat", [g.op("Neg", [second!]), first!], { axis: { int: -1 } });
    return g.op("Add", [g.op("Mul", [x, cos]), g.op("Mul", [rotated, sin])]);
  };
  /** [batch, seq, n·headDim] → [batch, n, seq, headDim] */
  const splitHeads = (x: string, n: number) => g.op("Transpose", [g.op("Reshape", [x, g.int64([0, 0, n, headDim])])], { perm: { ints: [0, 2, 1, 3] } });
  const groups = heads / kvHeads;
  /** GQA: each KV head serves `groups` consecutive query heads (transformers' repeat_kv). */
  const repeatKv = (x: string) => (groups === 1 ? x : g.op("Reshape", [g.op("Expand", [g.op("Unsqueeze", [x, g.int64([2])]), g.int64([1, 1, groups, 1, 1])]), g.int64([0, heads, -1, headDim])]));

  for (let layer = 0; layer < numLayers; layer += 1) {
    g.scope = `layers.${layer}`;
    const prefix = `model.layers.${layer}`;
    const x = rmsNorm(h, `${prefix}.input_layernorm.weight`);
    const q = rotate(splitHeads(linear(x, layer, "q_proj", spec.attentionBias), heads));
    const kNew = rotate(splitHeads(linear(x, layer, "k_proj", spec.attentionBias), kvHeads));
    const vNew = splitHeads(linear(x, layer, "v_proj", spec.attentionBias), kvHeads);
    const k = g.op("Concat", [`past_key_values.${layer}.key`, kNew], { axis: { int: 2 } }, `present.${layer}.key`);
    const v = g.op("Concat", [`past_key_values.${layer}.value`, vNew], { axis: { int: 2 } }, `present.${layer}.value`);
    const scores = g.op("Mul", [g.op("MatMul", [q, g.op("Transpose", [repeatKv(k)], { perm: { ints: [0, 1, 3, 2] } })]), g.float(1 / Math.sqrt(headDim))]);
    const probs = g.op("Softmax", [g.op("Where", [mask, scores, g.float(MASKED_SCORE)])], { axis: { int: -1 } });
    const context = g.op("MatMul", [probs, repeatKv(v)]);
    const merged = g.op("Reshape", [g.op("Transpose", [context], { perm: { ints: [0, 2, 1, 3] } }), g.int64([0, 0, heads * headDim])]);
    h = g.op("Add", [h, linear(merged, layer, "o_proj", false)]);
    const y = rmsNorm(h, `${prefix}.post_attention_layernorm.weight`);
    const gated = g.op("Mul", [activation(linear(y, layer, "gate_proj", false)), linear(y, layer, "up_proj", false)]);
    h = g.op("Add", [h, linear(gated, layer, "down_proj", false)]);
  }

  g.scope = "head";
  const head = spec.tieWordEmbeddings ? embeddings : weight("lm_head.weight", embeddingShape);
  project(rmsNorm(h, "model.norm.weight"), head, hidden, vocabSize, "logits");

  return encodeModel({
    producerName: "merge-search graph-builder",
    opsetImports: [{ domain: "", version: 17 }],
    graph: { name: `${spec.family}_lora_decoder`, nodes: g.nodes, initializers: g.initializers, inputs, outputs },
  });
}
