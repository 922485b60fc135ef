import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { float32Tensor, int64Tensor, OnnxDecoder, type ort } from "../eval/onnx";
import { buildDecoder, LORA_MODULES } from "./graph-builder";
import { indexWeights } from "./hf-weights";
import type { DecoderSpec } from "./spec";

/*
 * Each family quirk against Hugging Face: the tiny random models of scripts/make_graph_references.py, with HF's
 * fp32 logits over a left-padded batch. The specs are written out here, as the HF reader would give them.
 */

const FIXTURES = "tests/fixtures/graph-families";
const common: DecoderSpec = {
  family: "llama",
  vocabSize: 40, hiddenSize: 32, intermediateSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8,
  rmsNormEps: 1e-6, ropeTheta: 10000, ropeScaling: null, maxPositionEmbeddings: 64,
  tieWordEmbeddings: false, attentionBias: false, hiddenAct: "silu", normAddsOne: false, scaleEmbeddings: false,
  slidingWindow: null, bosTokenId: 1, eosTokenIds: [2], padTokenId: 0,
};
const variants: Record<string, DecoderSpec> = {
  qwen2: { ...common, family: "qwen2", ropeTheta: 1e6, tieWordEmbeddings: true, attentionBias: true },
  gemma: { ...common, family: "gemma", numKvHeads: 1, headDim: 16, tieWordEmbeddings: true, hiddenAct: "gelu_tanh", normAddsOne: true, scaleEmbeddings: true },
  mistral: { ...common, family: "mistral", rmsNormEps: 1e-5, slidingWindow: 3 },
  llama3: { ...common, rmsNormEps: 1e-5, maxPositionEmbeddings: 256, ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } },
  "llama-linear": { ...common, rmsNormEps: 1e-5, numKvHeads: 4, tieWordEmbeddings: true, ropeScaling: { type: "linear", factor: 4 } },
};

interface Reference {
  input_ids: number[][];
  attention_mask: number[][];
  position_ids: number[][];
  /** [row][slot] → logits, null on padding */
  logits: Array<Array<number[] | null>>;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "graph-families-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

async function decoderOf(variant: string, spec: DecoderSpec): Promise<OnnxDecoder> {
  const dir = fs.mkdtempSync(path.join(scratch, `${variant}-`));
  fs.copyFileSync(path.join(FIXTURES, variant, "model.safetensors"), path.join(dir, "model.safetensors"));
  fs.writeFileSync(path.join(dir, "decoder.onnx"), buildDecoder(spec, await indexWeights(dir), { modelDir: dir, loraTargets: LORA_MODULES }));
  return OnnxDecoder.load(path.join(dir, "decoder.onnx"), "cpu");
}

/** The slots [from, to) of the reference batch, after a cache of the slots before `from`. */
function slotFeeds(reference: Reference, decoder: OnnxDecoder, from: number, to: number, past: Record<string, ort.Tensor> | null): Record<string, ort.Tensor> {
  const rows = reference.input_ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: int64Tensor(reference.input_ids.flatMap((ids) => ids.slice(from, to)), [rows, to - from]),
    attention_mask: int64Tensor(reference.attention_mask.flatMap((mask) => mask.slice(0, to)), [rows, to]),
    position_ids: int64Tensor(reference.position_ids.flatMap((positions) => positions.slice(from, to)), [rows, to - from]),
    adapter_ids: int64Tensor(new Array<number>(rows).fill(0), [rows]),
    lora_scale: float32Tensor(Float32Array.of(0), [1]),
  };
  const { layers, kvHeads, headDim, loraModules } = decoder.shape;
  for (let layer = 0; layer < layers; layer += 1) {
    for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = past?.[`present.${layer}.${kind}`] ?? float32Tensor(new Float32Array(0), [rows, kvHeads, 0, headDim]);
  }
  for (const { key, inFeatures, outFeatures } of loraModules) {
    feeds[`lora_A.${key}`] = float32Tensor(new Float32Array(inFeatures), [1, 1, inFeatures]);
    feeds[`lora_B.${key}`] = float32Tensor(new Float32Array(outFeatures), [1, outFeatures, 1]);
  }
  return feeds;
}

/** The largest |ours − HF's| over the real tokens of slots [from, from + seq). */
function worstDifference(reference: Reference, logits: ort.Tensor, from: number): number {
  const [rows, seq, vocab] = logits.dims as [number, number, number];
  const data = logits.data as Float32Array;
  let worst = 0;
  for (let r = 0; r < rows; r += 1) {
    for (let t = 0; t < seq; t += 1) {
      const want = reference.logits[r]![from + t];
      if (!want) continue;
      for (let v = 0; v < vocab; v += 1) worst = Math.max(worst, Math.abs(data[(r * seq + t) * vocab + v]! - want[v]!));
    }
  }
  return worst;
}

describe.each(Object.entries(variants))("buildDecoder: the %s variant", (variant, spec) => {
  const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, variant, "reference.json"), "utf8")) as Reference;
  const width = reference.input_ids[0]!.length;

  it("gives HF's logits on every real token of a left-padded batch", async () => {
    const decoder = await decoderOf(variant, spec);
    const result = await decoder.run(slotFeeds(reference, decoder, 0, width, null));
    expect(worstDifference(reference, result.logits!, 0)).toBeLessThan(1e-4);
  });

  it("gives them token by token from its KV cache too", async () => {
    const decoder = await decoderOf(variant, spec);
    const prompt = width - 4;
    let result = await decoder.run(slotFeeds(reference, decoder, 0, prompt, null));
    expect(worstDifference(reference, result.logits!, 0)).toBeLessThan(1e-4);
    for (let slot = prompt; slot < width; slot += 1) {
      result = await decoder.run(slotFeeds(reference, decoder, slot, slot + 1, result));
      expect(worstDifference(reference, result.logits!, slot), `slot ${slot}`).toBeLessThan(1e-4);
    }
  });
});
