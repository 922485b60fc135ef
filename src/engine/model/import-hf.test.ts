import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyModel, FAMILY_NAMES, FIXTURES, modelFolder, readReference } from "../../../tests/support/hf-fixtures";
import { loadLoraWeights } from "../eval/peft-lora";
import { float32Tensor, int64Tensor, OnnxDecoder, type ort } from "../eval/onnx";
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

type Feeds = Record<string, ort.Tensor>;

/** One row's inputs: `ids` after a cache of `past` slots, with `adapter` (scale 0: the base model). */
function feedsOf(decoder: OnnxDecoder, ids: readonly number[], past: number, adapter: LoraWeights, cacheIn: ort.InferenceSession.OnnxValueMapType | null): Feeds {
  const { layers, kvHeads, headDim, loraModules } = decoder.shape;
  const feeds: Feeds = {
    input_ids: int64Tensor(ids, [1, ids.length]),
    attention_mask: int64Tensor(new Array<number>(past + ids.length).fill(1), [1, past + ids.length]),
    position_ids: int64Tensor(ids.map((_, index) => past + index), [1, ids.length]),
    adapter_ids: int64Tensor([0], [1]),
    lora_scale: float32Tensor(Float32Array.of(adapter.scale), [1]),
  };
  for (let layer = 0; layer < layers; layer += 1) {
    for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = (cacheIn?.[`present.${layer}.${kind}`] as ort.Tensor | undefined) ?? float32Tensor(new Float32Array(0), [1, kvHeads, 0, headDim]);
  }
  for (const { key, inFeatures, outFeatures } of loraModules) {
    const module = adapter.modules.get(key)!;
    feeds[`lora_A.${key}`] = float32Tensor(Float32Array.from(module.A), [1, module.rank, inFeatures]);
    feeds[`lora_B.${key}`] = float32Tensor(Float32Array.from(module.B), [1, outFeatures, module.rank]);
  }
  return feeds;
}

function lastLogits(result: ort.InferenceSession.OnnxValueMapType): Float32Array {
  const logits = result.logits as ort.Tensor;
  const [, seq, vocab] = logits.dims as [number, number, number];
  return (logits.data as Float32Array).subarray((seq - 1) * vocab, seq * vocab);
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let index = 1; index < values.length; index += 1) if (values[index]! > values[best]!) best = index;
  return best;
}

describe.each(FAMILY_NAMES)("a %s model imported from its Hugging Face folder", (family) => {
  const reference = readReference(family);

  async function imported() {
    const adapter = await loadLoraWeights(path.join(FIXTURES, family, "adapter"));
    const targets = [...new Set([...adapter.modules.keys()].map((key) => key.split(".")[1]!))];
    const { model, decoder: file, weightsFolder } = await importModel(modelFolder(family), { cacheRoot: cache, loraTargets: targets });
    const decoder = await OnnxDecoder.load(file, "cpu", { weightsFolder });
    const base: LoraWeights = { ...adapter, scale: 0 };
    return { model, decoder, variants: { base, adapter } };
  }

  it("tokenizes the prompts as HF did and gives HF's last-position logits, within 1e-4, with and without the adapter", async () => {
    const { model, decoder, variants } = await imported();
    const logits = await readSafetensors(path.join(FIXTURES, family, "reference_logits.safetensors"));
    const want = new Map(logits.tensors.map((tensor) => [tensor.name, tensor.data]));
    for (const [index, prompt] of reference.prompts.entries()) {
      expect(model.tokenizer.tokenizer.encode(prompt.text).ids).toEqual(prompt.ids);
      for (const [variant, weights] of Object.entries(variants)) {
        const ours = lastLogits(await decoder.run(feedsOf(decoder, prompt.ids, 0, weights, null)));
        const theirs = want.get(`${variant}.${index}`)!;
        expect(ours.length).toBe(theirs.length);
        const worst = ours.reduce((most, value, at) => Math.max(most, Math.abs(value - theirs[at]!)), 0);
        expect(worst, `${variant}, prompt ${index}`).toBeLessThan(1e-4);
      }
    }
  });

  it("generates HF's greedy tokens through its KV cache, with and without the adapter", async () => {
    const { decoder, variants } = await imported();
    for (const prompt of reference.prompts) {
      for (const [variant, weights] of Object.entries(variants)) {
        const tokens: number[] = [];
        let result = await decoder.run(feedsOf(decoder, prompt.ids, 0, weights, null));
        while (tokens.length < prompt[variant as "base" | "adapter"].greedy.length) {
          tokens.push(argmax(lastLogits(result)));
          result = await decoder.run(feedsOf(decoder, [tokens.at(-1)!], prompt.ids.length + tokens.length - 1, weights, result));
        }
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
    expect(path.dirname(first.decoder).startsWith(cache)).toBe(true);
    const again = await importModel(folder, { cacheRoot: cache });
    expect(again).toMatchObject({ built: false, decoder: first.decoder });
    const shard = [...first.model.weights.values()][0]!.file;
    const later = new Date(fs.statSync(shard).mtimeMs + 5_000);
    fs.utimesSync(shard, later, later);
    const rebuilt = await importModel(folder, { cacheRoot: cache });
    expect(rebuilt.built).toBe(true);
    expect(rebuilt.decoder).not.toBe(first.decoder);
    expect(fs.readdirSync(path.dirname(rebuilt.decoder)).sort()).toEqual(["decoder.onnx", "import.json"]);
  });
});
