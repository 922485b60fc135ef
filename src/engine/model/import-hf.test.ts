import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generatorGreedy, generatorLogprobs, logSoftmaxRows } from "../../../tests/support/decoder-feeds";
import { copyModel, FAMILY_NAMES, FIXTURES, modelFolder, readReference } from "../../../tests/support/hf-fixtures";
import { loadLoraWeights } from "../eval/peft-lora";
import { OnnxDecoder } from "../eval/onnx";
import type { LoraWeights } from "../eval/lora-runner";
import { readSafetensors } from "../tensors/safetensors";
import { importModel } from "./import";

/*
 * Issue #14's acceptance on CPU: each family's tiny Hugging Face model, read by the importer's own readers (config,
 * safetensors headers, tokenizer), built into the LoRA decoder and run by the evaluator's OnnxDecoder, gives HF's
 * logits (within 1e-4, fp32) and HF's greedy tokens, with the base model and with its PEFT adapter. The decoder lies
 * in the import cache and reads the weights inside the model folder, where they are.
 */

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "import-hf-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe.each(FAMILY_NAMES)("a %s model imported from its Hugging Face folder", (family) => {
  const reference = readReference(family);

  async function imported() {
    const adapter = await loadLoraWeights(path.join(FIXTURES, family, "adapter"));
    const targets = [...new Set([...adapter.modules.keys()].map((key) => key.split(".")[1]!))];
    const { model, decoders, weightsFolder } = await importModel(modelFolder(family), { cacheRoot: cache, loraTargets: targets });
    const decoder = await OnnxDecoder.load(decoders.fp32, "cpu", { weightsFolder });
    const base: LoraWeights = { ...adapter, scale: 0 };
    return { model, decoder, variants: { base, adapter } };
  }

  it("tokenizes the prompts as HF did and gives HF's last-position log-probabilities, within 1e-4, with and without the adapter", async () => {
    const { model, decoder, variants } = await imported();
    const logits = await readSafetensors(path.join(FIXTURES, family, "reference_logits.safetensors"));
    const want = new Map(logits.tensors.map((tensor) => [tensor.name, tensor.data]));
    for (const [index, prompt] of reference.prompts.entries()) {
      expect(model.tokenizer.tokenizer.encode(prompt.text).ids).toEqual(prompt.ids);
      for (const [variant, weights] of Object.entries(variants)) {
        const vocab = model.spec.vocabSize;
        const ours = await generatorLogprobs(decoder, prompt.ids, weights, new Array<number>(vocab).fill(prompt.ids.length - 1), Array.from({ length: vocab }, (_, id) => id));
        const theirs = logSoftmaxRows(want.get(`${variant}.${index}`)!, vocab);
        expect(ours.length).toBe(theirs.length);
        const worst = ours.reduce((most, value, at) => Math.max(most, Math.abs(value - theirs[at]!)), 0);
        expect(worst, `${variant}, prompt ${index}`).toBeLessThan(1e-4);
      }
    }
  });

  it("tells the decoder's input shape from the spec as the built decoder's own inputs do", async () => {
    const { decoder } = await imported();
    const adapter = await loadLoraWeights(path.join(FIXTURES, family, "adapter"));
    const targets = [...new Set([...adapter.modules.keys()].map((key) => key.split(".")[1]!))];
    const { shape } = await importModel(modelFolder(family), { cacheRoot: cache, loraTargets: targets });
    const byKey = (modules: typeof shape.loraModules) => [...modules].sort((a, b) => a.key.localeCompare(b.key));
    expect({ ...shape, loraModules: byKey(shape.loraModules) }).toEqual({ ...decoder.shape, loraModules: byKey(decoder.shape.loraModules) });
  });

  it("generates HF's greedy tokens through its KV cache, with and without the adapter", async () => {
    const { decoder, variants } = await imported();
    for (const prompt of reference.prompts) {
      for (const [variant, weights] of Object.entries(variants)) {
        const tokens = await generatorGreedy(decoder, prompt.ids, weights, prompt[variant as "base" | "adapter"].greedy.length);
        expect(tokens, variant).toEqual(prompt[variant as "base" | "adapter"].greedy);
      }
    }
  });
});

describe("the import cache", () => {
  it("reuses a decoder while the model's files are unchanged, and builds another when a weights file changes", async () => {
    const folder = copyModel("qwen2");
    const first = await importModel(folder, { cacheRoot: cache });
    expect(first.built).toBe(true);
    expect(path.dirname(first.decoders.fp32).startsWith(cache)).toBe(true);
    const again = await importModel(folder, { cacheRoot: cache });
    expect(again).toMatchObject({ built: false, decoders: first.decoders });
    const shard = [...first.model.weights.values()][0]!.file;
    const later = new Date(fs.statSync(shard).mtimeMs + 5_000);
    fs.utimesSync(shard, later, later);
    const rebuilt = await importModel(folder, { cacheRoot: cache });
    expect(rebuilt.built).toBe(true);
    expect(rebuilt.decoders.fp32).not.toBe(first.decoders.fp32);
    expect(fs.readdirSync(path.dirname(rebuilt.decoders.fp32)).sort()).toEqual(["decoder-fp16.onnx", "decoder-fp32.onnx", "import.json"]);
  });
});
