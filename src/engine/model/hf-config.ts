// A Hugging Face model folder's config.json (and generation_config.json) read into the DecoderSpec the graph
// builder needs. Each family's transformers config class decides the defaults of fields a config leaves out; a
// field that would change the computation in a way the builder does not reproduce is refused, never ignored.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { readJsonObject } from "./hf-json";
import type { DecoderSpec, ModelFamily, RopeScaling } from "./spec";

export const MODEL_CONFIG = "config.json";
export const GENERATION_CONFIG = "generation_config.json";

/** A config the importer cannot build: one line naming the file, the field and what is supported. */
export class ModelConfigError extends Error {
  override name = "ModelConfigError";
  constructor(
    readonly file: string,
    readonly field: string | null,
    problem: string,
  ) {
    super(`${file}: ${field === null ? "" : `${field}: `}${problem}`);
  }
}

type Literal = string | number | boolean | null;
const shown = (value: unknown) => JSON.stringify(value) ?? String(value);

/** A field whose only values the builder reproduces are `values`; others are refused naming them. */
function supported<const V extends readonly [Literal, ...Literal[]]>(values: V, why = "") {
  return z.literal(values, {
    error: (issue) => `${shown(issue.input)} is not supported${why} (supported: ${values.map(shown).join(", ")})`,
  });
}

const count = () =>
  z
    .number({ error: (issue) => (issue.input === undefined ? "missing (expected a positive integer)" : `expected a positive integer, got ${shown(issue.input)}`) })
    .int({ error: (issue) => `expected a positive integer, got ${shown(issue.input)}` })
    .positive({ error: (issue) => `expected a positive integer, got ${shown(issue.input)}` });
const positive = () => z.number({ error: (issue) => `expected a positive number, got ${shown(issue.input)}` }).positive({ error: (issue) => `expected a positive number, got ${shown(issue.input)}` });
const tokenId = z.number().int().nullish();
const eosIds = z.union([z.number().int(), z.array(z.number().int())], { error: "expected a token id or a list of token ids" }).nullish();

/** Fields every family shares, as transformers' configs spell them. Unknown fields do not change the computation. */
const commonConfig = z.looseObject({
  vocab_size: count(),
  hidden_size: count(),
  intermediate_size: count(),
  num_hidden_layers: count(),
  num_attention_heads: count(),
  num_key_value_heads: count().nullish(),
  head_dim: count().nullish(),
  rms_norm_eps: positive().optional(),
  max_position_embeddings: count().optional(),
  tie_word_embeddings: z.boolean().optional(),
  rope_theta: positive().optional(),
  rope_scaling: z.looseObject({}).nullish(),
  rope_parameters: z.looseObject({}).nullish(),
  partial_rotary_factor: supported([1], ": every dimension of a head is rotated").optional(),
  quantization_config: z.null({ error: "quantized checkpoints are not supported (supported: float32, float16 or bfloat16 weights, no quantization_config)" }).optional(),
  bos_token_id: tokenId,
  eos_token_id: eosIds,
  pad_token_id: tokenId,
});
type CommonConfig = z.infer<typeof commonConfig>;

type FamilyQuirks = Pick<DecoderSpec, "attentionBias" | "hiddenAct" | "normAddsOne" | "scaleEmbeddings" | "slidingWindow">;

interface FamilyRules {
  architecture: string;
  modelType: string;
  /** transformers' defaults for the fields a config.json may leave out. */
  defaults: {
    rmsNormEps: number;
    maxPositionEmbeddings: number;
    tieWordEmbeddings: boolean;
    /** when num_key_value_heads is absent (null always means "as many as the attention heads") */
    numKvHeads: number | "attention heads";
    /** when head_dim is absent or null */
    headDim: number | "hidden / heads";
    bosTokenId: number | null;
    eosTokenId: number | null;
    padTokenId: number | null;
  };
  /** Checks the family's own fields (refusing what the builder does not reproduce) and reads its quirks. */
  quirks: (raw: Record<string, unknown>, file: string) => FamilyQuirks;
}

function familyQuirks<S extends z.core.$ZodLooseShape>(shape: S, read: (fields: z.infer<z.ZodObject<S, z.core.$loose>>) => FamilyQuirks) {
  const schema = z.looseObject(shape);
  return (raw: Record<string, unknown>, file: string) => read(parseOrRefuse(schema, raw, file));
}

const silu = supported(["silu"]).optional();

