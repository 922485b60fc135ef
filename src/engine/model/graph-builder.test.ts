import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { loadModelText, OnnxLoraRunner, type LoraWeights } from "../eval/lora-runner";
import { float32Tensor, int64Tensor, OnnxDecoder } from "../eval/onnx";
import { loadLoraWeights } from "../eval/peft-lora";
import { buildDecoder, GraphBuildError, LORA_MODULES, ropeInverseFrequencies } from "./graph-builder";
import { readModelConfig } from "./hf-config";
import { indexWeights } from "./hf-weights";
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

type Feeds = Record<string, ort.Tensor>;

/** `adapters` stacked as the contract's LoRA inputs (one rank for all: the zoo's 8). */
function loraFeeds(adapters: readonly LoraWeights[]): Feeds {
  const feeds: Feeds = { lora_scale: float32Tensor(Float32Array.from(adapters, (adapter) => adapter.scale), [adapters.length]) };
  for (const key of adapters[0]!.modules.keys()) {
    const modules = adapters.map((adapter) => adapter.modules.get(key)!);
    const { rank, A, B } = modules[0]!;
    const stack = (parts: Float32Array[]) => {
      const out = new Float32Array(parts.length * parts[0]!.length);
      parts.forEach((part, i) => out.set(part, i * part.length));
      return out;
    };
    feeds[`lora_A.${key}`] = float32Tensor(stack(modules.map((m) => m.A)), [adapters.length, rank, A.length / rank]);
    feeds[`lora_B.${key}`] = float32Tensor(stack(modules.map((m) => m.B)), [adapters.length, B.length / rank, rank]);
  }
  return feeds;
}

function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  expect(a.dims).toEqual(b.dims);
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let max = 0;
  for (let i = 0; i < x.length; i += 1) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return max;
}

