import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OnnxDecoder } from "../eval/onnx";
import { generatorFeeds, logSoftmaxRows } from "../../../tests/support/decoder-feeds";
import { buildDecoder, LORA_MODULES, type Precision } from "./graph-builder";
import { indexWeights } from "./hf-weights";
import type { DecoderSpec } from "./spec";

/*
 * Each family quirk against Hugging Face: the tiny random models of scripts/make_graph_references.py, with HF's
 * fp32 logits over a left-padded batch (its real tokens are what the generator gets). The specs are written out here,
 * as the HF reader would give them.
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

async function decoderOf(variant: string, spec: DecoderSpec, precision: Precision): Promise<OnnxDecoder> {
  const dir = fs.mkdtempSync(path.join(scratch, `${variant}-`));
  fs.copyFileSync(path.join(FIXTURES, variant, "model.safetensors"), path.join(dir, "model.safetensors"));
  fs.writeFileSync(path.join(dir, "decoder.onnx"), buildDecoder(spec, await indexWeights(dir), { modelDir: dir, loraTargets: LORA_MODULES, precision }));
  return OnnxDecoder.load(path.join(dir, "decoder.onnx"), "cpu");
}

/**
 * The reference rows' real tokens as one right-padded batch (the generator's layout), every vocabulary id scored at
 * every real position: the largest |ours − HF's log-softmax| over them.
 */
async function worstDifference(reference: Reference, decoder: OnnxDecoder, vocab: number): Promise<number> {
  const rows = reference.input_ids.map((ids, r) => ids.filter((_, slot) => reference.attention_mask[r]![slot] === 1));
  const logits = reference.logits.map((row) => row.filter((slot): slot is number[] => slot !== null));
  const every = (ids: readonly number[]) => ({
    ids,
    positions: ids.flatMap((_, at) => new Array<number>(vocab).fill(at)),
    targets: ids.flatMap(() => Array.from({ length: vocab }, (_, id) => id)),
  });
  const { feeds, scored } = generatorFeeds(decoder.shape, rows.map(every), [{ scale: 0, modules: new Map() }], 1);
  const ours = (await decoder.run(feeds)).scored_logprobs!.data as Float32Array;
  let worst = 0;
  rows.forEach((ids, r) => {
    const theirs = logSoftmaxRows(logits[r]!.flat(), vocab);
    for (let at = 0; at < ids.length * vocab; at += 1) worst = Math.max(worst, Math.abs(ours[r * scored + at]! - theirs[at]!));
  });
  return worst;
}

describe.each(Object.entries(variants))("buildDecoder: the %s variant", (variant, spec) => {
  const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, variant, "reference.json"), "utf8")) as Reference;

  it("gives HF's log-probabilities on every real token of a padded batch", async () => {
    expect(await worstDifference(reference, await decoderOf(variant, spec, "fp32"), spec.vocabSize)).toBeLessThan(1e-4);
  });

  it(`gives them within float16's rounding in float16${spec.headDim % 16 === 0 ? " (fused attention)" : ""}`, async () => {
    expect(await worstDifference(reference, await decoderOf(variant, spec, "fp16"), spec.vocabSize)).toBeLessThan(0.1);
  });
});