const FAMILIES: Record<ModelFamily, FamilyRules> = {
  llama: {
    architecture: "LlamaForCausalLM",
    modelType: "llama",
    defaults: { rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, tieWordEmbeddings: false, numKvHeads: "attention heads", headDim: "hidden / heads", bosTokenId: 1, eosTokenId: 2, padTokenId: null },
    quirks: familyQuirks(
      {
        hidden_act: silu,
        // Llama's attention_bias puts a bias on o_proj too, which the decoder does not carry.
        attention_bias: supported([false], " for Llama (it adds biases to q/k/v and o_proj)").optional(),
        mlp_bias: supported([false]).optional(),
      },
      () => ({ attentionBias: false, hiddenAct: "silu", normAddsOne: false, scaleEmbeddings: false, slidingWindow: null }),
    ),
  },
  mistral: {
    architecture: "MistralForCausalLM",
    modelType: "mistral",
    defaults: { rmsNormEps: 1e-6, maxPositionEmbeddings: 4096 * 32, tieWordEmbeddings: false, numKvHeads: 8, headDim: "hidden / heads", bosTokenId: 1, eosTokenId: 2, padTokenId: null },
    quirks: familyQuirks(
      // MistralConfig defaults sliding_window to 4096 when the field is absent; null turns it off.
      { hidden_act: silu, sliding_window: count().nullish() },
      (fields) => ({
        attentionBias: false,
        hiddenAct: "silu",
        normAddsOne: false,
        scaleEmbeddings: false,
        slidingWindow: fields.sliding_window === undefined ? 4096 : fields.sliding_window,
      }),
    ),
  },
  qwen2: {
    architecture: "Qwen2ForCausalLM",
    modelType: "qwen2",
    defaults: { rmsNormEps: 1e-6, maxPositionEmbeddings: 32768, tieWordEmbeddings: false, numKvHeads: 32, headDim: "hidden / heads", bosTokenId: null, eosTokenId: null, padTokenId: null },
    quirks: familyQuirks(
      {
        hidden_act: silu,
        // Qwen2's sliding window applies to the layers from max_window_layers on only: not built.
        use_sliding_window: supported([false], " (per-layer sliding windows are not built)").optional(),
        layer_types: z.array(supported(["full_attention"], " (per-layer sliding windows are not built)")).nullish(),
      },
      () => ({ attentionBias: true, hiddenAct: "silu", normAddsOne: false, scaleEmbeddings: false, slidingWindow: null }),
    ),
  },
  gemma: {
    architecture: "GemmaForCausalLM",
    modelType: "gemma",
    defaults: { rmsNormEps: 1e-6, maxPositionEmbeddings: 8192, tieWordEmbeddings: true, numKvHeads: 16, headDim: 256, bosTokenId: 2, eosTokenId: 1, padTokenId: 0 },
    quirks: familyQuirks(
      {
        // transformers reads Gemma's legacy "gelu" as the tanh approximation it was meant to be.
        hidden_act: supported(["gelu_pytorch_tanh", "gelu"]).optional(),
        // transformers 4.x let hidden_activation override hidden_act, where "gelu" was the exact GELU: ambiguous.
        hidden_activation: supported(["gelu_pytorch_tanh"]).nullish(),
        attention_bias: supported([false], " for Gemma (it adds biases to q/k/v and o_proj)").optional(),
        use_bidirectional_attention: supported([false, null], " (the decoder is causal)").optional(),
      },
      () => ({ attentionBias: false, hiddenAct: "gelu_tanh", normAddsOne: true, scaleEmbeddings: true, slidingWindow: null }),
    ),
  },
};

/** transformers names a family's sequence-classification model (a reward model, say) after its causal LM. */
const classifierArchitecture = (rules: FamilyRules) => rules.architecture.replace(/ForCausalLM$/, "ForSequenceClassification");
export const CAUSAL_ARCHITECTURES: readonly string[] = Object.values(FAMILIES).map((rules) => rules.architecture);
export const CLASSIFIER_ARCHITECTURES: readonly string[] = Object.values(FAMILIES).map(classifierArchitecture);
const ARCHITECTURES = Object.values(FAMILIES).flatMap((rules) => [rules.architecture, classifierArchitecture(rules)]);

function fieldOf(issuePath: readonly PropertyKey[]): string {
  return issuePath.reduce<string>((text, key) => (typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), "");
}

function parseOrRefuse<T>(schema: z.ZodType<T>, raw: unknown, file: string, prefix: readonly PropertyKey[] = []): T {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ModelConfigError(file, fieldOf([...prefix, ...issue.path]), issue.message);
}

