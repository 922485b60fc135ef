import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { loadModelText, OnnxLoraRunner, type LoraWeights } from "../eval/lora-runner";
import { OnnxDecoder } from "../eval/onnx";
import { ContractDecoder, generatorFeeds, logSoftmaxRows } from "../../../tests/support/decoder-feeds";
import { loadLoraWeights } from "../eval/peft-lora";
import { buildDecoder, GraphBuildError, LORA_MODULES, ropeInverseFrequencies } from "./graph-builder";
import { readModelConfig } from "./hf-config";
import { indexWeights } from "./hf-weights";
import { importModel } from "./import";
import type { DecoderSpec, WeightDtype } from "./spec";

const BASE = "initial_experts/base";
const BUNDLED = "initial_experts/decoder.onnx";
const spec = readModelConfig(BASE);
const zooWeights = await indexWeights(BASE);

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "graph-builder-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/**
 * The zoo's decoder built here. OnnxDecoder loads a model with its own folder as the external data folder, so the
 * test gives it a folder holding the weights (a copy: the user-folder case is the session-option test below).
 */
async function builtZooDecoder(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(scratch, "zoo-"));
  fs.copyFileSync(path.join(BASE, "model.safetensors"), path.join(dir, "model.safetensors"));
  const file = path.join(dir, "decoder.onnx");
  fs.writeFileSync(file, buildDecoder(spec, await indexWeights(dir), { modelDir: dir, loraTargets: LORA_MODULES }));
  return file;
}
const built = await builtZooDecoder();

const dev = (task: string, n: number) => (JSON.parse(fs.readFileSync(`data/eval/${task}.json`, "utf8")) as { dev: Array<{ question: string }> }).dev.slice(0, n).map(({ question }) => `Q: ${question}\nA: `);


/** A row scoring each of its next tokens and, at its last position, every id. */
const scoringRow = (ids: readonly number[]) => ({
  ids,
  positions: [...ids.slice(1).map((_, t) => t), ...new Array<number>(spec.vocabSize).fill(ids.length - 1)],
  targets: [...ids.slice(1), ...Array.from({ length: spec.vocabSize }, (_, id) => id)],
});

/** What the bundled decoder gives the same rows: each next token's log-probability, then every id's at the last position. */
async function bundledScores(bundled: ContractDecoder, ids: readonly number[], adapter: LoraWeights): Promise<number[]> {
  const logprobs = logSoftmaxRows(await bundled.logits(ids, adapter), spec.vocabSize);
  const next = ids.slice(1).map((id, t) => logprobs[t * spec.vocabSize + id]!);
  return [...next, ...logprobs.subarray((ids.length - 1) * spec.vocabSize, ids.length * spec.vocabSize)];
}

