import fs, { readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { copyModel, editJson, FAMILY_NAMES, modelFolder, readReference } from "../../../tests/support/hf-fixtures";
import { loadTokenizer, TokenizerLoadError } from "./hf-tokenizer";

function loadError(folder: string): string {
  try {
    loadTokenizer(folder);
  } catch (error) {
    expect(error).toBeInstanceOf(TokenizerLoadError);
    expect((error as Error).message).not.toContain("\n");
    return (error as Error).message.replace(folder, "<model>");
  }
  throw new Error(`${folder}: expected a TokenizerLoadError`);
}

describe("loadTokenizer", () => {
  for (const family of FAMILY_NAMES)
    it(`encodes ${family}'s cases as the Python tokenizer did (special tokens included)`, () => {
      const { tokenizer } = loadTokenizer(modelFolder(family));
      const cases = readReference(family).tokenizer_cases;
      expect(cases.length).toBeGreaterThan(3);
      expect(cases.map(({ text }) => tokenizer.encode(text).ids)).toEqual(cases.map(({ ids }) => ids));
    });

  it("encodes the prompts of the reference outputs to their stored ids", () => {
    for (const family of FAMILY_NAMES) {
      const { tokenizer } = loadTokenizer(modelFolder(family));
      for (const prompt of readReference(family).prompts) expect(tokenizer.encode(prompt.text).ids).toEqual(prompt.ids);
    }
  });

  it("reads chat_template from tokenizer_config.json, or null where there is none", () => {
    const qwen2Config = JSON.parse(readFileSync(path.join(modelFolder("qwen2"), "tokenizer_config.json"), "utf8")) as { chat_template: string };
    expect(loadTokenizer(modelFolder("qwen2")).chatTemplate?.source).toBe(qwen2Config.chat_template);
    expect(qwen2Config.chat_template).toContain("add_generation_prompt");
    expect(loadTokenizer(modelFolder("llama")).chatTemplate).toBeNull();
  });

  it("reads the default of a template list, and transformers' chat_template.jinja before tokenizer_config.json's, as transformers 5 does", () => {
    const folder = copyModel("llama");
    editJson(path.join(folder, "tokenizer_config.json"), (config) => {
      config.chat_template = [
        { name: "tool_use", template: "tools" },
        { name: "default", template: "plain" },
      ];
    });
    expect(loadTokenizer(folder).chatTemplate?.source).toBe("plain");
    writeFileSync(path.join(folder, "chat_template.jinja"), "{{ messages[0]['content'] }}");
    expect(loadTokenizer(folder).chatTemplate?.source).toBe("{{ messages[0]['content'] }}");
  });

  it("loads without tokenizer_config.json", () => {
    const folder = copyModel("mistral");
    rmSync(path.join(folder, "tokenizer_config.json"));
    expect(loadTokenizer(folder).tokenizer.encode("Q: 1").ids.length).toBeGreaterThan(1);
  });
});

describe("loadTokenizer errors name tokenizer.json (or tokenizer_config.json) in one line", () => {
  it("names a missing or unparsable tokenizer.json", () => {
    const folder = copyModel("gemma");
    writeFileSync(path.join(folder, "tokenizer.json"), "{ broken");
    expect(loadError(folder)).toMatch(/^<model>\/tokenizer\.json: not valid JSON \(/);
    rmSync(path.join(folder, "tokenizer.json"));
    expect(loadError(folder)).toBe("<model>/tokenizer.json: cannot read it (ENOENT)");
  });

  it("names a tokenizer.json that @huggingface/tokenizers refuses", () => {
    const folder = copyModel("gemma");
    editJson(path.join(folder, "tokenizer.json"), (json) => ((json.model as Record<string, unknown>).type = "SentencePieceV9"));
    expect(loadError(folder)).toBe('<model>/tokenizer.json: model.type: "SentencePieceV9" is not supported by @huggingface/tokenizers (supported: BPE, Unigram, WordPiece)');
    editJson(path.join(folder, "tokenizer.json"), (json) => ((json.model as Record<string, unknown>).type = "BPE"));
    editJson(path.join(folder, "tokenizer.json"), (json) => ((json.pre_tokenizer as Record<string, unknown>).type = "Zzz"));
    expect(loadError(folder)).toBe("<model>/tokenizer.json: @huggingface/tokenizers cannot load it (Unknown PreTokenizer type: Zzz)");
    editJson(path.join(folder, "tokenizer.json"), (json) => delete json.model);
    expect(loadError(folder)).toBe('<model>/tokenizer.json: @huggingface/tokenizers cannot load it (Tokenizer must contain a "model" property)');
  });

  it("names a chat_template that is not a template", () => {
    const folder = copyModel("qwen2");
    editJson(path.join(folder, "tokenizer_config.json"), (config) => (config.chat_template = 42));
    expect(loadError(folder)).toBe("<model>/tokenizer_config.json: chat_template: expected a Jinja template string");
  });
});

describe("decoding with many added tokens", () => {
  it("gives the library's own text, added tokens and byte-level pieces alike", () => {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), "added-tokens-"));
    const json = JSON.parse(fs.readFileSync("initial_experts/base/tokenizer.json", "utf8")) as { added_tokens: Array<Record<string, unknown>>; model: { vocab: Record<string, number> } };
    const first = Object.keys(json.model.vocab).length;
    json.added_tokens.push(...Array.from({ length: 2000 }, (_, i) => ({ id: first + i, content: `<extra_${i}>`, single_word: false, lstrip: false, rstrip: false, normalized: true, special: false })));
    fs.writeFileSync(path.join(folder, "tokenizer.json"), JSON.stringify(json));
    const ours = loadTokenizer(folder).tokenizer;
    const library = new Tokenizer(json, {});
    const ids = [[...ours.encode("Q: 12 + 30 = ?\nA: 42").ids, first + 5, 40, 41, first + 1999, 70], [first, first + 1], ours.encode("日本語も").ids];
    for (const sequence of ids) expect(ours.decode(sequence, { skip_special_tokens: true })).toBe(library.decode(sequence, { skip_special_tokens: true }));
    expect(ours.decode([40, first + 7, 41])).toContain("<extra_7>");
    fs.rmSync(folder, { recursive: true, force: true });
  });
});