/** The family, and whether config.json's architecture is its sequence classifier rather than its causal LM. */
function familyOf(raw: Record<string, unknown>, file: string): { family: ModelFamily; classifier: boolean } {
  const architectures = raw.architectures;
  const modelType = raw.model_type;
  if (architectures !== undefined && architectures !== null) {
    if (!Array.isArray(architectures) || architectures.length === 0 || typeof architectures[0] !== "string")
      throw new ModelConfigError(file, "architectures", `expected a list of class names, got ${shown(architectures)}`);
    const architecture = architectures[0];
    const family = (Object.keys(FAMILIES) as ModelFamily[]).find((name) => FAMILIES[name].architecture === architecture || classifierArchitecture(FAMILIES[name]) === architecture);
    if (!family) throw new ModelConfigError(file, "architectures", `${shown(architecture)} is not supported (supported: ${ARCHITECTURES.join(", ")})`);
    // transformers picks the config class by model_type: one that disagrees would build another model.
    if (modelType !== undefined && modelType !== FAMILIES[family].modelType)
      throw new ModelConfigError(file, "model_type", `${shown(modelType)} does not match architectures ${shown(architecture)} (expected ${shown(FAMILIES[family].modelType)})`);
    return { family, classifier: architecture !== FAMILIES[family].architecture };
  }
  const family = (Object.keys(FAMILIES) as ModelFamily[]).find((name) => FAMILIES[name].modelType === modelType);
  if (!family)
    throw new ModelConfigError(
      file,
      modelType === undefined ? "architectures" : "model_type",
      `${modelType === undefined ? "missing" : `${shown(modelType)} is not supported`} (supported: ${Object.values(FAMILIES)
        .map((rules) => `${rules.architecture} / ${rules.modelType}`)
        .join(", ")})`,
    );
  return { family, classifier: false };
}

/**
 * A classifier's labels as transformers counts them: `num_labels`, else the entries of `id2label` (what
 * save_pretrained writes), else PretrainedConfig's default of 2.
 */
const classifierConfig = z.looseObject({ num_labels: count().optional(), id2label: z.record(z.string(), z.unknown()).optional() });
function labelsOf(raw: Record<string, unknown>, file: string): number {
  const config = parseOrRefuse(classifierConfig, raw, file);
  const labels = config.num_labels ?? (config.id2label ? Object.keys(config.id2label).length : 2);
  if (labels === 0) throw new ModelConfigError(file, "id2label", "expected at least one label");
  return labels;
}

const ROPE_TYPES = ["default", "linear", "llama3"] as const;
const linearRope = z.looseObject({ factor: positive() });
const llama3Rope = z.looseObject({
  factor: positive(),
  low_freq_factor: positive(),
  high_freq_factor: positive(),
  original_max_position_embeddings: count().optional(),
});

/**
 * transformers 4.x wrote `rope_theta` and `rope_scaling: {type | rope_type, ...}`; 5.x writes
 * `rope_parameters: {rope_type, rope_theta, ...}`. As transformers does, rope_scaling wins over rope_parameters,
 * and a rope_theta inside the parameters over the top-level one.
 */
function ropeOf(config: CommonConfig, maxPositionEmbeddings: number, file: string): { ropeTheta: number; ropeScaling: RopeScaling | null } {
  const field = config.rope_scaling ? "rope_scaling" : "rope_parameters";
  const params: Record<string, unknown> = config.rope_scaling ?? config.rope_parameters ?? {};
  const typeKey = "rope_type" in params ? "rope_type" : "type";
  const ropeType = params[typeKey] ?? "default";
  if (!(ROPE_TYPES as readonly unknown[]).includes(ropeType)) {
    const perLayerType = params[typeKey] === undefined && Object.values(params).some((value) => typeof value === "object" && value !== null);
    throw new ModelConfigError(
      file,
      perLayerType ? field : `${field}.${typeKey}`,
      perLayerType ? "rope parameters per layer type are not supported (supported: one rope_type for all layers)" : `${shown(ropeType)} is not supported (supported: ${ROPE_TYPES.join(", ")})`,
    );
  }
  if (params.partial_rotary_factor !== undefined && params.partial_rotary_factor !== 1)
    throw new ModelConfigError(file, `${field}.partial_rotary_factor`, `${shown(params.partial_rotary_factor)} is not supported (supported: 1, every dimension of a head is rotated)`);
  const ropeTheta = parseOrRefuse(positive().optional(), params.rope_theta, file, [field, "rope_theta"]) ?? config.rope_theta ?? 10000;
  if (ropeType === "linear") return { ropeTheta, ropeScaling: { type: "linear", factor: parseOrRefuse(linearRope, params, file, [field]).factor } };
  if (ropeType === "llama3") {
    const llama3 = parseOrRefuse(llama3Rope, params, file, [field]);
    return {
      ropeTheta,
      ropeScaling: {
        type: "llama3",
        factor: llama3.factor,
        lowFreqFactor: llama3.low_freq_factor,
        highFreqFactor: llama3.high_freq_factor,
        originalMaxPositionEmbeddings: llama3.original_max_position_embeddings ?? maxPositionEmbeddings,
      },
    };
  }
  return { ropeTheta, ropeScaling: null };
}

