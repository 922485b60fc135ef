import { z } from "zod";

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

export function fillPrompt(template: string, item: { question: string; choices?: { label: string[]; text: string[] } | undefined }): string {
  const choices = item.choices ? item.choices.label.map((label, index) => `(${label}) ${item.choices!.text[index]}`).join(" ") : "";
  return template.replaceAll("{question}", item.question).replaceAll("{choices}", choices);
}

