import fs from "node:fs";
import path from "node:path";
import type { DecoderSpec, WeightDtype, WeightIndex, WeightRef } from "../../src/engine/model/spec";

/*
 * Just enough of a Hugging Face folder for the graph builder's tests: the zoo's Llama config.json as a DecoderSpec,
 * and a safetensors header as a WeightIndex. The product's reader (src/engine/model/hf-config.ts, hf-weights.ts)
 * is another engineer's, with the validation this one does not attempt.
 */

export function llamaSpecOf(folder: string): DecoderSpec {
  const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8")) as Record<string, unknown>;
  const number = (key: string) => config[key] as number;
  const rope = (config.rope_parameters ?? {}) as { rope_theta?: number; rope_type?: string };
  if (config.model_type !== "llama" || (rope.rope_type ?? "default") !== "default") throw new Error(`${folder}: only a plain Llama config is read here`);
  const eos = config.eos_token_id as number | number[];
  return {
    family: "llama",
    vocabSize: number("vocab_size"),
    hiddenSize: number("hidden_size"),
    intermediateSize: number("intermediate_size"),
    numLayers: number("num_hidden_layers"),
    numHeads: number("num_attention_heads"),
    numKvHeads: number("num_key_value_heads"),
    headDim: number("head_dim") ?? number("hidden_size") / number("num_attention_heads"),
    rmsNormEps: number("rms_norm_eps"),
    ropeTheta: rope.rope_theta ?? number("rope_theta"),
    ropeScaling: null,
    maxPositionEmbeddings: number("max_position_embeddings"),
    tieWordEmbeddings: config.tie_word_embeddings === true,
    attentionBias: config.attention_bias === true,
    hiddenAct: "silu",
    normAddsOne: false,
    scaleEmbeddings: false,
    slidingWindow: null,
    bosTokenId: number("bos_token_id"),
    eosTokenIds: Array.isArray(eos) ? eos : [eos],
    padTokenId: number("pad_token_id"),
  };
}

/** Every tensor of one safetensors file, at its byte offset in the file. */
export function safetensorsIndex(file: string): WeightIndex {
  const fd = fs.openSync(file, "r");
  try {
    const length = Buffer.alloc(8);
    fs.readSync(fd, length, 0, 8, 0);
    const headerLength = Number(length.readBigUInt64LE(0));
    const header = Buffer.alloc(headerLength);
    fs.readSync(fd, header, 0, headerLength, 8);
    const { __metadata__: _, ...entries } = JSON.parse(header.toString("utf8")) as Record<string, { dtype: WeightDtype; shape: number[]; data_offsets: [number, number] }>;
    const index = new Map<string, WeightRef>();
    for (const [name, { dtype, shape, data_offsets: [begin, end] }] of Object.entries(entries)) {
      index.set(name, { name, file, offset: 8 + headerLength + begin, length: end - begin, dtype, shape });
    }
    return index;
  } finally {
    fs.closeSync(fd);
  }
}