const generationConfig = z.looseObject({ bos_token_id: tokenId, eos_token_id: eosIds, pad_token_id: tokenId });

/** generation_config.json's token ids, which generate() uses over config.json's; the file is optional. */
function readGenerationConfig(folder: string): z.infer<typeof generationConfig> {
  const file = path.join(folder, GENERATION_CONFIG);
  if (!fs.existsSync(file)) return {};
  return parseOrRefuse(generationConfig, readJsonObject(file, (problem) => new ModelConfigError(file, null, problem)), file);
}

function checkTokenId(id: number, vocabSize: number, file: string, field: string): number {
  if (id < 0 || id >= vocabSize) throw new ModelConfigError(file, field, `token id ${id} is outside the vocabulary (expected 0 to ${vocabSize - 1})`);
  return id;
}

/** The DecoderSpec of the Hugging Face model in `folder`, or a ModelConfigError naming the file and field. */
export function readModelConfig(folder: string): DecoderSpec {
  const file = path.join(folder, MODEL_CONFIG);
  if (!fs.existsSync(file)) throw new ModelConfigError(file, null, "missing: a Hugging Face model folder holds config.json beside its safetensors weights and tokenizer.json");
  const raw = readJsonObject(file, (problem) => new ModelConfigError(file, null, problem));
  const { family, classifier } = familyOf(raw, file);
  const rules = FAMILIES[family];
  const config = parseOrRefuse(commonConfig, raw, file);
  const quirks = rules.quirks(raw, file);
  const { defaults } = rules;

  const numHeads = config.num_attention_heads;
  const numKvHeads = config.num_key_value_heads === undefined ? (defaults.numKvHeads === "attention heads" ? numHeads : defaults.numKvHeads) : (config.num_key_value_heads ?? numHeads);
  if (numHeads % numKvHeads !== 0)
    throw new ModelConfigError(file, "num_key_value_heads", `${numKvHeads} does not divide num_attention_heads ${numHeads} (grouped-query attention shares each key/value head among a whole number of heads)`);
  const headDim = config.head_dim ?? (defaults.headDim === "hidden / heads" ? Math.floor(config.hidden_size / numHeads) : defaults.headDim);
  const maxPositionEmbeddings = config.max_position_embeddings ?? defaults.maxPositionEmbeddings;

  const generation = readGenerationConfig(folder);
  const generationFile = path.join(folder, GENERATION_CONFIG);
  // generate() takes its token ids from generation_config.json, falling back to config.json's.
  const tokenSource = <K extends "bos_token_id" | "eos_token_id" | "pad_token_id">(key: K) =>
    generation[key] != null ? { value: generation[key] as CommonConfig[K], where: generationFile } : { value: config[key], where: file };
  const bos = tokenSource("bos_token_id");
  const eos = tokenSource("eos_token_id");
  const pad = tokenSource("pad_token_id");
  const bosId = bos.value === undefined ? defaults.bosTokenId : bos.value;
  const eosIds = eos.value === undefined ? (defaults.eosTokenId === null ? [] : [defaults.eosTokenId]) : eos.value === null ? [] : [eos.value].flat();
  const padId = pad.value === undefined ? defaults.padTokenId : pad.value;

  return {
    family,
    vocabSize: config.vocab_size,
    hiddenSize: config.hidden_size,
    intermediateSize: config.intermediate_size,
    numLayers: config.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: config.rms_norm_eps ?? defaults.rmsNormEps,
    ...ropeOf(config, maxPositionEmbeddings, file),
    maxPositionEmbeddings,
    tieWordEmbeddings: config.tie_word_embeddings ?? defaults.tieWordEmbeddings,
    ...quirks,
    bosTokenId: bosId === null ? null : checkTokenId(bosId, config.vocab_size, bos.where, "bos_token_id"),
    eosTokenIds: eosIds.map((id, index) => checkTokenId(id, config.vocab_size, eos.where, Array.isArray(eos.value) ? `eos_token_id[${index}]` : "eos_token_id")),
    // Old Llama configs write pad_token_id -1 for "no padding token".
    padTokenId: padId === null || padId < 0 ? null : checkTokenId(padId, config.vocab_size, pad.where, "pad_token_id"),
    // transformers' sequence classifier finds each row's last token by config.json's pad_token_id alone.
    ...(classifier && {
      classifier: {
        labels: labelsOf(raw, file),
        padTokenId: config.pad_token_id == null || config.pad_token_id < 0 ? null : checkTokenId(config.pad_token_id, config.vocab_size, file, "pad_token_id"),
      },
    }),
  };
}
