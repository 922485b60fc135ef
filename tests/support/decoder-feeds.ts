import ort from "onnxruntime-node";
import type { LoraWeights } from "../../src/engine/eval/lora-runner";
import { float32Tensor, int64Tensor, type DecoderShape, type OnnxDecoder } from "../../src/engine/eval/onnx";

/*
 * Two ways to run one prompt, for the comparisons with references:
 * - the bundled PyTorch-exported decoder (initial_experts/decoder.onnx, the step-by-step contract of
 *   initial_experts/README.md), one token per session run with its KV cache fed back: the reference the product's
 *   generator is checked against;
 * - the product's generator graph (graph-builder.ts), one row of one candidate.
 */

type Outputs = ort.InferenceSession.OnnxValueMapType;

/** The bundled contract decoder, opened on the CPU. */
export class ContractDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly layers: number,
    readonly kvHeads: number,
    readonly headDim: number,
  ) {}

  static async open(file: string): Promise<ContractDecoder> {
    const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"] });
    const past = session.inputMetadata.find((input) => input.name === "past_key_values.0.key");
    const [, kvHeads, , headDim] = past?.isTensor ? past.shape : [];
    return new ContractDecoder(session, session.inputNames.filter((name) => /^past_key_values\.\d+\.key$/.test(name)).length, Number(kvHeads), Number(headDim));
  }

  /** The inputs for `ids` after a cache of `past` slots (`cache`: the previous call's outputs, or null for the first). */
  private feeds(ids: readonly number[], past: number, adapter: LoraWeights, cache: Outputs | null): Record<string, ort.Tensor> {
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64Tensor(ids, [1, ids.length]),
      attention_mask: int64Tensor(new Array<number>(past + ids.length).fill(1), [1, past + ids.length]),
      position_ids: int64Tensor(ids.map((_, index) => past + index), [1, ids.length]),
      adapter_ids: int64Tensor([0], [1]),
      lora_scale: float32Tensor(Float32Array.of(adapter.scale), [1]),
    };
    for (let layer = 0; layer < this.layers; layer += 1) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = (cache?.[`present.${layer}.${kind}`] as ort.Tensor | undefined) ?? float32Tensor(new Float32Array(0), [1, this.kvHeads, 0, this.headDim]);
    }
    for (const name of this.session.inputNames.filter((input) => input.startsWith("lora_A."))) {
      const key = name.slice("lora_A.".length);
      const module = adapter.modules.get(key)!;
      feeds[`lora_A.${key}`] = float32Tensor(Float32Array.from(module.A), [1, module.rank, module.A.length / module.rank]);
      feeds[`lora_B.${key}`] = float32Tensor(Float32Array.from(module.B), [1, module.B.length / module.rank, module.rank]);
    }
    return feeds;
  }

  /** Every position's logits over the whole prompt, [ids.length × vocab]. */
  async logits(ids: readonly number[], adapter: LoraWeights): Promise<Float32Array> {
    return (await this.session.run(this.feeds(ids, 0, adapter, null))).logits!.data as Float32Array;
  }

  /** `count` greedy tokens after `ids`, through the KV cache, stopping after one of `eos`. */
  async greedy(ids: readonly number[], adapter: LoraWeights, count: number, eos: ReadonlySet<number> = new Set()): Promise<number[]> {
    const tokens: number[] = [];
    let result = await this.session.run(this.feeds(ids, 0, adapter, null));
    for (;;) {
      const logits = result.logits as ort.Tensor;
      const [, seq, vocab] = logits.dims as [number, number, number];
      const last = (logits.data as Float32Array).subarray((seq - 1) * vocab, seq * vocab);
      let best = 0;
      for (let v = 1; v < vocab; v += 1) if (last[v]! > last[best]!) best = v;
      tokens.push(best);
      if (tokens.length === count || eos.has(best)) return tokens;
      result = await this.session.run(this.feeds([best], ids.length + tokens.length - 1, adapter, result));
    }
  }
}

/** One row of a generator batch: its tokens (unpadded) and the positions whose next token it scores, with those tokens. */
export interface ScoredRow {
  ids: readonly number[];
  positions: readonly number[];
  targets: readonly number[];
}

