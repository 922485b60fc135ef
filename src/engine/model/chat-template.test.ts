import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chatPromptOfCase, chatReferences as references, modelOfChatReference as modelOf } from "../../../tests/support/chat-references";
import { copyModel, editJson } from "../../../tests/support/hf-fixtures";
import { prepareTask } from "../eval/evaluator";
import { chatPromptProblem, loadModelText, MissingChatTemplateError, promptIds } from "../eval/lora-runner";
import { ChatTemplateError } from "./chat-template";
import { TOKENIZER_CONFIG } from "./hf-tokenizer";

describe("chat prompts", () => {
  it("has references for the qwen2 fixture's own template, Llama-3 and Gemma style templates, a named default and a chat_template.jinja", () => {
    expect(references.map((reference) => reference.name).sort()).toEqual(["gemma-style", "jinja-file", "llama3-style", "named-default", "qwen2-own"]);
  });

  for (const reference of references)
    it(`tokenizes ${reference.name} prompts to HF's apply_chat_template ids`, () => {
      const folder = modelOf(reference);
      const text = loadModelText(folder);
      for (const { messages, ids, text: rendered, error } of reference.cases) {
        const { prompt, chat } = chatPromptOfCase(messages);
        if (error !== undefined) {
          expect(() => promptIds(text, prompt, chat, folder)).toThrow(new ChatTemplateError(path.join(folder, TOKENIZER_CONFIG), `chat_template fails to render (${error})`));
          continue;
        }
        expect(text.chatTemplate!.render(messages)).toBe(rendered);
        expect(promptIds(text, prompt, chat, folder)).toEqual(ids);
      }
    });

  it("writes one BOS where the template writes it, where a plain prompt gets the tokenizer's", () => {
    const llama3 = references.find((reference) => reference.name === "llama3-style")!;
    const folder = modelOf(llama3);
    const text = loadModelText(folder);
    const bos = text.tokenizer.encode("<s>", { add_special_tokens: false }).ids[0];
    const chatIds = promptIds(text, "What is 2 + 3?", {}, folder);
    expect(chatIds.filter((id) => id === bos)).toHaveLength(1);
    expect(promptIds(text, "What is 2 + 3?", undefined, folder)[0]).toBe(bos);
  });

  it("gives the template the special tokens that only special_tokens_map.json names, as transformers does", () => {
    const folder = copyModel("llama");
    editJson(path.join(folder, TOKENIZER_CONFIG), (config) => {
      delete config.bos_token;
      config.chat_template = "{{ bos_token }}{% for message in messages %}{{ message['content'] }}{% endfor %}";
    });
    expect(loadModelText(folder).chatTemplate!.render([{ role: "user", content: "hi" }])).toBe("<s>hi");
  });

  it("refuses a chat prompt for a model without a chat template, naming its tokenizer_config.json", () => {
    const folder = copyModel("llama");
    expect(() => promptIds(loadModelText(folder), "Q", {}, folder)).toThrow(MissingChatTemplateError);
    expect(() => promptIds(loadModelText(folder), "Q", {}, folder)).toThrow(`${path.join(folder, TOKENIZER_CONFIG)} has no chat_template`);
  });

  it("names the template's file and the Jinja error of a template that does not parse, once a chat prompt needs it", () => {
    const folder = copyModel("mistral");
    writeFileSync(path.join(folder, "chat_template.jinja"), "{% for message in messages %}{{ message['content'] }}");
    const text = loadModelText(folder);
    expect(promptIds(text, "plain prompts still work", undefined, folder).length).toBeGreaterThan(1);
    let message = "";
    try {
      promptIds(text, "Q", {}, folder);
    } catch (error) {
      expect(error).toBeInstanceOf(ChatTemplateError);
      message = (error as Error).message;
    }
    expect(message).toMatch(new RegExp(`^${path.join(folder, "chat_template.jinja").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: chat_template does not parse \\(.+\\)$`));
    expect(message).not.toContain("\n");
  });
});

describe("chatPromptProblem: what stops a search at setup, on the eval param to fix", () => {
  const dataset = path.resolve(import.meta.dirname, "../../../data/eval/bwr-model-format/exact_match.json");
  const gemma = modelOf(references.find((reference) => reference.name === "gemma-style")!);
  const plainModel = copyModel("llama");

  it("passes plain prompts on any model, and chat prompts on a model whose template renders them", () => {
    expect(chatPromptProblem(prepareTask({ evalType: "exact_match", dataset }), loadModelText(plainModel), plainModel)).toBeNull();
    expect(chatPromptProblem(prepareTask({ evalType: "exact_match", dataset, params: { promptFormat: "chat" } }), loadModelText(gemma), gemma)).toBeNull();
  });

  it("puts a model without a template on promptFormat, and a template's refusal of the system message on systemMessage", () => {
    const chat = prepareTask({ evalType: "exact_match", dataset, params: { promptFormat: "chat", systemMessage: "Be brief." } });
    expect(chatPromptProblem(chat, loadModelText(plainModel), plainModel)).toEqual({
      param: "promptFormat",
      message: `promptFormat "chat": the model has no chat template: ${path.join(plainModel, TOKENIZER_CONFIG)} has no chat_template (nor is there a chat_template.jinja beside it); use promptFormat "plain"`,
    });
    expect(chatPromptProblem(chat, loadModelText(gemma), gemma)).toEqual({
      param: "systemMessage",
      message: `promptFormat "chat": ${path.join(gemma, TOKENIZER_CONFIG)}: chat_template fails to render (System role not supported)`,
    });
  });

  it("names a multitask component's parameter", () => {
    const tasks = [
      { evalType: "exact_match", dataset },
      { evalType: "exact_match", dataset, params: { promptFormat: "chat" } },
    ];
    expect(chatPromptProblem(prepareTask({ evalType: "multitask", params: { tasks } }), loadModelText(plainModel), plainModel)).toMatchObject({ param: "tasks.1.params.promptFormat" });
  });
});
