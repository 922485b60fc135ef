import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadModelText, OnnxLoraRunner } from "../../src/engine/eval/lora-runner";
import { importModel } from "../../src/engine/model/import";
import { chatPromptOfCase, chatReferences, modelOfChatReference } from "../support/chat-references";

/*
 * Chat prompts through the whole evaluator path: the model's template, the tokenizer, the imported decoder and greedy
 * generation give HF transformers' greedy answers (tests/fixtures/chat-templates), all prompts of a model in one
 * left-padded batch. The answers are compared as HF's tokens up to the first EOS, decoded by our tokenizer: on these
 * random models they are byte soup, whose invalid UTF-8 the two tokenizer libraries replace a little differently.
 */

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "chat-answers-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe("answers to chat prompts", () => {
  it.each(chatReferences.map((reference) => [reference.name, reference] as const))("%s: HF's greedy answers", async (_, reference) => {
    const folder = modelOfChatReference(reference);
    const { runnerModel } = await importModel(folder, { cacheRoot: cache, loraTargets: ["q_proj"] });
    const runner = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" });
    const answered = reference.cases.filter((referenceCase) => referenceCase.greedy);
    const requests = answered.map(({ messages }) => ({ kind: "generate" as const, ...chatPromptOfCase(messages), maxNewTokens: 8, adapter: 0 }));
    const outputs = await runner.run(requests, [{ scale: 0, modules: new Map() }]);
    const { tokenizer, eosIds } = loadModelText(folder);
    const expected = answered.map(({ greedy }) => {
      const end = greedy!.tokens.findIndex((token) => eosIds.has(token));
      const answer = end < 0 ? greedy!.tokens : greedy!.tokens.slice(0, end);
      return { text: answer.length > 0 ? tokenizer.decode(answer, { skip_special_tokens: true }) : "", tokens: answer.length };
    });
    expect(outputs.map((output) => output.kind === "generate" && { text: output.text, tokens: output.tokens })).toEqual(expected);
  });
});