describe("buildDecoder on the zoo's Llama", () => {
  it("matches the bundled PyTorch-exported decoder on logits and KV cache, over a left-padded prompt and several cached decode steps", async () => {
    const ours = await OnnxDecoder.load(built, "cpu");
    const bundled = await OnnxDecoder.load(BUNDLED, "cpu");
    expect(ours.shape).toEqual(bundled.shape);
    const math = await loadLoraWeights("initial_experts/math", bundled.shape);
    const lora = loraFeeds([{ ...math, scale: 0 }, math]); // the base, and the math expert

    const { tokenizer } = loadModelText(BASE);
    const prompts = [...dev("gsm8k", 2), ...dev("mgsm_ja", 1)].map((prompt) => tokenizer.encode(prompt).ids);
    const rows = prompts.flatMap((ids) => [0, 1].map((adapter) => ({ ids, adapter })));
    const width = Math.max(...prompts.map((ids) => ids.length));
    let mask = rows.flatMap(({ ids }) => [...new Array<number>(width - ids.length).fill(0), ...ids.map(() => 1)]);
    let feeds: Feeds = {
      ...lora,
      adapter_ids: int64Tensor(rows.map((row) => row.adapter), [rows.length]),
      input_ids: int64Tensor(rows.flatMap(({ ids }) => [...new Array<number>(width - ids.length).fill(0), ...ids]), [rows.length, width]),
      attention_mask: int64Tensor(mask, [rows.length, width]),
      position_ids: int64Tensor(rows.flatMap(({ ids }) => [...new Array<number>(width - ids.length).fill(0), ...ids.map((_, t) => t)]), [rows.length, width]),
    };
    for (let layer = 0; layer < spec.numLayers; layer += 1) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = float32Tensor(new Float32Array(0), [rows.length, spec.numKvHeads, 0, spec.headDim]);
    }

    let length = width;
    const positions = rows.map(({ ids }) => ids.length);
    for (let step = 0; step < 5; step += 1) {
      const [mine, theirs] = [await ours.run(feeds), await bundled.run(feeds)];
      for (const name of Object.keys(theirs)) expect(maxAbsDiff(mine[name]!, theirs[name]!), `${name} at step ${step}`).toBeLessThan(1e-4);
      // The next tokens (the bundled decoder's greedy choice) and the caches fed back, as OnnxLoraRunner does.
      const logits = theirs.logits!.data as Float32Array;
      const seq = theirs.logits!.dims[1]!;
      const next = rows.map((_, r) => {
        const at = (r * seq + seq - 1) * spec.vocabSize;
        let best = 0;
        for (let v = 1; v < spec.vocabSize; v += 1) if (logits[at + v]! > logits[at + best]!) best = v;
        return best;
      });
      length += 1;
      mask = rows.flatMap((_, r) => [...mask.slice(r * (length - 1), (r + 1) * (length - 1)), 1]);
      feeds = { ...lora, adapter_ids: feeds.adapter_ids!, input_ids: int64Tensor(next, [rows.length, 1]), attention_mask: int64Tensor(mask, [rows.length, length]), position_ids: int64Tensor(positions.map((p) => p + step), [rows.length, 1]) };
      for (let layer = 0; layer < spec.numLayers; layer += 1) {
        for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = theirs[`present.${layer}.${kind}`]!;
      }
    }
  });

  it("answers dev questions exactly as the bundled decoder does, with the base and with the math expert (OnnxLoraRunner, the decoder in a cache folder)", async () => {
    const cached = path.join(fs.mkdtempSync(path.join(scratch, "cache-")), "decoder.onnx");
    fs.writeFileSync(cached, buildDecoder(spec, zooWeights, { modelDir: BASE, loraTargets: LORA_MODULES }));
    const [ours, bundled] = await Promise.all([
      OnnxLoraRunner.open({ model: cached, baseFolder: BASE, device: "cpu", weightsFolder: BASE }),
      OnnxLoraRunner.open({ model: BUNDLED, baseFolder: BASE, device: "cpu" }),
    ]);
    const math = await loadLoraWeights("initial_experts/math", bundled!.shape);
    const requests = [...dev("gsm8k", 6), ...dev("mgsm_ja", 4)].flatMap((prompt) => [0, 1].map((adapter) => ({ kind: "generate" as const, prompt, maxNewTokens: 16, adapter })));
    const adapters = [{ ...math, scale: 0 }, math];
    const answers = await bundled!.run(requests, adapters);
    expect(await ours!.run(requests, adapters)).toEqual(answers);
    // The expert changes answers, so the LoRA path is exercised, not only the base.
    expect(answers.filter((_, i) => i % 2 === 0)).not.toEqual(answers.filter((_, i) => i % 2 === 1));
  });

  it("reads the weights where they lie in the model folder, the decoder file elsewhere, through onnxruntime's external data folder option", async () => {
    const cache = fs.mkdtempSync(path.join(scratch, "cache-"));
    const file = path.join(cache, "decoder.onnx");
    fs.writeFileSync(file, buildDecoder(spec, await indexWeights(BASE), { modelDir: BASE, loraTargets: [] }));
    const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], extra: { session: { model_external_initializers_file_folder_path: path.resolve(BASE) } } });
    const bundled = await OnnxDecoder.load(BUNDLED, "cpu");
    // The bundled decoder needs LoRA inputs; zero-scaled ones leave the base model, as this decoder has none.
    const math = await loadLoraWeights("initial_experts/math", bundled.shape);
    const feeds: Feeds = { input_ids: int64Tensor([1, 50, 60, 70], [1, 4]), attention_mask: int64Tensor([1, 1, 1, 1], [1, 4]), position_ids: int64Tensor([0, 1, 2, 3], [1, 4]), adapter_ids: int64Tensor([0], [1]) };
    for (let layer = 0; layer < spec.numLayers; layer += 1) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = float32Tensor(new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]);
    }
    expect(session.inputNames.filter((name) => name.startsWith("lora_"))).toEqual(["lora_scale"]);
    const mine = await session.run({ ...feeds, lora_scale: float32Tensor(Float32Array.of(1), [1]) });
    const theirs = await bundled.run({ ...feeds, ...loraFeeds([{ ...math, scale: 0 }]) });
    expect(maxAbsDiff(mine.logits!, theirs.logits!)).toBeLessThan(1e-4);
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