describe("buildDecoder on the zoo's Llama", () => {
  it("gives the bundled PyTorch-exported decoder's log-probabilities over right-padded prompts of two candidates in one batch (candidate-major rows)", async () => {
    const ours = await OnnxDecoder.load(built, "cpu");
    const bundled = await ContractDecoder.open(BUNDLED);
    const math = await loadLoraWeights("initial_experts/math", ours.shape);
    const adapters = [{ ...math, scale: 0 }, math]; // the base, and the math expert
    const { tokenizer } = loadModelText(BASE);
    const prompts = [...dev("gsm8k", 2), ...dev("mgsm_ja", 1)].map((prompt) => tokenizer.encode(prompt).ids);
    const rows = adapters.flatMap(() => prompts);
    const { feeds, scored } = generatorFeeds(ours.shape, rows.map(scoringRow), adapters, 1);
    const logprobs = (await ours.run(feeds)).scored_logprobs!.data as Float32Array;
    for (const [row, ids] of rows.entries()) {
      const theirs = await bundledScores(bundled, ids, adapters[Math.floor(row / prompts.length)]!);
      const mine = logprobs.subarray(row * scored, row * scored + ids.length - 1 + spec.vocabSize);
      expect(Math.max(...mine.map((value, at) => Math.abs(value - theirs[at]!))), `row ${row}`).toBeLessThan(1e-4);
    }
  });

  it("answers dev questions exactly as the bundled decoder does step by step, with the base and with the math expert (OnnxLoraRunner, the decoder in a cache folder)", async () => {
    const { runnerModel } = await importModel(BASE, { cacheRoot: fs.mkdtempSync(path.join(scratch, "cache-")) });
    const ours = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" });
    const bundled = await ContractDecoder.open(BUNDLED);
    const math = await loadLoraWeights("initial_experts/math", ours.shape);
    const text = loadModelText(BASE);
    const requests = [...dev("gsm8k", 6), ...dev("mgsm_ja", 4)].flatMap((prompt) => [0, 1].map((adapter) => ({ kind: "generate" as const, prompt, maxNewTokens: 16, adapter })));
    const adapters = [{ ...math, scale: 0 }, math];
    const answers = await Promise.all(
      requests.map(async (request) => {
        const tokens = await bundled.greedy(text.tokenizer.encode(request.prompt).ids, adapters[request.adapter]!, request.maxNewTokens, text.eosIds);
        const ids = tokens.filter((id) => !text.eosIds.has(id));
        return { kind: "generate", text: ids.length > 0 ? text.tokenizer.decode(ids, { skip_special_tokens: true }) : "", tokens: ids.length };
      }),
    );
    expect(await ours.run(requests, adapters)).toEqual(answers);
    // The expert changes answers, so the LoRA path is exercised, not only the base.
    expect(answers.filter((_, i) => i % 2 === 0)).not.toEqual(answers.filter((_, i) => i % 2 === 1));
  });

  it("reads the weights where they lie in the model folder, the decoder file elsewhere, through onnxruntime's external data folder option", async () => {
    const cache = fs.mkdtempSync(path.join(scratch, "cache-"));
    const file = path.join(cache, "decoder.onnx");
    fs.writeFileSync(file, buildDecoder(spec, await indexWeights(BASE), { modelDir: BASE, loraTargets: [] }));
    const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], extra: { session: { model_external_initializers_file_folder_path: path.resolve(BASE) } } });
    expect(session.inputNames.filter((name) => name.startsWith("lora_"))).toEqual(["lora_scale"]);
    const ids = [1, 50, 60, 70];
    const { feeds, scored } = generatorFeeds({ loraModules: [] }, [scoringRow(ids)], [{ scale: 1, modules: new Map() }], 1);
    const mine = ((await session.run(feeds)).scored_logprobs!.data as Float32Array).subarray(0, scored);
    const theirs = await bundledScores(await ContractDecoder.open(BUNDLED), ids, { ...(await loadLoraWeights("initial_experts/math")), scale: 0 });
    expect(Math.max(...mine.map((value, at) => Math.abs(value - theirs[at]!)))).toBeLessThan(1e-4);
    await session.release();
  });

  it("adds LoRA inputs for the chosen modules only", async () => {
    const file = path.join(fs.mkdtempSync(path.join(scratch, "targets-")), "decoder.onnx");
    fs.copyFileSync(path.join(BASE, "model.safetensors"), path.join(path.dirname(file), "model.safetensors"));
    fs.writeFileSync(file, buildDecoder(spec, await indexWeights(path.dirname(file)), { modelDir: path.dirname(file), loraTargets: ["v_proj", "q_proj"] }));
    const decoder = await OnnxDecoder.load(file, "cpu");
    expect(decoder.shape.loraModules.map((module) => module.key)).toEqual([0, 1, 2, 3].flatMap((layer) => [`${layer}.q_proj`, `${layer}.v_proj`]));
  });
});

