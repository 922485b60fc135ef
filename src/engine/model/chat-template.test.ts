import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyModel, editJson } from "../../../tests/support/hf-fixtures";
import { loadModelText, MissingChatTemplateError, promptIds } from "../eval/lora-runner";
import { ChatTemplateError } from "./chat-template";
import { TOKENIZER_CONFIG } from "./hf-tokenizer";

/** HF's apply_chat_template(messages, tokenize=True, add_generation_prompt=True), by scripts/make_chat_references.py. */
interface ChatReference {
  model: string;
  chat_template: string | Array<{ name: string; template: string }> | null;
  chat_template_jinja: string | null;
  cases: Array<{ messages: Array<{ role: "system" | "user"; content: string }>; text?: string; ids?: number[]; error?: string }>;
}

const REFERENCES = path.resolve(import.meta.dirname, "../../../tests/fixtures/chat-templates");
const references = readdirSync(REFERENCES)
  .filter((file) => file.endsWith(".json"))
  .map((file) => ({ name: file.replace(/\.json$/, ""), ...(JSON.parse(readFileSync(path.join(REFERENCES, file), "utf8")) as ChatReference) }));

/** The reference's model folder, with its chat template put into tokenizer_config.json as the script did. */
function modelOf(reference: ChatReference): string {
  const folder = copyModel(path.basename(path.dirname(reference.model)));
  if (reference.chat_template !== null) editJson(path.join(folder, TOKENIZER_CONFIG), (config) => (config.chat_template = reference.chat_template));
  if (reference.chat_template_jinja !== null) writeFileSync(path.join(folder, "chat_template.jinja"), reference.chat_template_jinja);
  return folder;
}

/** The references' conversations are an optional system message and one user message, as the eval types send. */
function promptOf(messages: ChatReference["cases"][number]["messages"]) {
  const system = messages.find((message) => message.role === "system")?.content;
  return { prompt: messages.at(-1)!.content, chat: system === undefined ? {} : { system } };
}

describe("chat prompts", () => {
  it("has references for the qwen2 fixture's own template, Llama-3 and Gemma style templates, a named default and a chat_template.jinja", () => {
    expect(references.map((reference) => reference.name).sort()).toEqual(["gemma-style", "jinja-file", "llama3-style", "named-default", "qwen2-own"]);
  });

  for (const reference of references)
    it(`tokenizes ${reference.name} prompts to HF's apply_chat_template ids`, () => {
      const folder = modelOf(reference);
      const text = loadModelText(folder);
      for (const { messages, ids, text: rendered, error } of reference.cases) {
        const { prompt, chat } = promptOf(messages);
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
