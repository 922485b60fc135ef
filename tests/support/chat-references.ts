// HF's chat-template references (tests/fixtures/chat-templates, by scripts/make_chat_references.py), and the fixture
// model folder each was made on.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ChatPrompt } from "../../src/engine/eval/types";
import { TOKENIZER_CONFIG } from "../../src/engine/model/hf-tokenizer";
import { copyModel, editJson } from "./hf-fixtures";

export interface ChatReferenceCase {
  messages: Array<{ role: "system" | "user"; content: string }>;
  /** apply_chat_template(..., tokenize=False / True, add_generation_prompt=True); absent where the template raised `error`. */
  text?: string;
  ids?: number[];
  error?: string;
  /** HF's 8 greedy argmax tokens after `ids` on the fixture model, and the answer's text up to its first EOS. */
  greedy?: { tokens: number[]; min_margin: number; text: string };
}

export interface ChatReference {
  name: string;
  model: string;
  chat_template: string | Array<{ name: string; template: string }> | null;
  chat_template_jinja: string | null;
  cases: ChatReferenceCase[];
}

const REFERENCES = path.resolve(import.meta.dirname, "../fixtures/chat-templates");
export const chatReferences: ChatReference[] = readdirSync(REFERENCES)
  .filter((file) => file.endsWith(".json"))
  .map((file) => ({ name: file.replace(/\.json$/, ""), ...(JSON.parse(readFileSync(path.join(REFERENCES, file), "utf8")) as Omit<ChatReference, "name">) }));

/** A copy of the reference's fixture model with its chat template put in place as the script did. */
export function modelOfChatReference(reference: ChatReference): string {
  const folder = copyModel(path.basename(path.dirname(reference.model)));
  if (reference.chat_template !== null) editJson(path.join(folder, TOKENIZER_CONFIG), (config) => (config.chat_template = reference.chat_template));
  if (reference.chat_template_jinja !== null) writeFileSync(path.join(folder, "chat_template.jinja"), reference.chat_template_jinja);
  return folder;
}

/** The references' conversations are an optional system message and one user message, as the eval types send. */
export function chatPromptOfCase(messages: ChatReferenceCase["messages"]): { prompt: string; chat: ChatPrompt } {
  const system = messages.find((message) => message.role === "system")?.content;
  return { prompt: messages.at(-1)!.content, chat: system === undefined ? {} : { system } };
}
