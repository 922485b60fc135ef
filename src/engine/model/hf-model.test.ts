import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyModel, editJson, FAMILY_NAMES, FIXTURES, modelFolder, withConfig } from "../../../tests/support/hf-fixtures";
import { loadPeftAdapter } from "../tensors";
import { ModelConfigError } from "./hf-config";
import { readHfModel } from "./hf-model";
import { TokenizerLoadError } from "./hf-tokenizer";

// hidden 64, intermediate 128, 2 layers, vocab 1428; q/o 64x(4 heads x head_dim), k/v 64x(kv heads x head_dim).
const layers = (qWidth: number, kvWidth: number, biases = 0) => 2 * (2 * 64 + 2 * 64 * qWidth + 2 * 64 * kvWidth + biases + 3 * 64 * 128);
const embedding = 1428 * 64;

describe("readHfModel", () => {
  it("counts the parameters the decoder reads, a tied output projection once, with their dtype and bytes", async () => {
    const llama = await readHfModel(modelFolder("llama"));
    expect(llama.parameters).toBe(embedding + layers(64, 32) + 64);
    expect(llama).toMatchObject({ dtypes: ["F32"], weightBytes: 4 * llama.parameters });
    const mistral = await readHfModel(modelFolder("mistral"));
    expect(mistral.parameters).toBe(2 * embedding + layers(64, 16) + 64);
    expect(mistral).toMatchObject({ dtypes: ["F16"], weightBytes: 2 * mistral.parameters });
    expect((await readHfModel(modelFolder("qwen2"))).parameters).toBe(embedding + layers(64, 32, 64 + 2 * 32) + 64);
    expect(await readHfModel(modelFolder("gemma"))).toMatchObject({ parameters: embedding + layers(96, 24) + 64, dtypes: ["BF16"] });
  });

  it("refuses a tokenizer whose ids run past config.json's vocab_size", async () => {
    const tokenizerFolder = copyModel("llama");
    editJson(path.join(tokenizerFolder, "tokenizer.json"), (json) => {
      (json.added_tokens as Array<Record<string, unknown>>).push({ id: 1428, content: "<extra>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    });
    await expect(readHfModel(tokenizerFolder)).rejects.toThrow(
      new TokenizerLoadError(path.join(tokenizerFolder, "tokenizer.json"), "token id 1428 is outside the model's vocabulary (config.json's vocab_size is 1428)"),
    );
  });

  it("reads a vocabulary of Qwen2's and Gemma's size (150k-256k tokens) without running out of stack", async () => {
    const tokenizerFolder = copyModel("llama");
    editJson(path.join(tokenizerFolder, "tokenizer.json"), (json) => {
      const added = json.added_tokens as Array<Record<string, unknown>>;
      for (let id = 1428; id < 256_000; id += 1) added.push({ id, content: `<extra_${id}>`, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false });
    });
    await expect(readHfModel(tokenizerFolder)).rejects.toThrow("token id 255999 is outside the model's vocabulary (config.json's vocab_size is 1428)");
  });

  it("passes the config's refusal through", async () => {
    await expect(readHfModel(withConfig("gemma", (config) => (config.architectures = ["Gemma3ForCausalLM"])))).rejects.toThrow(ModelConfigError);
  });
});

describe("the fixtures' PEFT adapters", () => {
  for (const family of FAMILY_NAMES)
    it(`${family}'s adapter loads as the search loads experts, with a non-zero B in every targeted module`, async () => {
      const adapter = await loadPeftAdapter(path.join(FIXTURES, family, "adapter"));
      const targets = adapter.config.target_modules as string[];
      const bs = adapter.layout.entries.filter((entry) => entry.name.endsWith(".lora_B.weight"));
      expect(bs.length).toBe(2 * targets.length);
      for (const b of bs) expect(adapter.data.subarray(b.offset, b.offset + b.size).some((value) => value !== 0)).toBe(true);
    });
});
