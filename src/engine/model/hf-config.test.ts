import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyModel, editJson, modelFolder, withConfig } from "../../../tests/support/hf-fixtures";
import { ModelConfigError, readModelConfig } from "./hf-config";
import type { DecoderSpec } from "./spec";

const tiny = { vocabSize: 1428, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, bosTokenId: 1, padTokenId: 0 };
const plain = { attentionBias: false, hiddenAct: "silu", normAddsOne: false, scaleEmbeddings: false, slidingWindow: null } as const;

const EXPECTED: Record<string, DecoderSpec> = {
  llama: {
    family: "llama",
    ...tiny,
    ...plain,
    numKvHeads: 2,
    headDim: 16,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1024 },
    maxPositionEmbeddings: 8192,
    tieWordEmbeddings: true,
    eosTokenIds: [2, 3],
  },
  mistral: {
    family: "mistral",
    ...tiny,
    ...plain,
    numKvHeads: 1,
    headDim: 16,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    maxPositionEmbeddings: 4096,
    tieWordEmbeddings: false,
    slidingWindow: 4,
    eosTokenIds: [2],
  },
  qwen2: {
    family: "qwen2",
    ...tiny,
    ...plain,
    numKvHeads: 2,
    headDim: 16,
    rmsNormEps: 1e-6,
    ropeTheta: 1_000_000,
    ropeScaling: null,
    maxPositionEmbeddings: 32768,
    tieWordEmbeddings: true,
    attentionBias: true,
    eosTokenIds: [2],
  },
  gemma: {
    family: "gemma",
    ...tiny,
    numKvHeads: 1,
    headDim: 24,
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    ropeScaling: null,
    maxPositionEmbeddings: 8192,
    tieWordEmbeddings: true,
    attentionBias: false,
    hiddenAct: "gelu_tanh",
    normAddsOne: true,
    scaleEmbeddings: true,
    slidingWindow: null,
    eosTokenIds: [2],
  },
};

/** The one-line refusal `readModelConfig` gives for `folder`. */
function refusal(folder: string): string {
  try {
    readModelConfig(folder);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelConfigError);
    const message = (error as Error).message;
    expect(message).not.toContain("\n");
    return message.replace(folder, "<model>");
  }
  throw new Error(`${folder}: expected a ModelConfigError`);
}

describe("readModelConfig on the committed tiny models", () => {
  for (const [family, spec] of Object.entries(EXPECTED))
    it(`reads ${family}'s config.json and generation_config.json`, () => {
      expect(readModelConfig(modelFolder(family))).toEqual(spec);
    });

  it("reads the zoo's base (transformers 5 rope_parameters, full attention heads, tied)", () => {
    expect(readModelConfig("initial_experts/base")).toMatchObject({ family: "llama", numHeads: 4, numKvHeads: 4, headDim: 64, ropeTheta: 10000, ropeScaling: null, tieWordEmbeddings: true, eosTokenIds: [2] });
  });
});

