import { z } from "zod";
import type { ChatPrompt } from "./types";

export const DEFAULT_QA_TEMPLATE = "Q: {question}\nA: ";
export const DEFAULT_CHOICE_TEMPLATE = "Q: {question}\n{choices}\nA: ";

export const promptTemplate = (fallback: string) =>
  z
    .string()
    .refine((template) => template.includes("{question}"), { message: "must contain {question}" })
    .default(fallback)
    .describe("Prompt sent to the model; {question} is replaced by the item's question");

export const maxNewTokens = (fallback: number) =>
  z.number().int().min(1).max(2048).default(fallback).describe("Most tokens generated per answer (greedy)");

/** The parameters that choose how a filled prompt reaches the model, shared by every eval type that prompts. */
export const promptFormatShape = {
  promptFormat: z
    .enum(["plain", "chat"])
    .default("plain")
    .describe("plain: the prompt as text, after the tokenizer's BOS (BWR_model's batch_generate); chat: the prompt as the user's message in the model's chat template (batch_generate_chat_template)"),
  systemMessage: z.string().default("").describe("With promptFormat chat: a system message before the user's (none when empty, as BWR_model sends)"),
};

type PromptFormatParams = { promptFormat: "plain" | "chat"; systemMessage: string };

/** A system message only exists in a chat; with plain prompts it would be silently dropped. */
export function systemMessageNeedsChat(params: PromptFormatParams, ctx: z.RefinementCtx) {
  if (params.systemMessage !== "" && params.promptFormat !== "chat") {
    ctx.addIssue({ code: "custom", path: ["systemMessage"], message: 'only a chat prompt has a system message: set promptFormat to "chat"' });
  }
}

/** The request's chat part: undefined for plain prompts. */
export function chatPromptOf(params: PromptFormatParams): ChatPrompt | undefined {
  if (params.promptFormat !== "chat") return undefined;
  return params.systemMessage === "" ? {} : { system: params.systemMessage };
}

export function fillPrompt(template: string, item: { question: string; choices?: { label: string[]; text: string[] } | undefined }): string {
  const choices = item.choices ? item.choices.label.map((label, index) => `(${label}) ${item.choices!.text[index]}`).join(" ") : "";
  return template.replaceAll("{question}", item.question).replaceAll("{choices}", choices);
}

/** The one generation most eval types ask for: the item through `promptTemplate`, in the params' prompt format. */
export function templatedGeneration(
  item: Parameters<typeof fillPrompt>[1],
  params: PromptFormatParams & { promptTemplate: string; maxNewTokens: number },
): Array<{ kind: "generate"; prompt: string; maxNewTokens: number; chat: ChatPrompt | undefined }> {
  return [{ kind: "generate", prompt: fillPrompt(params.promptTemplate, item), maxNewTokens: params.maxNewTokens, chat: chatPromptOf(params) }];
}