/**
 * The generator's inputs for `rows`, right-padded to one width (each row's scored positions padded with its last
 * position, target 0), `adapters` stacked as the candidates whose blocks the rows form (candidate-major); an adapter
 * without a module gets a zero update there. `scored` is the padded number of scored positions per row.
 */
export function generatorFeeds(shape: DecoderShape, rows: readonly ScoredRow[], adapters: readonly LoraWeights[], maxNewTokens: number): { feeds: Record<string, ort.Tensor>; scored: number } {
  const width = Math.max(...rows.map((row) => row.ids.length));
  const scored = Math.max(...rows.map((row) => row.positions.length));
  const padded = (values: (row: ScoredRow) => readonly number[], fill: (row: ScoredRow) => number, length: number) =>
    rows.flatMap((row) => [...values(row), ...new Array<number>(length - values(row).length).fill(fill(row))]);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64Tensor(padded((row) => row.ids, () => 0, width), [rows.length, width]),
    attention_mask: int64Tensor(padded((row) => row.ids.map(() => 1), () => 0, width), [rows.length, width]),
    position_ids: int64Tensor(padded((row) => row.ids.map((_, t) => t), () => 0, width), [rows.length, width]),
    score_positions: int64Tensor(padded((row) => row.positions, (row) => row.ids.length - 1, scored), [rows.length, scored]),
    score_targets: int64Tensor(padded((row) => row.targets, () => 0, scored), [rows.length, scored]),
    max_new_tokens: int64Tensor([maxNewTokens], []),
    eos_token_ids: int64Tensor([-1], [1]),
    lora_scale: float32Tensor(Float32Array.from(adapters, (adapter) => adapter.scale), [adapters.length]),
  };
  for (const { key, inFeatures, outFeatures } of shape.loraModules) {
    const modules = adapters.map((adapter) => adapter.modules.get(key));
    const rank = Math.max(1, ...modules.map((module) => module?.rank ?? 0));
    const A = new Float32Array(adapters.length * rank * inFeatures);
    const B = new Float32Array(adapters.length * outFeatures * rank);
    modules.forEach((module, c) => {
      if (!module) return;
      A.set(module.A, c * rank * inFeatures);
      for (let row = 0; row < outFeatures; row += 1) B.set(module.B.subarray(row * module.rank, (row + 1) * module.rank), (c * outFeatures + row) * rank);
    });
    feeds[`lora_A.${key}`] = float32Tensor(A, [adapters.length, rank, inFeatures]);
    feeds[`lora_B.${key}`] = float32Tensor(B, [adapters.length, outFeatures, rank]);
  }
  return { feeds, scored };
}

/** `count` greedy tokens after `ids` from the generator (no end of sequence: exactly `count`). */
export async function generatorGreedy(decoder: OnnxDecoder, ids: readonly number[], adapter: LoraWeights, count: number): Promise<number[]> {
  const { feeds } = generatorFeeds(decoder.shape, [{ ids, positions: [ids.length - 1], targets: [0] }], [adapter], count);
  return Array.from((await decoder.run(feeds)).tokens!.data as BigInt64Array, Number);
}

/** The generator's log-probability of `targets[i]` after the prompt's position `positions[i]`. */
export async function generatorLogprobs(decoder: OnnxDecoder, ids: readonly number[], adapter: LoraWeights, positions: readonly number[], targets: readonly number[]): Promise<Float32Array> {
  const { feeds } = generatorFeeds(decoder.shape, [{ ids, positions, targets }], [adapter], 1);
  return (await decoder.run(feeds)).scored_logprobs!.data as Float32Array;
}

/** log-softmax of each row of `logits` [rows × vocab]. */
export function logSoftmaxRows(logits: ArrayLike<number>, vocab: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let row = 0; row < logits.length / vocab; row += 1) {
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < vocab; v += 1) max = Math.max(max, logits[row * vocab + v]!);
    let sum = 0;
    for (let v = 0; v < vocab; v += 1) sum += Math.exp(logits[row * vocab + v]! - max);
    for (let v = 0; v < vocab; v += 1) out[row * vocab + v] = logits[row * vocab + v]! - max - Math.log(sum);
  }
  return out;
}