describe("the spellings of transformers 4.x configs", () => {
  const legacyLlama = (rope: Record<string, unknown>) =>
    withConfig("llama", (config) => {
      delete config.rope_parameters;
      Object.assign(config, rope);
    });

  it("reads a Llama 2 config: top-level rope_theta, rope_scaling null", () => {
    expect(readModelConfig(legacyLlama({ rope_theta: 10000, rope_scaling: null }))).toMatchObject({ ropeTheta: 10000, ropeScaling: null });
  });

  it("reads a Llama 3.1 config: rope_scaling {rope_type: llama3} beside a top-level rope_theta", () => {
    const folder = legacyLlama({
      rope_theta: 500000,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(readModelConfig(folder)).toMatchObject({
      ropeTheta: 500000,
      ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
    });
  });

  it("reads linear scaling spelled with the old key `type`", () => {
    expect(readModelConfig(legacyLlama({ rope_theta: 10000, rope_scaling: { type: "linear", factor: 4 } }))).toMatchObject({ ropeScaling: { type: "linear", factor: 4 } });
  });

  it("lets rope_scaling win over rope_parameters, as transformers does", () => {
    const folder = withConfig("llama", (config) => {
      config.rope_scaling = { type: "linear", factor: 2 };
    });
    expect(readModelConfig(folder)).toMatchObject({ ropeTheta: 10000, ropeScaling: { type: "linear", factor: 2 } });
  });

  it("defaults llama3's original_max_position_embeddings to max_position_embeddings", () => {
    const folder = withConfig("llama", (config) => {
      delete (config.rope_parameters as Record<string, unknown>).original_max_position_embeddings;
    });
    expect(readModelConfig(folder).ropeScaling).toMatchObject({ type: "llama3", originalMaxPositionEmbeddings: 8192 });
  });

  it("reads Gemma's legacy hidden_act \"gelu\" as the tanh approximation, and head_dim's default 256", () => {
    const folder = withConfig("gemma", (config) => {
      config.hidden_act = "gelu";
      config.hidden_activation = "gelu_pytorch_tanh";
      delete config.head_dim;
    });
    expect(readModelConfig(folder)).toMatchObject({ hiddenAct: "gelu_tanh", headDim: 256 });
  });
});

describe("defaults and fields that do not change the computation", () => {
  it("ignores fields that only training, caching or storage read", () => {
    const folder = withConfig("llama", (config) => {
      Object.assign(config, { use_cache: false, torch_dtype: "bfloat16", attention_dropout: 0.1, pretraining_tp: 2, initializer_range: 0.02, some_future_field: { x: 1 } });
    });
    expect(readModelConfig(folder)).toEqual(EXPECTED.llama);
  });

  it("takes num_key_value_heads null as one key/value head per attention head", () => {
    expect(readModelConfig(withConfig("mistral", (config) => (config.num_key_value_heads = null))).numKvHeads).toBe(4);
  });

  it("gives Mistral transformers' sliding window of 4096 when the field is absent, and none when it is null", () => {
    expect(readModelConfig(withConfig("mistral", (config) => delete config.sliding_window)).slidingWindow).toBe(4096);
    expect(readModelConfig(withConfig("mistral", (config) => (config.sliding_window = null))).slidingWindow).toBeNull();
  });

  it("takes the eos ids from generation_config.json (a number or a list), else from config.json", () => {
    const folder = copyModel("llama");
    editJson(path.join(folder, "generation_config.json"), (generation) => (generation.eos_token_id = 3));
    expect(readModelConfig(folder).eosTokenIds).toEqual([3]);
    rmSync(path.join(folder, "generation_config.json"));
    editJson(path.join(folder, "config.json"), (config) => (config.eos_token_id = [2, 5]));
    expect(readModelConfig(folder).eosTokenIds).toEqual([2, 5]);
  });

  it("reads a sequence classifier (a reward model): its labels and config.json's pad id, beside the decoder's spec", () => {
    const spec = readModelConfig("tests/fixtures/reward/llama/model");
    expect(spec.family).toBe("llama");
    expect(spec.classifier).toEqual({ labels: 1, padTokenId: 0 });
    expect(readModelConfig("tests/fixtures/reward/qwen2/model")).toMatchObject({ family: "qwen2", attentionBias: true, classifier: { labels: 1, padTokenId: 0 } });
    // A causal LM has none.
    expect(readModelConfig(modelFolder("llama")).classifier).toBeUndefined();
  });

  it("counts a classifier's labels as transformers does: num_labels, else id2label's entries, else 2", () => {
    const labels = (edit: (config: Record<string, unknown>) => void) => readModelConfig(withConfig("llama", (config) => ((config.architectures = ["LlamaForSequenceClassification"]), edit(config)))).classifier?.labels;
    expect(labels((config) => (config.id2label = { 0: "a", 1: "b", 2: "c" }))).toBe(3);
    expect(labels((config) => (config.num_labels = 1))).toBe(1);
    expect(labels(() => undefined)).toBe(2);
  });

  it("reads architecture by model_type when architectures is absent", () => {
    expect(readModelConfig(withConfig("qwen2", (config) => delete config.architectures)).family).toBe("qwen2");
  });
});

describe("refusals: one line naming the file, the field and what is supported", () => {
  const cases: Array<[string, string, (config: Record<string, unknown>) => void, string]> = [
    ["an unknown architecture", "llama", (c) => (c.architectures = ["Gemma2ForCausalLM"]), 'architectures: "Gemma2ForCausalLM" is not supported (supported: LlamaForCausalLM, LlamaForSequenceClassification, MistralForCausalLM, MistralForSequenceClassification, Qwen2ForCausalLM, Qwen2ForSequenceClassification, GemmaForCausalLM, GemmaForSequenceClassification)'],
    ["a model_type that contradicts architectures", "llama", (c) => (c.model_type = "mistral"), 'model_type: "mistral" does not match architectures "LlamaForCausalLM" (expected "llama")'],
    ["an unknown rope type (transformers 5)", "llama", (c) => ((c.rope_parameters as Record<string, unknown>).rope_type = "yarn"), 'rope_parameters.rope_type: "yarn" is not supported (supported: default, linear, llama3)'],
    ["an unknown rope type (transformers 4)", "llama", (c) => (c.rope_scaling = { type: "dynamic", factor: 2 }), 'rope_scaling.type: "dynamic" is not supported (supported: default, linear, llama3)'],
    ["llama3 scaling without its frequency factors", "llama", (c) => delete (c.rope_parameters as Record<string, unknown>).low_freq_factor, "rope_parameters.low_freq_factor: expected a positive number, got undefined"],
    ["a partial rotary factor", "llama", (c) => (c.partial_rotary_factor = 0.5), "partial_rotary_factor: 0.5 is not supported: every dimension of a head is rotated (supported: 1)"],
    ["Llama's attention_bias (o_proj too)", "llama", (c) => (c.attention_bias = true), "attention_bias: true is not supported for Llama (it adds biases to q/k/v and o_proj) (supported: false)"],
    ["Llama's mlp_bias", "llama", (c) => (c.mlp_bias = true), "mlp_bias: true is not supported (supported: false)"],
    ["another activation", "mistral", (c) => (c.hidden_act = "gelu"), 'hidden_act: "gelu" is not supported (supported: "silu")'],
    ["a quantized checkpoint", "llama", (c) => (c.quantization_config = { quant_method: "bitsandbytes", load_in_4bit: true }), "quantization_config: quantized checkpoints are not supported (supported: float32, float16 or bfloat16 weights, no quantization_config)"],
    ["Qwen2's use_sliding_window", "qwen2", (c) => (c.use_sliding_window = true), "use_sliding_window: true is not supported (per-layer sliding windows are not built) (supported: false)"],
    ["Qwen2 layer types with a sliding window", "qwen2", (c) => (c.layer_types = ["full_attention", "sliding_attention"]), 'layer_types[1]: "sliding_attention" is not supported (per-layer sliding windows are not built) (supported: "full_attention")'],
    ["Gemma's ambiguous hidden_activation", "gemma", (c) => (c.hidden_activation = "gelu"), 'hidden_activation: "gelu" is not supported (supported: "gelu_pytorch_tanh")'],
    ["Gemma's attention_bias", "gemma", (c) => (c.attention_bias = true), "attention_bias: true is not supported for Gemma (it adds biases to q/k/v and o_proj) (supported: false)"],
    ["key/value heads that do not divide the heads", "llama", (c) => (c.num_key_value_heads = 3), "num_key_value_heads: 3 does not divide num_attention_heads 4 (grouped-query attention shares each key/value head among a whole number of heads)"],
    ["a missing size", "qwen2", (c) => delete c.hidden_size, "hidden_size: missing (expected a positive integer)"],
    ["a size that is not a count", "gemma", (c) => (c.num_hidden_layers = 2.5), "num_hidden_layers: expected a positive integer, got 2.5"],
    ["an eos id outside the vocabulary", "mistral", (c) => (c.vocab_size = 2), "eos_token_id: token id 2 is outside the vocabulary (expected 0 to 1)"],
  ];
  for (const [what, family, edit, problem] of cases)
    it(`refuses ${what}`, () => {
      const folder = withConfig(family, edit);
      // The vocabulary case is reported in generation_config.json, where generate() reads the id from.
      const file = what.startsWith("an eos id") ? "generation_config.json" : "config.json";
      expect(refusal(folder)).toBe(`<model>/${file}: ${problem}`);
    });

  it("names config.json when it is missing or not JSON", () => {
    const folder = copyModel("llama");
    writeFileSync(path.join(folder, "config.json"), "{ not json");
    expect(refusal(folder)).toMatch(/^<model>\/config\.json: not valid JSON \(/);
    rmSync(path.join(folder, "config.json"));
    expect(refusal(folder)).toBe("<model>/config.json: missing: a Hugging Face model folder holds config.json beside its safetensors weights and tokenizer.json");
  });
});
