import type { LoraWeights } from "../../src/engine/eval/lora-runner";
import { float32Tensor, int64Tensor, type OnnxDecoder, type ort } from "../../src/engine/eval/onnx";

/*
 * One prompt through the decoder contract, as the HF comparisons feed it: a single unpadded row, one adapter (scale
 * 0: the base model), the KV cache of the previous call fed back.
 */

type Outputs = ort.InferenceSession.OnnxValueMapType;

/** The inputs for `ids` after a cache of `past` slots (`cache`: the previous call's outputs, or null for the first). */
export function singleRowFeeds(decoder: OnnxDecoder, ids: readonly number[], past: number, adapter: LoraWeights, cache: Outputs | null): Record<string, ort.Tensor> {
  const { layers, kvHeads, headDim, loraModules } = decoder.shape;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64Tensor(ids, [1, ids.length]),
    attention_mask: int64Tensor(new Array<number>(past + ids.length).fill(1), [1, past + ids.length]),
    position_ids: int64Tensor(ids.map((_, index) => past + index), [1, ids.length]),
    adapter_ids: int64Tensor([0], [1]),
    lora_scale: float32Tensor(Float32Array.of(adapter.scale), [1]),
  };
  for (let layer = 0; layer < layers; layer += 1) {
    for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = (cache?.[`present.${layer}.${kind}`] as ort.Tensor | undefined) ?? float32Tensor(new Float32Array(0), [1, kvHeads, 0, headDim]);
  }
  for (const { key, inFeatures, outFeatures } of loraModules) {
    const module = adapter.modules.get(key)!;
    feeds[`lora_A.${key}`] = float32Tensor(Float32Array.from(module.A), [1, module.rank, inFeatures]);
    feeds[`lora_B.${key}`] = float32Tensor(Float32Array.from(module.B), [1, outFeatures, module.rank]);
  }
  return feeds;
}

/** The logits at the last position of the call. */
export function lastLogits(result: Outputs): Float32Array {
  const logits = result.logits as ort.Tensor;
  const [, seq, vocab] = logits.dims as [number, number, number];
  return (logits.data as Float32Array).subarray((seq - 1) * vocab, seq * vocab);
}

/** `count` greedy tokens after `ids`, through the KV cache. */
export async function greedyTokens(decoder: OnnxDecoder, ids: readonly number[], adapter: LoraWeights, count: number): Promise<number[]> {
  const tokens: number[] = [];
  let result = await decoder.run(singleRowFeeds(decoder, ids, 0, adapter, null));
  while (tokens.length < count) {
    const logits = lastLogits(result);
    tokens.push(logits.indexOf(Math.max(...logits)));
    result = await decoder.run(singleRowFeeds(decoder, [tokens.at(-1)!], ids.length + tokens.length - 1, adapter, result));
  }
  return tokens;
}