describe("buildDecoder refusals", () => {
  const weights = zooWeights;
  const build = (changes: Partial<DecoderSpec>, loraTargets: readonly string[] = LORA_MODULES) => () => buildDecoder({ ...spec, ...changes }, weights, { modelDir: BASE, loraTargets });

  it("names the spec field and the supported values for what it cannot build", () => {
    expect(build({ family: "gpt2" as DecoderSpec["family"] })).toThrow(new GraphBuildError('spec.family: "gpt2" is not supported; expected one of llama, mistral, qwen2, gemma'));
    expect(build({ ropeScaling: { type: "yarn", factor: 4 } as unknown as DecoderSpec["ropeScaling"] })).toThrow(new GraphBuildError('spec.ropeScaling.type: "yarn" is not supported; expected null or one of linear, llama3'));
    expect(build({ hiddenAct: "relu" as DecoderSpec["hiddenAct"] })).toThrow(new GraphBuildError('spec.hiddenAct: "relu" is not supported; expected one of silu, gelu_tanh'));
    expect(build({ numKvHeads: 3 })).toThrow(new GraphBuildError("spec.numKvHeads: 3 is not supported; expected a divisor of numHeads (4)"));
    expect(build({ slidingWindow: 0 })).toThrow(new GraphBuildError("spec.slidingWindow: 0 is not supported; expected null or a positive integer"));
    expect(build({}, ["q_proj", "qkv_proj"])).toThrow(new GraphBuildError('loraTargets: "qkv_proj" is not supported; expected modules among q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj'));
  });

  it("names the tensor the weights lack, have in another shape or dtype, and weights outside modelDir", () => {
    expect(build({ tieWordEmbeddings: false })).toThrow(new GraphBuildError('weights: the model has no tensor "lm_head.weight" (expected llama shape [1428, 256])'));
    expect(build({ attentionBias: true })).toThrow(new GraphBuildError('weights: the model has no tensor "model.layers.0.self_attn.q_proj.bias" (expected llama shape [256])'));
    expect(build({ intermediateSize: 512 })).toThrow(new GraphBuildError('weights: tensor "model.layers.0.mlp.gate_proj.weight" has shape [688, 256], expected [512, 256] from the spec'));
    const int8 = new Map(weights).set("model.norm.weight", { ...weights.get("model.norm.weight")!, dtype: "I8" as WeightDtype });
    expect(() => buildDecoder(spec, int8, { modelDir: BASE, loraTargets: [] })).toThrow(new GraphBuildError('weights: tensor "model.norm.weight" dtype: "I8" is not supported; expected one of F32, F16, BF16'));
    expect(() => buildDecoder(spec, weights, { modelDir: scratch, loraTargets: [] })).toThrow(/^weights: tensor "model\.embed_tokens\.weight" lies in \/.*initial_experts\/base\/model\.safetensors, outside modelDir .*: onnxruntime reads external data only inside the folder it resolves against$/);
  });
});

describe("ropeInverseFrequencies", () => {
  const plain = ropeInverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: null });

  it("is θ^(-2i/d), slowed by the factor under linear scaling", () => {
    expect(Array.from(plain)).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
    expect(Array.from(ropeInverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: { type: "linear", factor: 4 } }))).toEqual(Array.from(plain, (f) => Math.fround(f / 4)));
  });

  it("keeps short wavelengths, slows long ones and ramps between them under llama3 scaling", () => {
    // Wavelengths 2π/f: 6.3, 63, 628, 6283. With a 1000-slot context, factors 1 and 4: above 1000 slowed, below 250 kept.
    const scaled = ropeInverseFrequencies({ headDim: 8, ropeTheta: 10000, ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 1000 } });
    const smooth = (1000 / ((2 * Math.PI) / plain[2]!) - 1) / 3;
    expect(Array.from(scaled)).toEqual([plain[0]!, plain[1]!, (1 - smooth) * (plain[2]! / 8) + smooth * plain[2]!, plain[3]! / 8].map(Math.fround));
  });
});
