// A Hugging Face model folder read whole, as the importer starts: its DecoderSpec, where each weight lies, and
// its tokenizer, each checked against the others. Nothing is loaded beyond headers and JSON files.
import path from "node:path";
import { readModelConfig } from "./hf-config";
import { loadTokenizer, type ModelTokenizer, TOKENIZER, TokenizerLoadError } from "./hf-tokenizer";
import { checkWeights, expectedWeights, indexWeights } from "./hf-weights";
import type { DecoderSpec, WeightDtype, WeightIndex } from "./spec";

export interface HfModel {
  folder: string;
  spec: DecoderSpec;
  weights: WeightIndex;
  tokenizer: ModelTokenizer;
  /** Parameters the decoder reads (a tied output projection is the embedding, counted once). */
  parameters: number;
  /** Bytes of those parameters on disk. */
  weightBytes: number;
  /** Their storage dtypes, most bytes first. */
  dtypes: WeightDtype[];
}

/**
 * Reads config.json (+ generation_config.json), the safetensors headers and the tokenizer of `folder`. Each
 * problem is one line naming its file: ModelConfigError, TensorFileError or TokenizerLoadError.
 */
export async function readHfModel(folder: string): Promise<HfModel> {
  const spec = readModelConfig(folder);
  const weights = await indexWeights(folder);
  checkWeights(spec, weights);
  const tokenizer = loadTokenizer(folder);
  // A loop, not Math.max(...ids): spread arguments of a 150k-256k-token vocabulary overflow the stack.
  let largestId = -1;
  for (const id of tokenizer.tokenizer.get_vocab(true).values()) largestId = Math.max(largestId, id);
  if (largestId >= spec.vocabSize)
    throw new TokenizerLoadError(path.join(folder, TOKENIZER), `token id ${largestId} is outside the model's vocabulary (config.json's vocab_size is ${spec.vocabSize})`);

  const bytesByDtype = new Map<WeightDtype, number>();
  let parameters = 0;
  let weightBytes = 0;
  for (const { name } of expectedWeights(spec)) {
    const ref = weights.get(name)!;
    parameters += ref.shape.reduce((size, axis) => size * axis, 1);
    weightBytes += ref.length;
    bytesByDtype.set(ref.dtype, (bytesByDtype.get(ref.dtype) ?? 0) + ref.length);
  }
  const dtypes = [...bytesByDtype.entries()].sort((a, b) => b[1] - a[1]).map(([dtype]) => dtype);
  return { folder: path.resolve(folder), spec, weights, tokenizer, parameters, weightBytes, dtypes };
}
