import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DatasetError } from "./datasets";
import { evaluateCandidates, prepareTask, type ModelRunner } from "./evaluator";
import type { ModelOutput } from "./types";

/** Files exactly as BWR_model's data/eval holds them, one per item format it reads. */
const SAMPLES = path.resolve(import.meta.dirname, "../../../data/eval/bwr-model-format");
const sample = (name: string) => path.join(SAMPLES, `${name}.json`);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datasets-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function writeDataset(content: unknown): string {
  const file = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

/** Answers each prompt with the answer `answerOf` gives for it. */
const runnerAnswering = (answerOf: (prompt: string) => string): ModelRunner<string> => ({
  run: async (requests) => requests.map((request): ModelOutput => ({ kind: "generate", text: answerOf(request.kind === "generate" ? request.prompt : request.context), tokens: 3 })),
});

describe("BWR_model's data files, read as they are", () => {
  it("has a sample for each of BWR_model's item formats", () => {
    expect(fs.readdirSync(SAMPLES).sort()).toEqual(["exact_match.json", "external_api.json", "gsm8k.json", "multiple_choice.json"]);
  });

  it("multiple_choice: options keyed by their labels ({A: text, ...}) beside an icl_prompt", async () => {
    const task = prepareTask({ evalType: "multiple_choice", dataset: sample("multiple_choice") });
    if (task.kind !== "single") throw new Error("expected one task");
    expect(task.dataset.dev[0]).toEqual({ question: "Which of these is a vegetable?", choices: { label: ["A", "B", "C", "D"], text: ["rabbit", "foot", "onion", "plum"] }, answer: "C" });
    expect(task.evalType.requests(task.dataset.dev[0], task.params)[0]).toMatchObject({ prompt: "Q: Which of these is a vegetable?\n(A) rabbit (B) foot (C) onion (D) plum\nA: " });
    const gold = new Map(task.dataset.dev.map((item) => [(item as { question: string }).question, (item as { answer: string }).answer]));
    const sent: string[] = [];
    const [evaluation] = await evaluateCandidates(runnerAnswering((prompt) => (sent.push(prompt), `The answer is ${gold.get(/Q: (.*)\n/.exec(prompt)![1]!)}`)), task, "dev", ["any"]);
    expect(evaluation!.utility).toBe(1);
    // BWR_model puts the file's in-context example before every prompt.
    expect(task.dataset.iclPrompt).toBe("Question: Which of these is a fruit?\nA: carrot\nB: apple\nC: stone\nD: chair\nThe answer is B");
    expect(sent[0]).toBe(`${task.dataset.iclPrompt}\nQ: Which of these is a vegetable?\n(A) rabbit (B) foot (C) onion (D) plum\nA: `);
    expect(sent.every((prompt) => prompt.startsWith(`${task.dataset.iclPrompt}\n`))).toBe(true);
  });

  it("exact_match: question and answer, for every eval type that grades answers", () => {
    for (const evalType of ["exact_match", "exact_match_language", "length_aware"]) {
      const task = prepareTask({ evalType, dataset: sample("exact_match") });
      expect(task.kind === "single" && [task.dataset.dev.length, task.dataset.test.length]).toEqual([3, 2]);
    }
  });

  it('exact_match on GSM8K-style answers: the gold is what follows "####"', async () => {
    const task = prepareTask({ evalType: "exact_match", dataset: sample("gsm8k") });
    if (task.kind !== "single") throw new Error("expected one task");
    expect(task.dataset.dev.map((item) => (item as { answer: string }).answer)).toEqual(["72", "10", "165"]);
    expect(task.dataset.test.map((item) => (item as { answer: string }).answer)).toEqual(["1,205", "12"]);
    const [evaluation] = await evaluateCandidates(runnerAnswering(() => "So the answer is 1205."), task, "test", ["any"]);
    expect(evaluation!.results.map((result) => result.correct)).toEqual([true, false]);
  });

  it("external_api: BWR_model's prompt field is the question, and the scorer gets the item as stored", () => {
    const task = prepareTask({ evalType: "external_api", dataset: sample("external_api"), params: { url: "http://127.0.0.1:9/score" } });
    if (task.kind !== "single") throw new Error("expected one task");
    const first = task.dataset.dev[0] as { question: string; prompt: string };
    expect(first.question).toBe(first.prompt);
    expect(task.evalType.requests(first, task.params)[0]).toMatchObject({ prompt: `Q: ${first.prompt}\nA: ` });
  });

  it("leaves fields and top-level keys it does not use alone, as BWR_model does", () => {
    const file = writeDataset({ dev: [{ question: "2+2?", answer: "4", id: 17, source: "hand" }], test: [{ question: "1+1?", answer: 2 }], train: [], version: 3 });
    const task = prepareTask({ evalType: "exact_match", dataset: file });
    expect(task.kind === "single" && task.dataset.dev).toEqual([{ question: "2+2?", answer: "4" }]);
  });
});

describe("a dataset file that cannot be used: one line naming the file, item and field", () => {
  it.each([
    ["a misspelt field, with the fields the item has", "exact_match", { dev: [{ qestion: "q", answer: "1" }], test: [{ question: "q", answer: "1" }] }, /: dev\[0\]\.question: missing \(.*\); the item has the fields "qestion", "answer"$/],
    ['an empty final answer after "####"', "exact_match", { dev: [{ question: "q", answer: "work\n####  " }], test: [{ question: "q", answer: "1" }] }, /: dev\[0\]\.answer: expected the final answer after "####"$/],
    ["options that are neither BWR_model's nor labels and texts", "multiple_choice", { dev: [{ question: "q", choices: ["x", "y"], answer: "A" }], test: [] }, /: dev\[0\]\.choices: expected the options as \{"A": "text", "B": "text", \.\.\.\} \(BWR_model\) or \{"label": \["A", "B", \.\.\.\], "text": \[\.\.\.\]\}/],
    ["an answer that is none of the BWR_model labels", "multiple_choice", { dev: [{ question: "q", choices: { A: "x", B: "y" }, answer: "C" }], test: [] }, /: dev\[0\]\.answer: expected one of the labels A, B, got "C"$/],
    ["an external_api item with neither question nor prompt", "external_api", { dev: [{ text: "hi" }], test: [] }, /: dev\[0\]\.question: .*"prompt", as BWR_model names it/],
  ])("%s", (_, evalType, content, message) => {
    const file = writeDataset(content);
    const params = evalType === "external_api" ? { url: "http://127.0.0.1:9/score" } : {};
    expect(() => prepareTask({ evalType, dataset: file, params })).toThrow(DatasetError);
    expect(() => prepareTask({ evalType, dataset: file, params })).toThrow(message);
  });
});
